package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/host-test/contract"
	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// manifestOnly is a plugin set of one manifest and no process: enough for
// code that reads what a plugin announces.
type manifestOnly struct{ m *manifest.Manifest }

func (p manifestOnly) Get(name string) (Plugin, bool) {
	if name != p.m.Name {
		return nil, false
	}
	return p, true
}
func (p manifestOnly) Names() []string                       { return []string{p.m.Name} }
func (p manifestOnly) Provider() scmv1.ProviderServiceClient { return nil }
func (p manifestOnly) Manifest() *manifest.Manifest          { return p.m }
func (p manifestOnly) Restarts() int64                       { return 0 }

func TestSCMWriteError(t *testing.T) {
	t.Parallel()
	h := &Host{cfg: Config{PublicURL: "https://ci.example.com"}, plugins: manifestOnly{&manifest.Manifest{Name: "gitlab", DisplayName: "GitLab"}}}
	tests := map[string]struct {
		err        error
		wantStatus int
		wantCode   string
		wantInMsg  string
	}{
		"role missing": {
			err:        scmerr.New(codes.PermissionDenied, scmerr.ReasonRoleMissing, "Maintainer role required on project 7", scmerr.WithMetadata("required_role", "maintainer")),
			wantStatus: http.StatusForbidden, wantCode: "gitlab_role_missing", wantInMsg: "Maintainer",
		},
		"scope missing": {
			err:        scmerr.New(codes.FailedPrecondition, scmerr.ReasonScopeMissing, "the token lacks the scope api", scmerr.WithMetadata("missing_scopes", "api")),
			wantStatus: http.StatusForbidden, wantCode: "gitlab_scope_missing", wantInMsg: "api",
		},
		"hook URL refused": {
			err:        scmerr.New(codes.FailedPrecondition, scmerr.ReasonHookURLRefused, "GitLab refused the webhook URL"),
			wantStatus: http.StatusUnprocessableEntity, wantCode: "gitlab_hook_url_refused",
			wantInMsg: "This host's webhook URL is https://ci.example.com/v1/webhooks/gitlab: if GitLab cannot reach that address, start oore-host with --public-url",
		},
		"invalid transition (unchanged)": {
			err:        scmerr.New(codes.FailedPrecondition, scmerr.ReasonInvalidTransition, "Cannot transition status via :run from :running"),
			wantStatus: http.StatusConflict, wantCode: "gitlab_invalid_transition", wantInMsg: ":running",
		},
		"auth failed (unchanged)": {
			err:        scmerr.New(codes.Unauthenticated, scmerr.ReasonAuthFailed, "token revoked"),
			wantStatus: http.StatusBadRequest, wantCode: "gitlab_auth_failed",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var ae *apiError
			if !errors.As(h.scmWriteError("gitlab", pluginError("gitlab", tc.err)), &ae) {
				t.Fatal("not an API error")
			}
			if ae.Status != tc.wantStatus || ae.Code != tc.wantCode || !strings.Contains(ae.Message, tc.wantInMsg) {
				t.Fatalf("= %d %s %q, want %d %s with %q", ae.Status, ae.Code, ae.Message, tc.wantStatus, tc.wantCode, tc.wantInMsg)
			}
		})
	}
	plain := errors.New("boom")
	if got := h.scmWriteError("gitlab", plain); got != plain {
		t.Fatalf("a non-API error became %v", got)
	}
}

func TestNewWebhookSecret(t *testing.T) {
	t.Parallel()
	a, b := newWebhookSecret("token"), newWebhookSecret("token")
	if a == b || len(a) < 40 || strings.HasPrefix(a, "whsec_") {
		t.Fatalf("tokens %q and %q", a, b)
	}
	s := newWebhookSecret("signing_token")
	if !strings.HasPrefix(s, "whsec_") || len(s) != len("whsec_")+44 {
		t.Fatalf("signing token %q: want whsec_ and 32 bytes in base64", s)
	}
}

