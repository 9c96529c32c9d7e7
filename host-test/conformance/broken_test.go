package conformance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/conformance"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
)

// TestBrokenProviderFailsTheCasesThatCatchItsFaults runs the suite against
// internal/brokenprovider, a plugin that breaks the contract on purpose, and
// asserts the outcome of every case: each fault is caught by the cases meant
// to catch it, and only by them (everything the double does right passes).
func TestBrokenProviderFailsTheCasesThatCatchItsFaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, err := filepath.Abs("testdata/brokenprovider.json")
	if err != nil {
		t.Fatal(err)
	}
	plugintest.Build(t, dir, "./host-test/conformance/internal/brokenprovider", src)
	scm := newFakeSCM(t)
	results, err := conformance.Execute(t.Context(), conformance.NewConfig(filepath.Join(dir, manifest.FileName), scm), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Each expected failure, and words its report must hold: the fault it
	// was meant to catch, not some other one.
	failures := map[string]string{
		// SetCommitStatus answers although commit_status is not announced.
		"launch/unannounced-rpcs-unimplemented": "SetCommitStatus (capability commit_status not announced) answered OK",
		// ValidateConnection{} answers Unknown; CheckCredentials is Unimplemented.
		"launch/empty-requests-invalid-argument": "CheckCredentials with an empty request answered Unimplemented",
		// An empty host_url answers Unknown.
		"validate_connection/bad-input": "empty host_url answered Unknown",
		// The rejected token is echoed in the error message.
		"validate_connection/rejected-credentials": "error contains a secret: the rejected connection's access token",
		// check_credentials is announced but not implemented.
		"check_credentials/valid":                "Unimplemented",
		"check_credentials/rejected-credentials": "Unimplemented",
		"check_credentials/bad-input":            "Unimplemented",
		// The first repository is listed twice.
		"list_repositories/duplicate-free": "is listed twice",
		// Paging goes on without the call's context.
		"list_repositories/cancel-mid-stream":   "after the listing was cancelled, the provider",
		"robustness/deadlines-and-cancellation": "pass the call's context to every request",
		// 16 KiB kept per repository ever listed.
		"list_repositories/bounded-memory": "peak memory grew by",
		// VerifyWebhook compares neither the secret nor the repository.
		"webhooks/wrong-secret":       "with a wrong secret answered OK, want Unauthenticated",
		"webhooks/forged-delivery":    "answered OK, want Unauthenticated",
		"webhooks/swapped-repository": "answered OK, want PermissionDenied",
		// WebhookSession learns a secret from a verify before checking it,
		// keeps one for the whole process (every stream, every repository)
		// and answers receive verified with it without checking the token.
		// A receive of a delivery that does not parse names that secret.
		// Its verify checks right, so identify-and-verify, receive-after-verify
		// and empty-call pass, and receive-before-verify does too, as no
		// verify with a secret_ref came before it.
		"webhook_session/failed-verify-learns-nothing":        "after a verify with a wrong secret failed answered secret_ref",
		"webhook_session/receive-forged-unverified":           "receive of the forged delivery answered verified",
		"webhook_session/receive-other-repository-unverified": `altered to name repository "r00002" answered verified`,
		"webhook_session/new-session-holds-nothing":           "session 2 (open beside session 1, which learnt the secret): receive of the genuine delivery answered verified",
		"webhook_session/secret-stays-in-session":             "receive of the genuine delivery with half its body's answer bytes contains a secret",
		// VerifyWebhook panics on "[[": the burst sees Internal.
		"robustness/malformed-burst": "VerifyWebhook answered Internal",
		// Served without watching its host.
		"robustness/exits-when-host-dies": "outlived its SIGKILLed host",
		// ValidateConnection logs the token.
		"logs/no-secrets": "the plugin's log contains a secret",
	}
	skipped := map[string]bool{}
	for _, name := range []string{
		"oauth/begin", "oauth/begin-bad-input", "oauth/authorization-code-flow", "oauth/bad-grants", "oauth/personal-token-never-revoked",
		"clone_credentials/git-can-fetch", "clone_credentials/bad-input",
		"project_webhooks/ensure-is-idempotent", "project_webhooks/bad-input", "commit_status/set", "commit_status/bad-input",
	} {
		skipped[name] = true
	}
	if len(results) != len(conformance.CaseNames()) {
		t.Errorf("Execute reported %d results for %d cases", len(results), len(conformance.CaseNames()))
	}
	for _, r := range results {
		t.Log(r)
		why, shouldFail := failures[r.Name]
		switch {
		case shouldFail && r.Status != conformance.Fail:
			t.Errorf("case %s: %s, want fail (%s)", r.Name, r.Status, why)
		case shouldFail && !strings.Contains(strings.Join(r.Problems, "\n"), why):
			t.Errorf("case %s failed, but its report lacks %q:\n%s", r.Name, why, r)
		case skipped[r.Name] && r.Status != conformance.Skip:
			t.Errorf("case %s: %s, want skip\n%s", r.Name, r.Status, r)
		case !shouldFail && !skipped[r.Name] && r.Status != conformance.Pass:
			t.Errorf("case %s: %s, want pass\n%s", r.Name, r.Status, r)
		}
	}
}

