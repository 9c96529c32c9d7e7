package peerplugin

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	plugin "github.com/hashicorp/go-plugin"
	gl "gitlab.com/gitlab-org/api/client-go"
)

// Errors the peer answers with.
var (
	// ErrUnauthenticated: the X-Gitlab-Token header does not match the secret.
	ErrUnauthenticated = errors.New("webhook token does not match the repository's secret")
	// ErrOtherRepository: the payload is about another repository than the one asked.
	ErrOtherRepository = errors.New("webhook payload names another repository")
)

// Forge handles hooks on the plugin side.
type Forge struct{}

// Serve serves the peer forge over go-plugin net/rpc (go-plugin applies
// AutoMTLS when the host asks for it).
func Serve() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         map[string]plugin.Plugin{PluginName: &Plugin{Impl: &Forge{}}},
	})
}

// rpcServer decodes JSON arguments and encodes JSON answers, as Woodpecker's
// addon RPCServer does.
type rpcServer struct{ impl *Forge }

// Hook is the net/rpc method: JSON HookRequest in, JSON Result out.
func (s *rpcServer) Hook(args []byte, resp *[]byte) error {
	var a HookRequest
	if err := json.Unmarshal(args, &a); err != nil {
		return fmt.Errorf("decode hook request: %w", err)
	}
	req, err := http.NewRequest(a.Method, a.URL, bytes.NewReader(a.Body))
	if err != nil {
		return fmt.Errorf("rebuild hook request: %w", err)
	}
	req.Header = a.Header
	res, err := s.impl.Hook(req, a.Secret, a.RepositoryID)
	if err != nil {
		return err
	}
	*resp, err = json.Marshal(res)
	return err
}

// Hook verifies and normalises one delivery.
func (f *Forge) Hook(req *http.Request, secret, repositoryID string) (*Result, error) {
	if subtle.ConstantTimeCompare([]byte(gl.HookEventToken(req)), []byte(secret)) != 1 {
		return nil, ErrUnauthenticated
	}
	payload, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("read hook body: %w", err)
	}
	kind := gl.HookEventType(req)
	res := &Result{DeliveryID: deliveryID(req.Header), EventName: string(kind)}
	event, err := gl.ParseWebhook(kind, payload)
	if err != nil {
		return nil, fmt.Errorf("parse %s payload: %w", kind, err)
	}
	push, ok := event.(*gl.PushEvent)
	if !ok {
		res.IgnoredReason = string(kind) + " events are not normalised by the peer"
		return res, nil
	}
	if strconv.FormatInt(push.ProjectID, 10) != repositoryID {
		return nil, ErrOtherRepository
	}
	res.Events = []Event{normalisePush(push)}
	return res, nil
}

// deliveryID is Idempotency-Key, else X-Gitlab-Event-UUID.
func deliveryID(h http.Header) string {
	if v := h.Get("Idempotency-Key"); v != "" {
		return v
	}
	return h.Get("X-Gitlab-Event-UUID")
}

const zeroSHA = "0000000000000000000000000000000000000000"

func normalisePush(e *gl.PushEvent) Event {
	p := &Push{
		Ref:         e.Ref,
		Branch:      strings.TrimPrefix(e.Ref, "refs/heads/"),
		Before:      e.Before,
		After:       e.After,
		CheckoutSHA: e.CheckoutSHA,
		Created:     e.Before == zeroSHA,
		Deleted:     e.After == zeroSHA,
		CommitCount: e.TotalCommitsCount,
		Pusher:      Person{Name: e.UserName, Email: e.UserEmail, Username: e.UserUsername},
		Commits:     make([]Commit, 0, len(e.Commits)),
	}
	for _, c := range e.Commits {
		var ts int64
		if c.Timestamp != nil {
			ts = c.Timestamp.Unix()
		}
		p.Commits = append(p.Commits, Commit{
			SHA: c.ID, Message: c.Message, Title: c.Title, Timestamp: ts, URL: c.URL,
			Author: Person{Name: c.Author.Name, Email: c.Author.Email},
		})
		if c.ID == e.CheckoutSHA {
			p.SkipCI = skipCI(c.Message)
		}
	}
	return Event{
		Kind:                 "push",
		RepositoryExternalID: strconv.FormatInt(e.ProjectID, 10),
		RepositoryFullName:   e.Project.PathWithNamespace,
		CloneURL:             e.Project.GitHTTPURL,
		WebURL:               e.Project.WebURL,
		Push:                 p,
	}
}

func skipCI(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "[skip ci]") || strings.Contains(m, "[ci skip]")
}
