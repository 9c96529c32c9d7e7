// Command oore-scm-broken is a TEST DOUBLE: a provider plugin that breaks
// the scm.v1 contract on purpose, for the conformance suite's own tests
// (broken_test.go), which assert that exactly the cases that should catch
// each fault fail. It talks to the tiny fake SCM those tests serve over
// HTTP: GET /user and GET /repos?page=N&per_page=M, with a bearer token.
//
// Its faults, each marked BUG below:
//   - ValidateConnection answers a missing host with a plain error (Unknown),
//     puts a rejected token in its error message and logs the token;
//   - CheckCredentials is announced but not implemented;
//   - SetCommitStatus answers although commit_status is not announced;
//   - ListRepositories repeats its first repository, keeps 16 KiB per
//     repository it ever listed, and calls the SCM without the call's
//     context (a cancelled listing keeps paging);
//   - VerifyWebhook never compares the secret or the repository, and panics
//     on a body that starts with "[[";
//   - it serves without watching its host, so it outlives a killed host.
//
// Everything else it does correctly, so the other cases pass.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/pluginkit"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

type provider struct {
	scmv1.UnimplementedProviderServiceServer
	log  hclog.Logger
	http *http.Client

	mu      sync.Mutex
	ballast [][]byte // BUG: grows with every repository listed, never freed
}

func (p *provider) GetProviderInfo(context.Context, *scmv1.GetProviderInfoRequest) (*scmv1.GetProviderInfoResponse, error) {
	return &scmv1.GetProviderInfoResponse{Info: &scmv1.ProviderInfo{
		Name: "broken", DisplayName: "Broken provider (conformance test double)", Version: "0.0.1",
		ProtocolVersions: []uint32{1},
		AuthModes:        []*scmv1.AuthModeInfo{{Mode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, Label: "Token"}},
		EventKinds:       []scmv1.EventKind{scmv1.EventKind_EVENT_KIND_PUSH},
		Capabilities: []scmv1.Capability{
			scmv1.Capability_CAPABILITY_VALIDATE_CONNECTION,
			scmv1.Capability_CAPABILITY_CHECK_CREDENTIALS, // BUG: announced, not implemented
			scmv1.Capability_CAPABILITY_LIST_REPOSITORIES,
			scmv1.Capability_CAPABILITY_WEBHOOKS,
		},
	}}, nil
}

func invalid(field, why string) error {
	return scmerr.InvalidArgument(scmerr.FieldViolation{Field: field, Description: why})
}

// origin checks a connection (an http(s) origin and a token of sane size)
// and returns the origin and the token.
func origin(conn *scmv1.Connection) (string, string, error) {
	if conn == nil {
		return "", "", invalid("connection", "is required")
	}
	if len(conn.GetHostUrl()) > 2048 {
		return "", "", invalid("connection.host_url", "is too long")
	}
	u, err := url.Parse(conn.GetHostUrl())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", "", invalid("connection.host_url", "must be an http(s) origin")
	}
	tok := conn.GetCredentials().GetAccessToken()
	if tok == "" || len(tok) > 4096 {
		return "", "", invalid("connection.credentials.access_token", "is required and at most 4096 characters")
	}
	return u.Scheme + "://" + u.Host, tok, nil
}

// get calls the fake SCM and decodes its JSON answer; 401 is errRejected.
func (p *provider) get(ctx context.Context, rawURL, token string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return invalid("connection.host_url", "cannot be requested")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := p.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return scmerr.New(codes.DeadlineExceeded, scmerr.ReasonUnreachable, "the call ended")
		}
		return scmerr.New(codes.Unavailable, scmerr.ReasonUnreachable, "the SCM cannot be reached")
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return errRejected
	}
	if resp.StatusCode != http.StatusOK {
		return scmerr.Newf(codes.Unavailable, scmerr.ReasonUnreachable, "the SCM answered %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		return scmerr.New(codes.Unavailable, scmerr.ReasonProviderAPIError, "the SCM answered something unreadable")
	}
	return nil
}

var errRejected = errors.New("rejected")

func (p *provider) ValidateConnection(ctx context.Context, req *scmv1.ValidateConnectionRequest) (*scmv1.ValidateConnectionResponse, error) {
	if req.GetConnection().GetHostUrl() == "" {
		return nil, errors.New("connection has no host") // BUG: Unknown, not InvalidArgument
	}
	host, token, err := origin(req.GetConnection())
	if err != nil {
		return nil, err
	}
	p.log.Info("validating connection", "host", host, "token", token) // BUG: a secret in the log
	var user struct{ ID, Username string }
	switch err := p.get(ctx, host+"/user", token, &user); {
	case errors.Is(err, errRejected):
		return nil, scmerr.Newf(codes.Unauthenticated, scmerr.ReasonAuthFailed, "the SCM rejected token %s", token) // BUG: leaks the token
	case err != nil:
		return nil, err
	}
	return &scmv1.ValidateConnectionResponse{HostUrl: host, Account: &scmv1.Account{Id: user.ID, Username: user.Username}}, nil
}

type repoPage struct {
	Repos []struct{ ID, FullName string }
	Next  int
}

