package gitlabsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

const (
	// webhookTimeout is GitLab's default webhook timeout (10 s).
	webhookTimeout = 10 * time.Second
	// maxWebhookResponse bounds the response body a delivery keeps.
	maxWebhookResponse = 1 << 20
	// maxDeliveries is how many deliveries Deliveries remembers.
	maxDeliveries = 1000
)

// WebhookSpec describes a webhook delivery for [Server.SendWebhook] and
// [Server.DeliverToHooks].
type WebhookSpec struct {
	// ProjectID is the project the event belongs to. Required unless
	// Payload is given.
	ProjectID int64
	// Kind is "push" (the default), "tag_push", "merge_request", "note" or
	// "pipeline".
	Kind string
	// URL receives the delivery (SendWebhook only; DeliverToHooks uses each
	// hook's URL).
	URL string
	// SecretToken is sent as X-Gitlab-Token when not empty.
	SecretToken string
	// SigningToken ("whsec_<base64 key>") adds the Standard Webhooks
	// headers webhook-id, webhook-timestamp and webhook-signature.
	SigningToken string
	// Payload replaces the generated body when not nil; nothing is
	// committed then.
	Payload []byte

	// Branch is the pushed branch (default: the default branch), the merge
	// request's source branch (default "feature-<iid>") or the pipeline's
	// ref.
	Branch string
	// Tag is the tag of a tag push (default "v1.0.0").
	Tag string
	// Sha names an existing commit to describe instead of making new ones.
	Sha string
	// Before overrides "before" of a push described by Sha.
	Before string
	// Commits is how many commits a push (or a merge request opening or
	// update) makes in the real repository; default 1. A push lists the
	// newest 20 and reports the real count in total_commits_count.
	Commits int
	// SkipCI puts "[skip ci]" into the new commits' messages.
	SkipCI bool
	// CreateBranch makes the push a branch creation (before is forty
	// zeros); with Commits 0 the new branch points at the default branch.
	CreateBranch bool
	// Delete makes the push or tag push a deletion (after is forty zeros,
	// checkout_sha null, no commits).
	Delete bool
	// Action is the merge request action ("open" by default, "update",
	// "close", "reopen", "merge", "approved", ...) or the pipeline status
	// ("success" by default). An "update" with Commits > 0 pushes new
	// commits (oldrev set); with Commits 0 it is a labels-only update.
	Action string
	// MergeRequestIID continues an existing merge request of the simulator
	// (0 starts a new one).
	MergeRequestIID int64
	// Fork makes the merge request come from a fork (another source
	// project); its commits live only in refs/merge-requests/<iid>/head.
	Fork bool
	// UserID is who caused the event (default: the project's creator).
	UserID int64
	// Headers are added to the request; they replace GitLab's headers of
	// the same name, and an empty value removes one.
	Headers map[string]string
	// Timestamp is the event time and webhook-timestamp (default: the
	// simulator's clock at sending).
	Timestamp time.Time
	// SkipTLSVerify turns certificate checks off (a hook's
	// enable_ssl_verification=false).
	SkipTLSVerify bool
	// HTTPClient sends the request instead of the simulator's own client
	// (10 s timeout, redirects not followed).
	HTTPClient *http.Client
}

// WebhookResult is what a delivery sent and got back.
type WebhookResult struct {
	// URL is where the delivery went.
	URL string
	// HookID is the project hook delivered to (0 for SendWebhook).
	HookID int64
	// Status is the receiver's status code (0 when no answer came).
	Status int
	// Body is the receiver's response body (up to 1 MiB).
	Body []byte
	// Headers are the receiver's response headers.
	Headers http.Header
	// RequestHeaders are the headers that were sent.
	RequestHeaders http.Header
	// Payload is the body that was sent.
	Payload []byte
	// DeliveryID identifies the delivery across retries; it equals
	// IdempotencyKey (and webhook-id when signed).
	DeliveryID string
	// IdempotencyKey is the Idempotency-Key header.
	IdempotencyKey string
	// EventUUID is X-Gitlab-Event-UUID.
	EventUUID string
	// WebhookUUID is X-Gitlab-Webhook-UUID.
	WebhookUUID string
	// Duration is how long the delivery took.
	Duration time.Duration

	d delivery
}

// delivery is everything needed to send (and resend) one request.
type delivery struct {
	url         string
	hookID      int64
	body        []byte
	event       string
	secret      string
	signing     string
	idem        string
	eventUUID   string
	webhookUUID string
	headers     map[string]string // override
	custom      map[string]string // hook custom headers: never override
	timestamp   time.Time
	skipTLS     bool
	client      *http.Client
}

