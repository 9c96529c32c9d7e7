//go:build browser

package browser_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/ui"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
)

// stack is what a person's browser talks to: the reference host (API and
// UI on one address) with the real GitLab plugin process, and the GitLab
// simulator standing in for GitLab.
type stack struct {
	// URL is the host's public URL, e.g. http://127.0.0.1:40123.
	URL string
	// Token is an owner API token of the host.
	Token string
	Sim   *gitlabsim.Server
	Demo  gitlabsim.Demo
	Store store.Store
	// Logs is everything the host, the UI and the plugin logged, at every
	// level (the test log gets warnings only): tests read it for secrets.
	Logs *e2ekit.Logs
}

// startStack builds the plugin, launches it, opens a fresh store and serves
// the host with its UI mounted under /ui/, exactly as oore-host does.
func startStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	out := e2ekit.TestLog(t) // first: its cleanup runs after every other
	logs := &e2ekit.Logs{}
	log := hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: "browser-e2e", Level: hclog.Warn, Output: out})
	log.RegisterSink(hclog.NewSinkAdapter(&hclog.LoggerOptions{Level: hclog.Trace, Output: logs}))

	sim := gitlabsim.NewTestServer(t, gitlabsim.Options{})
	demo := sim.SeedDemo()

	m := plugintest.BuildGitLab(t, t.TempDir())
	p, err := launcher.Launch(ctx, m, launcher.Options{Logger: log.Named("plugin")})
	if err != nil {
		t.Fatalf("launch the gitlab plugin: %v", err)
	}
	reg := launcher.NewRegistry(p)
	t.Cleanup(func() { _ = reg.Close() })

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	kr, err := secrets.New(key)
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	st, err := store.OpenSQLite(ctx, t.TempDir(), kr, store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.Addr().String()
	h, err := host.New(host.Config{PublicURL: public, Logger: log.Named("host")}, st, kr, host.LauncherPlugins(reg))
	if err != nil {
		t.Fatalf("new host: %v", err)
	}
	uiHandler, err := ui.New(ui.Options{API: h.Handler(), Providers: ui.RegistryProviders(reg), PublicURL: public, Logger: log.Named("ui")})
	if err != nil {
		t.Fatalf("new ui: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ui/", uiHandler)
	mux.Handle("/", h.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve host: %v", err)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})

	token, err := host.CreateToken(ctx, st, host.RoleOwner, "browser-e2e")
	if err != nil {
		t.Fatalf("create API token: %v", err)
	}
	return &stack{URL: public, Token: token, Sim: sim, Demo: demo, Store: st, Logs: logs}
}