// fakeSCM is a TEST DOUBLE of an SCM for the broken provider: GET /user and
// GET /repos?page&per_page behind a bearer token. It implements
// conformance.SlowBackend.
type fakeSCM struct {
	srv      *httptest.Server
	latency  atomic.Int64
	inFlight atomic.Int64

	mu     sync.Mutex
	tokens map[string]int // token -> how many repositories it sees
	large  int
}

func newFakeSCM(t *testing.T) *fakeSCM {
	f := &fakeSCM{tokens: map[string]int{"good-token-0123456789": 4}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSCM) serve(w http.ResponseWriter, r *http.Request) {
	f.inFlight.Add(1)
	answered := make(chan struct{})
	go func() {
		select {
		case <-answered:
		case <-r.Context().Done():
		}
		f.inFlight.Add(-1)
	}()
	defer close(answered)
	select {
	case <-time.After(time.Duration(f.latency.Load())):
	case <-r.Context().Done():
		return
	}
	f.mu.Lock()
	n, ok := f.tokens[r.Header.Get("Authorization")[len("Bearer "):]]
	f.mu.Unlock()
	if !ok {
		http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/user":
		_ = json.NewEncoder(w).Encode(map[string]string{"ID": "1", "Username": "brokenuser"})
	case "/repos":
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		page, per = max(page, 1), max(per, 1)
		type repo struct{ ID, FullName string }
		out := struct {
			Repos []repo
			Next  int
		}{}
		for i := (page - 1) * per; i < min(page*per, n); i++ {
			out.Repos = append(out.Repos, repo{ID: fmt.Sprintf("r%05d", i), FullName: fmt.Sprintf("group/repo-%05d", i)})
		}
		if page*per < n {
			out.Next = page + 1
		}
		_ = json.NewEncoder(w).Encode(out)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeSCM) conn(token string) *scmv1.Connection {
	return &scmv1.Connection{HostUrl: f.srv.URL, Credentials: &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, AccessToken: token}}
}

func repos(n int) []*scmv1.Repository {
	out := make([]*scmv1.Repository, n)
	for i := range out {
		out[i] = &scmv1.Repository{ExternalId: fmt.Sprintf("r%05d", i), FullName: fmt.Sprintf("group/repo-%05d", i)}
	}
	return out
}

func (f *fakeSCM) Connection(context.Context) (*conformance.TokenConnection, error) {
	return &conformance.TokenConnection{
		Connection:   f.conn("good-token-0123456789"),
		Account:      &scmv1.Account{Id: "1", Username: "brokenuser"},
		Repositories: repos(4),
	}, nil
}

func (f *fakeSCM) RejectedConnection(context.Context) (*scmv1.Connection, error) {
	return f.conn("revoked-token-0123456789"), nil
}

func delivery(event, repo, token string) *scmv1.WebhookDelivery {
	body, _ := json.Marshal(map[string]string{"Repository": repo, "Event": event, "Delivery": "delivery-1"})
	return &scmv1.WebhookDelivery{Headers: map[string]string{"content-type": "application/json", "x-broken-token": token}, Body: body}
}

func (f *fakeSCM) Webhook(context.Context) (*conformance.Webhook, error) {
	const secret = "webhook-secret-0123456789"
	return &conformance.Webhook{
		RepositoryExternalID:      "r00001",
		Secret:                    secret,
		Delivery:                  delivery("push", "r00001", secret),
		Kind:                      scmv1.EventKind_EVENT_KIND_PUSH,
		Forged:                    delivery("push", "r00001", "forged-secret-0123456789"),
		Unhandled:                 delivery("note", "r00001", secret),
		OtherRepositoryExternalID: "r00002",
	}, nil
}

func (f *fakeSCM) OAuthApp(context.Context) (*conformance.OAuthApp, error) {
	return nil, conformance.ErrUnsupported
}

func (f *fakeSCM) LargeConnection(_ context.Context, n int) (*conformance.TokenConnection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.large++
	token := fmt.Sprintf("large-token-%d-0123456789", f.large)
	f.tokens[token] = n
	return &conformance.TokenConnection{Connection: f.conn(token), Repositories: repos(n)}, nil
}

func (f *fakeSCM) SetLatency(d time.Duration) { f.latency.Store(int64(d)) }
func (f *fakeSCM) InFlight() int              { return int(f.inFlight.Load()) }