// NewSigningToken mints a webhook signing token, "whsec_" followed by 32
// random bytes in base64, as GitLab shows one.
func NewSigningToken() string {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("gitlabsim: crypto/rand: " + err.Error())
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// signature computes the Standard Webhooks signature "v1,<base64 HMAC>".
func signature(signingToken, id string, timestamp int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(signingToken, "whsec_"))
	if err != nil || !strings.HasPrefix(signingToken, "whsec_") {
		return "", errors.New("signing token is not whsec_<base64>")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

func (spec WebhookSpec) kind() string {
	if spec.Kind == "" {
		return "push"
	}
	return spec.Kind
}

// SendWebhook builds a GitLab-shaped event for the project (from the
// embedded fixtures, with real commits in the project's repository) and
// POSTs it to spec.URL with GitLab's headers: Content-Type, User-Agent
// GitLab/<version>, X-Gitlab-Event, X-Gitlab-Token (when a secret is set),
// X-Gitlab-Event-UUID, X-Gitlab-Webhook-UUID, X-Gitlab-Instance and
// Idempotency-Key, plus the Standard Webhooks signature headers when a
// signing token is set. A receiver that answers (any status) is not an
// error; a transport failure returns the result and the error.
func (s *Server) SendWebhook(ctx context.Context, spec WebhookSpec) (*WebhookResult, error) {
	spec.Kind = spec.kind()
	event, ok := eventHeaders[spec.Kind]
	if !ok {
		return nil, fmt.Errorf("send webhook: unknown kind %q", spec.Kind)
	}
	if spec.URL == "" {
		return nil, errors.New("send webhook: no URL")
	}
	body := spec.Payload
	if body == nil {
		var err error
		if body, err = s.buildPayload(ctx, spec); err != nil {
			return nil, fmt.Errorf("send webhook: build %s payload of project %d: %w", spec.Kind, spec.ProjectID, err)
		}
	}
	return s.deliver(ctx, delivery{
		url:         spec.URL,
		body:        body,
		event:       event,
		secret:      spec.SecretToken,
		signing:     spec.SigningToken,
		idem:        uuid.NewString(),
		eventUUID:   uuid.NewString(),
		webhookUUID: uuid.NewString(),
		headers:     maps.Clone(spec.Headers),
		timestamp:   spec.Timestamp,
		skipTLS:     spec.SkipTLSVerify,
		client:      spec.HTTPClient,
	})
}

// Resend sends a delivery again, as GitLab's "Resend request" does: the
// same body, Idempotency-Key, X-Gitlab-Event-UUID and X-Gitlab-Webhook-UUID,
// with a fresh webhook-timestamp (and signature) unless the original had a
// fixed Timestamp.
func (s *Server) Resend(ctx context.Context, res *WebhookResult) (*WebhookResult, error) {
	if res == nil || res.d.url == "" {
		return nil, errors.New("resend webhook: not a delivery of this simulator")
	}
	return s.deliver(ctx, res.d)
}

// TriggerPush commits a change to branch in the project's real repository
// (creating the branch from the default branch if needed) and delivers the
// push event to every project hook subscribed to push events whose branch
// filter matches, with the hook's secret token and signing token.
func (s *Server) TriggerPush(ctx context.Context, projectID int64, branch string) ([]*WebhookResult, error) {
	return s.DeliverToHooks(ctx, WebhookSpec{ProjectID: projectID, Kind: "push", Branch: branch})
}

// DeliverToHooks builds one event like SendWebhook and delivers it to every
// project hook subscribed to its kind (push events also honour the branch
// filter). All deliveries of the event share X-Gitlab-Event-UUID; each has
// its own Idempotency-Key and X-Gitlab-Webhook-UUID. The first transport
// error is returned after every hook was tried.
func (s *Server) DeliverToHooks(ctx context.Context, spec WebhookSpec) ([]*WebhookResult, error) {
	spec.Kind = spec.kind()
	event, ok := eventHeaders[spec.Kind]
	if !ok {
		return nil, fmt.Errorf("deliver to hooks: unknown kind %q", spec.Kind)
	}
	body := spec.Payload
	if body == nil {
		var err error
		if body, err = s.buildPayload(ctx, spec); err != nil {
			return nil, fmt.Errorf("deliver to hooks: build %s payload of project %d: %w", spec.Kind, spec.ProjectID, err)
		}
	}
	branch := spec.Branch
	if branch == "" {
		if p, ok := s.Project(spec.ProjectID); ok {
			branch = p.DefaultBranch
		}
	}
	eventUUID := uuid.NewString()
	var results []*WebhookResult
	var firstErr error
	for _, h := range s.Hooks(spec.ProjectID) {
		if !hookWants(h, spec.Kind, branch) {
			continue
		}
		res, err := s.deliver(ctx, delivery{
			url:         h.URL,
			hookID:      h.ID,
			body:        body,
			event:       event,
			secret:      h.Token,
			signing:     h.SigningToken,
			idem:        uuid.NewString(),
			eventUUID:   eventUUID,
			webhookUUID: uuid.NewString(),
			headers:     maps.Clone(spec.Headers),
			custom:      maps.Clone(h.CustomHeaders),
			timestamp:   spec.Timestamp,
			skipTLS:     !h.EnableSSLVerification,
			client:      spec.HTTPClient,
		})
		if res != nil {
			results = append(results, res)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return results, firstErr
}

func hookWants(h ProjectHook, kind, branch string) bool {
	switch kind {
	case "push":
		return h.PushEvents && branchFilterMatches(h, branch)
	case "tag_push":
		return h.TagPushEvents
	case "merge_request":
		return h.MergeRequestsEvents
	case "note":
		return h.NoteEvents
	case "pipeline":
		return h.PipelineEvents
	}
	return false
}

// Deliveries returns the most recent deliveries (up to 1,000), oldest first.
func (s *Server) Deliveries() []WebhookResult {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]WebhookResult, 0, len(s.state.deliveries))
	for _, d := range s.state.deliveries {
		out = append(out, *d)
	}
	return out
}

// deliver sends one request and records the result.
func (s *Server) deliver(ctx context.Context, d delivery) (*WebhookResult, error) {
	ts := d.timestamp
	if ts.IsZero() {
		ts = s.Now()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return nil, fmt.Errorf("webhook to %s: %w", d.url, err)
	}
	h := req.Header
	for k, v := range d.custom {
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitLab/"+s.version)
	h.Set("X-Gitlab-Event", d.event)
	h.Set("X-Gitlab-Webhook-UUID", d.webhookUUID)
	h.Set("X-Gitlab-Instance", s.BaseURL())
	h.Set("X-Gitlab-Event-UUID", d.eventUUID)
	h.Set("Idempotency-Key", d.idem)
	if d.secret != "" {
		h.Set("X-Gitlab-Token", d.secret)
	}
	if d.signing != "" {
		sig, err := signature(d.signing, d.idem, ts.Unix(), d.body)
		if err != nil {
			return nil, fmt.Errorf("webhook to %s: %w", d.url, err)
		}
		h.Set("webhook-id", d.idem)
		h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		h.Set("webhook-signature", sig)
	}
	for k, v := range d.headers {
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
	}

	client := d.client
	if client == nil {
		transport := &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: d.skipTLS}, //nolint:gosec // a hook's enable_ssl_verification=false
		}
		defer transport.CloseIdleConnections()
		client = &http.Client{
			Timeout:   webhookTimeout,
			Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	res := &WebhookResult{
		URL:            d.url,
		HookID:         d.hookID,
		RequestHeaders: h.Clone(),
		Payload:        d.body,
		DeliveryID:     d.idem,
		IdempotencyKey: d.idem,
		EventUUID:      d.eventUUID,
		WebhookUUID:    d.webhookUUID,
		d:              d,
	}
	start := time.Now()
	resp, err := client.Do(req)
	res.Duration = time.Since(start)
	if err == nil {
		res.Status = resp.StatusCode
		res.Headers = resp.Header
		res.Body, err = io.ReadAll(io.LimitReader(resp.Body, maxWebhookResponse))
		_ = resp.Body.Close()
	}
	s.mu.Lock()
	if len(s.state.deliveries) >= maxDeliveries {
		s.state.deliveries = append(s.state.deliveries[:0:0], s.state.deliveries[maxDeliveries/2:]...)
	}
	s.state.deliveries = append(s.state.deliveries, res)
	s.mu.Unlock()
	if err != nil {
		s.log.Warn("webhook delivery failed", "event", d.event, "url", redactURL(d.url), "error", err)
		return res, fmt.Errorf("webhook to %s: %w", redactURL(d.url), err)
	}
	s.log.Info("webhook delivered", "event", d.event, "url", redactURL(d.url), "status", res.Status,
		"idempotency_key", d.idem, "duration", res.Duration)
	return res, nil
}

// redactURL drops user info and query from a URL for logs.
func redactURL(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if scheme, rest, ok := strings.Cut(raw, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 && at < strings.IndexByte(rest+"/", '/') {
			rest = rest[at+1:]
		}
		return scheme + "://" + rest
	}
	return raw
}