func (p *provider) ListRepositories(req *scmv1.ListRepositoriesRequest, stream grpc.ServerStreamingServer[scmv1.ListRepositoriesResponse]) error {
	host, token, err := origin(req.GetConnection())
	if err != nil {
		return err
	}
	if len(req.GetSearch()) > 256 {
		return invalid("search", "is at most 256 characters")
	}
	size := req.GetPageSize()
	if size == 0 || size > 100 {
		size = 100
	}
	sendFailed := false
	for page := 1; page > 0; {
		var pg repoPage
		// BUG: not the stream's context, so a cancelled listing keeps paging.
		err := p.get(context.Background(), fmt.Sprintf("%s/repos?page=%d&per_page=%d", host, page, size), token, &pg)
		if errors.Is(err, errRejected) {
			return scmerr.New(codes.Unauthenticated, scmerr.ReasonAuthFailed, "the SCM rejected the token")
		}
		if err != nil {
			return err
		}
		msg := &scmv1.ListRepositoriesResponse{}
		for _, r := range pg.Repos {
			msg.Repositories = append(msg.Repositories, &scmv1.Repository{ExternalId: r.ID, FullName: r.FullName, Name: r.FullName, CloneUrl: host + "/" + r.FullName + ".git"})
			p.mu.Lock()
			p.ballast = append(p.ballast, bytes.Repeat([]byte{1}, 16<<10))
			p.mu.Unlock()
		}
		if page == 1 && len(msg.Repositories) > 0 {
			msg.Repositories = append(msg.Repositories, msg.Repositories[0]) // BUG: a duplicate
		}
		if !sendFailed && stream.Send(msg) != nil {
			sendFailed = true // BUG: goes on paging for nobody
		}
		page = pg.Next
	}
	if sendFailed {
		return stream.Context().Err()
	}
	return nil
}

type hookBody struct{ Repository, Event, Delivery string }

func readHook(d *scmv1.WebhookDelivery) (hookBody, error) {
	var b hookBody
	if d == nil || len(d.GetBody()) == 0 {
		return b, invalid("delivery", "is required")
	}
	if err := json.Unmarshal(d.GetBody(), &b); err != nil || b.Repository == "" {
		return b, scmerr.New(codes.InvalidArgument, scmerr.ReasonPayloadInvalid, "the payload does not parse", scmerr.WithField("delivery.body", "is not the SCM's JSON"))
	}
	return b, nil
}

func kind(event string) scmv1.EventKind {
	if event == "push" {
		return scmv1.EventKind_EVENT_KIND_PUSH
	}
	return scmv1.EventKind_EVENT_KIND_OTHER
}

func (p *provider) IdentifyWebhook(_ context.Context, req *scmv1.IdentifyWebhookRequest) (*scmv1.IdentifyWebhookResponse, error) {
	b, err := readHook(req.GetDelivery())
	if err != nil {
		return nil, err
	}
	return &scmv1.IdentifyWebhookResponse{RepositoryExternalId: b.Repository, DeliveryId: b.Delivery, EventKind: kind(b.Event), EventName: b.Event,
		HasToken: req.GetDelivery().GetHeaders()["x-broken-token"] != ""}, nil
}

func (p *provider) VerifyWebhook(_ context.Context, req *scmv1.VerifyWebhookRequest) (*scmv1.VerifyWebhookResponse, error) {
	if bytes.HasPrefix(req.GetDelivery().GetBody(), []byte("[[")) {
		panic("brokenprovider: nested arrays") // BUG: a panic on input
	}
	if req.GetSecret() == "" || req.GetRepositoryExternalId() == "" {
		return nil, invalid("secret", "secret and repository_external_id are required")
	}
	b, err := readHook(req.GetDelivery())
	if err != nil {
		return nil, err
	}
	// BUG: never compares the x-broken-token header with the secret, nor the
	// payload's repository with the one asked.
	resp := &scmv1.VerifyWebhookResponse{DeliveryId: b.Delivery, EventKind: kind(b.Event)}
	if b.Event != "push" {
		resp.IgnoredReason = b.Event + " events are not handled"
		return resp, nil
	}
	resp.Events = []*scmv1.Event{{Kind: scmv1.EventKind_EVENT_KIND_PUSH, RepositoryExternalId: b.Repository,
		Payload: &scmv1.Event_Push{Push: &scmv1.PushEvent{Ref: "refs/heads/main", Branch: "main"}}}}
	return resp, nil
}

// SetCommitStatus answers although commit_status is not announced. BUG.
func (p *provider) SetCommitStatus(context.Context, *scmv1.SetCommitStatusRequest) (*scmv1.SetCommitStatusResponse, error) {
	return &scmv1.SetCommitStatusResponse{StatusId: "1"}, nil
}

func main() {
	logger := hclog.New(&hclog.LoggerOptions{Name: "broken", JSONFormat: true, Level: hclog.Info})
	pluginkit.Serve(&provider{log: logger, http: &http.Client{}},
		pluginkit.WithLogger(logger), pluginkit.WithName("oore-scm-broken"),
		pluginkit.WithParentWatch(0)) // BUG: outlives a killed host
}
