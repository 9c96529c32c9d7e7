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
//   - WebhookSession (whose verify does check the token and the repository,
//     so that only its receive faults show) remembers one secret for the
//     whole process, shared by every stream, learnt from every verify with a
//     secret_ref before the check (a failed verify replaces a good secret),
//     and receive answers verified with it for any delivery, whatever
//     repository it names, without checking the delivery's token; a
//     receive of a delivery that does not parse names that secret in its
//     error;
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
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

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
			scmv1.Capability_CAPABILITY_WEBHOOK_SESSION,
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

// checkHook is the check VerifyWebhook lacks: the delivery's token is the
// secret and its payload names the repository asked. The session's verify
// uses it, so the session cases see only the session's own faults.
func checkHook(req *scmv1.VerifyWebhookRequest) error {
	if req.GetSecret() == "" || req.GetRepositoryExternalId() == "" {
		return invalid("secret", "secret and repository_external_id are required")
	}
	b, err := readHook(req.GetDelivery())
	if err != nil {
		return err
	}
	if req.GetDelivery().GetHeaders()["x-broken-token"] != req.GetSecret() {
		return scmerr.New(codes.Unauthenticated, scmerr.ReasonSignatureInvalid, "the delivery's token is not the repository's secret")
	}
	if b.Repository != req.GetRepositoryExternalId() {
		return scmerr.New(codes.PermissionDenied, scmerr.ReasonRepositoryMismatch, "the payload names another repository")
	}
	return nil
}

// learnt is what every WebhookSession remembers. BUG: one secret for the
// whole process (not per stream, not per repository).
var learnt struct {
	sync.Mutex
	secret, ref string
}

// WebhookSession answers one call at a time, in order.
func (p *provider) WebhookSession(stream grpc.BidiStreamingServer[scmv1.WebhookSessionRequest, scmv1.WebhookSessionResponse]) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		resp := &scmv1.WebhookSessionResponse{Id: req.GetId()}
		if err := p.sessionCall(stream.Context(), req, resp); err != nil {
			raw, _ := proto.Marshal(status.Convert(err).Proto())
			resp.Result = &scmv1.WebhookSessionResponse_Error{Error: raw}
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

func (p *provider) sessionCall(ctx context.Context, req *scmv1.WebhookSessionRequest, resp *scmv1.WebhookSessionResponse) error {
	switch call := req.GetCall().(type) {
	case *scmv1.WebhookSessionRequest_Identify:
		r, err := p.IdentifyWebhook(ctx, call.Identify)
		if err != nil {
			return err
		}
		resp.Result = &scmv1.WebhookSessionResponse_Identify{Identify: r}
	case *scmv1.WebhookSessionRequest_Verify:
		v := call.Verify
		if v.GetSecretRef() != "" {
			learnt.Lock()
			learnt.secret, learnt.ref = v.GetSecret(), v.GetSecretRef() // BUG: before the check
			learnt.Unlock()
		}
		if err := checkHook(v); err != nil {
			return err
		}
		r, err := p.VerifyWebhook(ctx, v)
		if err != nil {
			return err
		}
		resp.Result = &scmv1.WebhookSessionResponse_Verify{Verify: r}
	case *scmv1.WebhookSessionRequest_Receive:
		learnt.Lock()
		secret, ref := learnt.secret, learnt.ref
		learnt.Unlock()
		id, err := p.IdentifyWebhook(ctx, &scmv1.IdentifyWebhookRequest{Delivery: call.Receive.GetDelivery()})
		if err != nil && secret != "" {
			// BUG: the secret in the answer.
			return scmerr.Newf(codes.InvalidArgument, scmerr.ReasonPayloadInvalid, "the delivery does not parse, so secret %s was not tried", secret)
		}
		if err != nil {
			return err
		}
		out := &scmv1.ReceiveWebhookResponse{Identity: id}
		if secret != "" {
			// BUG: neither checkHook nor a secret for id's repository.
			v, err := p.VerifyWebhook(ctx, &scmv1.VerifyWebhookRequest{Delivery: call.Receive.GetDelivery(), Secret: secret, RepositoryExternalId: id.GetRepositoryExternalId()})
			if err == nil {
				out.Verified, out.SecretRef = v, ref
			}
		}
		resp.Result = &scmv1.WebhookSessionResponse_Receive{Receive: out}
	default:
		return invalid("call", "is required")
	}
	return nil
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