func TestServesProjectWebhooks(t *testing.T) {
	t.Parallel()
	kr, err := secrets.New(bytes.Repeat([]byte{7}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(context.Background(), t.TempDir(), kr, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	announcing := manifestOnly{&manifest.Manifest{Name: "gitlab", Capabilities: []string{"webhooks", "project_webhooks"}}}
	silent := manifestOnly{&manifest.Manifest{Name: "gitlab", Capabilities: []string{"webhooks", "commit_status"}}}
	tests := map[string]struct {
		plugins Plugins
		store   store.Store
		name    string
		want    bool
	}{
		"announced":                    {announcing, st, "gitlab", true},
		"not announced":                {silent, st, "gitlab", false},
		"unknown provider":             {announcing, st, "github", false},
		"store keeps no project hooks": {announcing, nil, "gitlab", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := &Host{plugins: tc.plugins, store: tc.store}
			if got := h.servesProjectWebhooks(tc.name); got != tc.want {
				t.Fatalf("servesProjectWebhooks(%q) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}

// gitlabHost is a host with the real GitLab plugin (a subprocess) on a
// SQLite store, serving HTTP, connected with a personal token to the
// GitLab simulator.
type gitlabHost struct {
	sim           *gitlabsim.Server
	demo          gitlabsim.Demo
	st            *store.SQL
	api           *e2ekit.Client
	owner         string
	base          string
	integrationID string
}

func startGitLabHost(t *testing.T) *gitlabHost {
	t.Helper()
	ctx := context.Background()
	sim := gitlabsim.NewTestServer(t, gitlabsim.Options{})
	demo := sim.SeedDemo()
	plugins := t.TempDir()
	if err := os.Mkdir(filepath.Join(plugins, "gitlab"), 0o755); err != nil {
		t.Fatal(err)
	}
	plugintest.BuildGitLab(t, filepath.Join(plugins, "gitlab"))
	reg, errs := launcher.LaunchDir(ctx, plugins, launcher.Options{ChecksumCache: launcher.NewChecksumCache(), MinBackoff: 10 * time.Millisecond})
	if len(errs) > 0 {
		t.Fatalf("launch plugins: %v", errs)
	}
	t.Cleanup(func() { reg.Close() })
	dir := t.TempDir()
	kr, err := secrets.Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(ctx, dir, kr, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	h, err := New(Config{PublicURL: base, Logger: hclog.New(&hclog.LoggerOptions{Output: io.Discard})}, st, kr, LauncherPlugins(reg))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	owner, err := CreateToken(ctx, st, RoleOwner, "hooks-owner")
	if err != nil {
		t.Fatal(err)
	}
	v, err := contract.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	g := &gitlabHost{sim: sim, demo: demo, st: st, owner: owner, base: base,
		api: &e2ekit.Client{T: t, Base: base, HTTP: e2ekit.NoRedirectClient(), Contract: v}}
	g.integrationID = g.api.StartPAT(owner, sim.URL, demo.Token)
	return g
}

// hookCall is one answer to POST or DELETE .../gitlab-webhook.
type hookCall struct {
	method  string
	status  int
	body    string
	hookID  string
	created bool
}

// concurrently sends the methods' webhook calls for a repository all at
// once (released together) and returns the answers in order.
func (g *gitlabHost) concurrently(t *testing.T, repositoryID string, methods ...string) []hookCall {
	t.Helper()
	out := make([]hookCall, len(methods))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, m := range methods {
		wg.Go(func() {
			<-start
			r, err := g.api.Call(m, "/v1/integration-repositories/"+repositoryID+"/gitlab-webhook", g.owner, nil)
			if err != nil {
				t.Errorf("%s: %v", m, err)
				return
			}
			var v struct {
				HookID  *string `json:"hook_id"`
				Created bool    `json:"created"`
			}
			_ = json.Unmarshal(r.Body, &v)
			out[i] = hookCall{method: m, status: r.Status, body: string(r.Body), created: v.Created}
			if v.HookID != nil {
				out[i].hookID = *v.HookID
			}
		})
	}
	close(start)
	wg.Wait()
	return out
}

// TestConcurrentProjectWebhookRegistrations: registrations of one
// repository at the same instant (a double click, several admins) leave
// exactly one hook at GitLab, and the secret the host stored is the one
// that hook sends: a push through it is accepted. Each GitLab API call
// takes 40 ms, so that without the repository's lease the registrations'
// "list hooks, none, create" overlap.
func TestConcurrentProjectWebhookRegistrations(t *testing.T) {
	t.Parallel()
	g := startGitLabHost(t)
	app := g.api.FindRepository(g.owner, g.integrationID, "oore-demo/mobile/flutter-app")
	project := g.demo.FlutterApp.ID
	g.sim.SetLatency(40 * time.Millisecond)

	const n = 8
	methods := make([]string, n)
	for i := range methods {
		methods[i] = http.MethodPost
	}
	calls := g.concurrently(t, app.ID, methods...)
	created := 0
	for _, c := range calls {
		if c.status != http.StatusOK {
			t.Fatalf("a concurrent registration answered %d %s", c.status, c.body)
		}
		if c.created {
			created++
		}
	}
	hooks := g.sim.Hooks(project)
	if len(hooks) != 1 {
		t.Fatalf("%d concurrent registrations left %d hooks at GitLab, want 1: %s", n, len(hooks), describeHooks(hooks))
	}
	hook := hooks[0]
	if hook.URL != g.base+"/v1/webhooks/gitlab" {
		t.Fatalf("the hook delivers to %s", hook.URL)
	}
	if created != 1 {
		t.Fatalf("%d answers say they created the hook, want 1 (the others updated it)", created)
	}
	for _, c := range calls {
		if c.hookID != strconv.FormatInt(hook.ID, 10) {
			t.Fatalf("an answer names hook %q, GitLab has %d", c.hookID, hook.ID)
		}
	}
	if saved, err := g.st.GetProjectHook(context.Background(), app.ID); err != nil || saved.HookID != strconv.FormatInt(hook.ID, 10) {
		t.Fatalf("the host remembers %+v, %v; GitLab has hook %d", saved, err, hook.ID)
	}
	g.sim.SetLatency(0)
	pushAccepted(t, g.sim, project)
	if n := leaseRows(t, g.st); n != 0 {
		t.Fatalf("%d project webhook leases left after every registration answered, want 0", n)
	}
}

// TestProjectWebhookRegistrationsRacingRemovals: registrations and
// removals of one repository at once run one after the other, so what the
// host remembers is what GitLab has: either no hook and no record, or one
// hook, its id recorded, whose pushes the host accepts.
func TestProjectWebhookRegistrationsRacingRemovals(t *testing.T) {
	t.Parallel()
	g := startGitLabHost(t)
	app := g.api.FindRepository(g.owner, g.integrationID, "oore-demo/mobile/flutter-app")
	project := g.demo.FlutterApp.ID
	g.sim.SetLatency(40 * time.Millisecond)

	for round := range 3 {
		calls := g.concurrently(t, app.ID, http.MethodPost, http.MethodDelete, http.MethodPost, http.MethodDelete, http.MethodPost)
		for _, c := range calls {
			if c.status != http.StatusOK {
				t.Fatalf("round %d: %s answered %d %s", round, c.method, c.status, c.body)
			}
		}
		hooks := g.sim.Hooks(project)
		saved, err := g.st.GetProjectHook(context.Background(), app.ID)
		switch {
		case len(hooks) == 0 && errors.Is(err, store.ErrNotFound):
			continue
		case len(hooks) == 1 && err == nil && saved.HookID == strconv.FormatInt(hooks[0].ID, 10):
			g.sim.SetLatency(0)
			pushAccepted(t, g.sim, project)
			g.sim.SetLatency(40 * time.Millisecond)
		default:
			t.Fatalf("round %d: GitLab has %d hooks (%s), the host remembers %+v (%v)", round, len(hooks), describeHooks(hooks), saved, err)
		}
	}
}

// pushAccepted pushes to the project and checks every hook's delivery was
// accepted (the hook's secret is the one the host stored).
func pushAccepted(t *testing.T, sim *gitlabsim.Server, project int64) {
	t.Helper()
	res, err := sim.TriggerPush(context.Background(), project, "main")
	if err != nil {
		t.Fatalf("trigger push: %v", err)
	}
	if len(res) == 0 {
		t.Fatal("the push reached no hook")
	}
	for _, r := range res {
		if r.Status != http.StatusOK {
			t.Fatalf("push through hook %d: %d %s; the host does not hold that hook's secret", r.HookID, r.Status, r.Body)
		}
	}
}

// describeHooks names hooks by id and URL, never their secrets.
func describeHooks(hooks []gitlabsim.ProjectHook) string {
	var b strings.Builder
	for i, h := range hooks {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatInt(h.ID, 10) + " " + h.URL)
	}
	return b.String()
}

func leaseRows(t *testing.T, st *store.SQL) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM project_hook_leases`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
