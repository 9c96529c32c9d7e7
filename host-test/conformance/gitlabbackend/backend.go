// Package gitlabbackend is the conformance Backend of the GitLab provider:
// it serves the GitLab SIMULATOR (host-test/gitlabsim, a test double of
// GitLab, not GitLab) on a loopback port, seeds it with an account whose
// repositories, tokens, webhooks and OAuth application the suite uses, and
// implements conformance.SlowBackend through the simulator's latency.
//
// It is what `make conformance` and host-test/cmd/oore-conformance use for
// --backend gitlabsim. It does not test the simulator.
package gitlabbackend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/conformance"
	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// MaxRepositories is the most LargeConnection seeds.
const MaxRepositories = 50000

// Scopes of the suite's personal tokens: what the GitLab provider requires.
var tokenScopes = []string{"api", "read_repository"}

// Backend is a running simulator and the fixtures seeded into it.
type Backend struct {
	sim      *gitlabsim.Server
	srv      *httptest.Server
	receiver *httptest.Server
	inFlight atomic.Int64

	mu      sync.Mutex
	seeded  *seed
	webhook *conformance.Webhook
	oauth   *conformance.OAuthApp
	large   int
}

// seed is the account the suite acts as and what it can see.
type seed struct {
	user           *gitlabsim.User
	token, revoked string
	own, api, web  *gitlabsim.Project
	apiHead        string
}

var (
	_ conformance.Backend     = (*Backend)(nil)
	_ conformance.SlowBackend = (*Backend)(nil)
)

// Start serves a new simulator on 127.0.0.1 (plain HTTP, which the GitLab
// provider accepts for loopback hosts). Close stops it.
func Start(opts gitlabsim.Options) *Backend {
	b := &Backend{sim: gitlabsim.New(opts)}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(b.serve))
	b.sim.URL = "http://" + b.srv.Listener.Addr().String()
	b.srv.Start()
	b.receiver = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	return b
}

// serve counts API requests while the provider still waits for them: a
// request stops counting when it is answered or when the provider gives up
// on it (its connection closes), whichever is first.
func (b *Backend) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		b.sim.ServeHTTP(w, r)
		return
	}
	b.inFlight.Add(1)
	answered := make(chan struct{})
	go func() {
		select {
		case <-answered:
		case <-r.Context().Done():
		}
		b.inFlight.Add(-1)
	}()
	defer close(answered)
	b.sim.ServeHTTP(w, r)
}

// Close stops the simulator and removes its data.
func (b *Backend) Close() {
	b.receiver.Close()
	b.srv.Close()
	_ = b.sim.Close()
}

// Sim is the simulator, for tests that want to look inside.
func (b *Backend) Sim() *gitlabsim.Server { return b.sim }

// URL is the simulator's base URL.
func (b *Backend) URL() string { return b.sim.URL }

// SetLatency delays every API answer of the simulator.
func (b *Backend) SetLatency(d time.Duration) { b.sim.SetLatency(d) }

// InFlight is how many API requests the provider is still waiting for.
func (b *Backend) InFlight() int { return int(b.inFlight.Load()) }

func randomHex(n int) string {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return hex.EncodeToString(p)
}

func id(p *gitlabsim.Project) string { return strconv.FormatInt(p.ID, 10) }

// account seeds, once, the suite's GitLab account: a personal token and a
// revoked one, projects it owns, maintains and develops (listed), one it
// only reports on and one archived (not listed by default), and another
// user's private project (invisible).
func (b *Backend) account() (*seed, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seeded != nil {
		return b.seeded, nil
	}
	sim := b.sim
	s := &seed{user: sim.AddUser("conformance", "Conformance Suite")}
	expires := sim.Now().AddDate(1, 0, 0)
	s.token = sim.AddPersonalAccessToken(s.user.ID, "oore-conformance", tokenScopes, &expires, false)
	s.revoked = sim.AddPersonalAccessToken(s.user.ID, "oore-conformance-revoked", tokenScopes, &expires, true)
	member := func(level int) map[int64]int { return map[int64]int{s.user.ID: level} }
	s.own = sim.AddProject(gitlabsim.ProjectSpec{Namespace: "conformance", Path: "app"})
	s.api = sim.AddProject(gitlabsim.ProjectSpec{Namespace: "conformance-group", Path: "api", Members: member(gitlabsim.MaintainerAccess)})
	s.web = sim.AddProject(gitlabsim.ProjectSpec{Namespace: "conformance-group/mobile", Path: "web", Visibility: "internal", Members: member(gitlabsim.DeveloperAccess)})
	// Not listed by default: too low a role to build, archived, someone else's.
	sim.AddProject(gitlabsim.ProjectSpec{Namespace: "conformance-group", Path: "docs", Members: member(gitlabsim.ReporterAccess)})
	sim.AddProject(gitlabsim.ProjectSpec{Namespace: "conformance-group", Path: "old", Archived: true, Members: member(gitlabsim.MaintainerAccess)})
	other := sim.AddUser("conformance-other", "Another User")
	sim.AddProject(gitlabsim.ProjectSpec{Namespace: other.Username, Path: "private"})
	head, err := sim.BranchHead(s.api.ID, s.api.DefaultBranch)
	if err != nil {
		return nil, fmt.Errorf("seed gitlab simulator: head of %s: %w", s.api.PathWithNamespace, err)
	}
	s.apiHead = head
	b.seeded = s
	return s, nil
}

func (b *Backend) connection(token string) *scmv1.Connection {
	return &scmv1.Connection{
		HostUrl:     b.sim.URL,
		Credentials: &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, AccessToken: token},
	}
}

