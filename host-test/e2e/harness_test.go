package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oore-ci/oore-scm-gitlab/host-test/contract"
	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
)

var validator = sync.OnceValues(contract.NewValidator)

// env is one running host with the real plugin, and a simulator.
type env struct {
	t       *testing.T
	sim     *gitlabsim.Server
	demo    gitlabsim.Demo
	base    string
	owner   string
	dataDir string
	client  *http.Client
	api     *e2ekit.Client // calls the host's API and checks its answers against the contract
	// In-process hosts only.
	st  *store.SQL
	reg *launcher.Registry
	// Binary hosts only: everything the host logged.
	logs *e2ekit.Logs
}

func newSim(t *testing.T) (*gitlabsim.Server, gitlabsim.Demo) {
	sim := gitlabsim.NewTestServer(t, gitlabsim.Options{})
	return sim, sim.SeedDemo()
}

// startInProcess runs the host library in this process, with the real
// plugin launched from the built plugins directory.
func startInProcess(t *testing.T, cfg host.Config) *env {
	t.Helper()
	ctx := context.Background()
	sim, demo := newSim(t)
	dir := t.TempDir()
	kr, err := secrets.Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(ctx, dir, kr, store.Options{Now: cfg.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, errs := launcher.LaunchDir(ctx, built.Plugins, launcher.Options{ChecksumCache: launcher.NewChecksumCache(), MinBackoff: 10 * time.Millisecond})
	if len(errs) > 0 {
		t.Fatalf("launch plugins: %v", errs)
	}
	t.Cleanup(func() { reg.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	if cfg.PublicURL == "" {
		cfg.PublicURL = base
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Output: io.Discard})
	}
	h, err := host.New(cfg, st, kr, host.LauncherPlugins(reg))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	owner, err := host.CreateToken(ctx, st, host.RoleOwner, "e2e-owner")
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(&env{t: t, sim: sim, demo: demo, base: base, owner: owner, dataDir: dir, st: st, reg: reg})
}

// startBinary runs the oore-host binary with the built plugins.
func startBinary(t *testing.T, extraArgs ...string) *env {
	t.Helper()
	sim, demo := newSim(t)
	owner := secrets.RandomToken("oore_", 32)
	h := e2ekit.StartHost(t, e2ekit.HostConfig{
		Binary: built.Host, PluginsDir: built.Plugins, LogLevel: "debug", ExtraArgs: extraArgs,
		Env: []string{"OORE_BOOTSTRAP_TOKEN=" + owner},
	})
	h.WaitHealthy(20*time.Second, 20*time.Millisecond)
	return newEnv(&env{t: t, sim: sim, demo: demo, base: h.URL, owner: owner, dataDir: h.DataDir, logs: h.Logs})
}

// newEnv gives e its HTTP client and its contract-checking API client.
func newEnv(e *env) *env {
	e.t.Helper()
	v, err := validator()
	if err != nil {
		e.t.Fatal(err)
	}
	e.client = e2ekit.NoRedirectClient()
	e.api = &e2ekit.Client{T: e.t, Base: e.base, HTTP: e.client, Contract: v}
	return e
}

// response is one API answer.
type response = e2ekit.Response

// do calls the API and checks the answer against the contract.
func (e *env) do(method, path, token string, body any) response {
	e.t.Helper()
	return e.api.Do(method, path, token, body)
}

func (e *env) checkContract(method, path string, r response) {
	e.t.Helper()
	e.api.CheckContract(method, path, r)
}

// startPAT connects the demo user with a personal token and returns the
// integration id.
func (e *env) startPAT() string {
	e.t.Helper()
	return e.api.StartPAT(e.owner, e.sim.URL, e.demo.Token)
}

type repo = e2ekit.Repository

// repository finds an integration's repository by full name.
func (e *env) repository(integrationID, fullName string) repo {
	e.t.Helper()
	return e.api.FindRepository(e.owner, integrationID, fullName)
}

// webhookSecret makes (or rotates) a repository's webhook secret.
func (e *env) webhookSecret(repositoryID, query string) string {
	e.t.Helper()
	secret, webhookURL := e.api.WebhookSecret(e.owner, repositoryID, query)
	if webhookURL != e.base+"/v1/webhooks/gitlab" {
		e.t.Errorf("webhook_url = %q", webhookURL)
	}
	return secret
}

type delivery struct {
	DeliveryID    string  `json:"delivery_id"`
	IntegrationID string  `json:"integration_id"`
	EventKind     string  `json:"event_kind"`
	Triggered     bool    `json:"triggered"`
	IgnoredReason *string `json:"ignored_reason"`
	Builds        []struct {
		ID     string `json:"id"`
		Kind   string `json:"kind"`
		Branch string `json:"branch"`
		SHA    string `json:"sha"`
	} `json:"builds"`
}

func (e *env) deliveries() []delivery {
	e.t.Helper()
	r := e.do("GET", "/v1/webhook-deliveries?limit=100", e.owner, nil)
	if r.Status != 200 {
		e.t.Fatalf("deliveries: %d %s", r.Status, r.Body)
	}
	var out struct {
		Deliveries []delivery `json:"deliveries"`
		Total      int        `json:"total"`
	}
	r.Decode(e.t, &out)
	return out.Deliveries
}

// send delivers a simulator webhook to the host.
func (e *env) send(spec gitlabsim.WebhookSpec) *gitlabsim.WebhookResult {
	e.t.Helper()
	spec.URL = e.base + "/v1/webhooks/gitlab"
	res, err := e.sim.SendWebhook(context.Background(), spec)
	if err != nil {
		e.t.Fatalf("send webhook: %v", err)
	}
	e.checkContract("POST", "/v1/webhooks/gitlab", response{Status: res.Status, Header: res.Headers, Body: res.Body})
	return res
}

// rows counts a table's rows (in-process hosts read the store; binary hosts
// open the database file).
func (e *env) rows(table string) int {
	e.t.Helper()
	db := e.st
	if db == nil {
		kr, err := secrets.Load(e.dataDir, "")
		if err != nil {
			e.t.Fatal(err)
		}
		s, err := store.OpenSQLite(context.Background(), e.dataDir, kr, store.Options{})
		if err != nil {
			e.t.Fatal(err)
		}
		defer s.Close()
		db = s
	}
	var n int
	if err := db.DB().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// assertNoSecretIn fails when any secret appears in the bytes.
func assertNoSecretIn(t *testing.T, what string, data []byte, secrets map[string]string) {
	t.Helper()
	for name, s := range secrets {
		if s != "" && bytes.Contains(data, []byte(s)) {
			t.Errorf("%s holds the %s in clear", what, name)
		}
	}
}

// databaseFiles reads the SQLite file and its WAL.
func databaseFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range []string{store.SQLiteFileName, store.SQLiteFileName + "-wal"} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out[name] = raw
	}
	if len(out[store.SQLiteFileName]) == 0 {
		t.Fatal("no database file to inspect")
	}
	return out
}