// Connection is the suite's account with its personal token. It lists the
// projects the account may build: Developer or more, not archived.
func (b *Backend) Connection(context.Context) (*conformance.TokenConnection, error) {
	s, err := b.account()
	if err != nil {
		return nil, err
	}
	repo := func(p *gitlabsim.Project) *scmv1.Repository {
		return &scmv1.Repository{ExternalId: id(p), FullName: p.PathWithNamespace}
	}
	return &conformance.TokenConnection{
		Connection:   b.connection(s.token),
		Account:      &scmv1.Account{Id: strconv.FormatInt(s.user.ID, 10), Username: s.user.Username},
		Repositories: []*scmv1.Repository{repo(s.own), repo(s.api), repo(s.web)},
		Maintained:   id(s.api),
		CommitSHA:    s.apiHead,
	}, nil
}

// RejectedConnection carries the account's revoked token.
func (b *Backend) RejectedConnection(context.Context) (*scmv1.Connection, error) {
	s, err := b.account()
	if err != nil {
		return nil, err
	}
	return b.connection(s.revoked), nil
}

// Webhook has the simulator deliver, as GitLab does, a push to a project
// with its secret token, the same push with another token, and a Note Hook
// with the right one; the deliveries are captured as the host receives them.
func (b *Backend) Webhook(ctx context.Context) (*conformance.Webhook, error) {
	s, err := b.account()
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.webhook != nil {
		return b.webhook, nil
	}
	secret := "conformance-" + randomHex(16)
	send := func(kind, token string) (*scmv1.WebhookDelivery, error) {
		res, err := b.sim.SendWebhook(ctx, gitlabsim.WebhookSpec{ProjectID: s.api.ID, Kind: kind, URL: b.receiver.URL, SecretToken: token})
		if err != nil {
			return nil, fmt.Errorf("deliver a %s webhook of %s: %w", kind, s.api.PathWithNamespace, err)
		}
		h := map[string]string{}
		for k, vs := range res.RequestHeaders {
			h[strings.ToLower(k)] = strings.Join(vs, ", ")
		}
		return &scmv1.WebhookDelivery{Headers: h, Body: res.Payload}, nil
	}
	genuine, err := send("push", secret)
	if err != nil {
		return nil, err
	}
	forged, err := send("push", "forged-"+randomHex(16))
	if err != nil {
		return nil, err
	}
	note, err := send("note", secret)
	if err != nil {
		return nil, err
	}
	b.webhook = &conformance.Webhook{
		RepositoryExternalID:      id(s.api),
		Secret:                    secret,
		Delivery:                  genuine,
		Kind:                      scmv1.EventKind_EVENT_KIND_PUSH,
		Forged:                    forged,
		Unhandled:                 note,
		OtherRepositoryExternalID: id(s.web),
	}
	return b.webhook, nil
}

// OAuthApp registers a confidential application and signs the suite's
// account in, so authorizing approves at once.
func (b *Backend) OAuthApp(context.Context) (*conformance.OAuthApp, error) {
	s, err := b.account()
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.oauth != nil {
		return b.oauth, nil
	}
	clientID, secret := b.sim.AddOAuthApp("Oore conformance", gitlabsim.DemoRedirectURI, []string{"api", "read_api", "read_user", "read_repository"}, true)
	b.sim.SetSignedInUser(s.user.ID)
	b.oauth = &conformance.OAuthApp{
		HostURL:   b.sim.URL,
		Client:    &scmv1.OAuthClient{ClientId: clientID, ClientSecret: secret, RedirectUri: gitlabsim.DemoRedirectURI},
		Authorize: b.authorize,
	}
	return b.oauth, nil
}

// authorize opens the authorize URL as the signed-in user and reads the
// code and state from the redirect GitLab answers with.
func (b *Backend) authorize(ctx context.Context, authorizeURL string) (string, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL, nil)
	if err != nil {
		return "", "", fmt.Errorf("authorize: %w", err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("authorize: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return "", "", fmt.Errorf("authorize: the simulator answered %s, not a redirect", resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", "", fmt.Errorf("authorize: redirect: %w", err)
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return "", "", fmt.Errorf("authorize: the simulator refused: %s: %s", e, q.Get("error_description"))
	}
	if q.Get("code") == "" {
		return "", "", errors.New("authorize: the redirect carries no code")
	}
	return q.Get("code"), q.Get("state"), nil
}

// LargeConnection is a new account owning n projects (at most
// MaxRepositories) in its personal namespace, with its own token.
func (b *Backend) LargeConnection(_ context.Context, n int) (*conformance.TokenConnection, error) {
	n = min(n, MaxRepositories)
	b.mu.Lock()
	b.large++
	name := fmt.Sprintf("conformance-bulk-%d", b.large)
	b.mu.Unlock()
	user := b.sim.AddUser(name, "Conformance Bulk")
	expires := b.sim.Now().AddDate(1, 0, 0)
	token := b.sim.AddPersonalAccessToken(user.ID, "oore-conformance-bulk", tokenScopes, &expires, false)
	ids := b.sim.SeedProjects(user.ID, n, "")
	repos := make([]*scmv1.Repository, 0, len(ids))
	for _, pid := range ids {
		p, ok := b.sim.Project(pid)
		if !ok {
			return nil, fmt.Errorf("seed gitlab simulator: project %d vanished", pid)
		}
		repos = append(repos, &scmv1.Repository{ExternalId: id(p), FullName: p.PathWithNamespace})
	}
	return &conformance.TokenConnection{
		Connection:   b.connection(token),
		Account:      &scmv1.Account{Id: strconv.FormatInt(user.ID, 10), Username: user.Username},
		Repositories: repos,
	}, nil
}
