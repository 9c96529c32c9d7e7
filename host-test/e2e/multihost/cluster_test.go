package multihost

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for assertions

	"github.com/oore-ci/oore-scm-gitlab/host-test/contract"
	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/host-test/pgtest"
)

// publicURL is the load balancer's URL every host is configured with: the
// OAuth redirect URI and webhook URLs name it, whichever host builds them.
// Nothing listens there; the test routes each request to a host itself.
const publicURL = "https://oore-lb.test"

// callbackPath is where the provider sends the browser back.
const callbackPath = "/v1/integrations/gitlab/callback"

// cluster is several oore-host processes on one database, the simulator,
// and an owner token every host accepts.
type cluster struct {
	t     *testing.T
	sim   *gitlabsim.Server
	demo  gitlabsim.Demo
	owner string
	// key is OORE_ENCRYPTION_KEY, the same on every host.
	key string
	// dbURL is the PostgreSQL database ("" for SQLite in sqliteDir).
	dbURL     string
	sqliteDir string
	hosts     []*e2ekit.Host
	client    *http.Client
	contract  *contract.Validator
}

// newPostgresCluster starts n hosts on a fresh PostgreSQL database.
func newPostgresCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := newCluster(t)
	c.dbURL = pgtest.NewDatabase(t)
	c.start(n)
	return c
}

// newSQLiteCluster starts one host on its SQLite database (a data directory
// is one host's; SQLite is for a single host).
func newSQLiteCluster(t *testing.T) *cluster {
	t.Helper()
	c := newCluster(t)
	c.sqliteDir = t.TempDir()
	c.start(1)
	return c
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	sim := gitlabsim.NewTestServer(t, gitlabsim.Options{})
	v, err := contract.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key) // never fails (Go 1.24+)
	return &cluster{
		t: t, sim: sim, demo: sim.SeedDemo(), owner: secrets.RandomToken("oore_", 32),
		key:      base64.StdEncoding.EncodeToString(key),
		client:   e2ekit.NoRedirectClient(),
		contract: v,
	}
}

// start launches n hosts at once (they migrate the database together) and
// waits until every one is healthy.
func (c *cluster) start(n int) {
	c.t.Helper()
	for i := range n {
		c.hosts = append(c.hosts, c.launch(fmt.Sprintf("host-%c", 'A'+i)))
	}
	for _, h := range c.hosts {
		h.WaitHealthy(60*time.Second, 25*time.Millisecond)
	}
}

func (c *cluster) launch(name string) *e2ekit.Host {
	c.t.Helper()
	env := []string{"OORE_BOOTSTRAP_TOKEN=" + c.owner, "OORE_ENCRYPTION_KEY=" + c.key}
	if c.dbURL != "" {
		env = append(env, "OORE_DATABASE_URL="+c.dbURL) // not --database: no password in the process list
	}
	return e2ekit.StartHost(c.t, e2ekit.HostConfig{
		Binary: built.Host, Name: name, PublicURL: publicURL,
		DataDir:    c.sqliteDir, // "" for PostgreSQL: a fresh directory whose key file is not used (OORE_ENCRYPTION_KEY is set)
		PluginsDir: built.Plugins, LogLevel: "debug", Env: env,
	})
}

// host picks a host round-robin by index.
func (c *cluster) host(i int) *e2ekit.Host { return c.hosts[i%len(c.hosts)] }

// response is one HTTP answer.
type response = e2ekit.Response

// api is the owner's client of host h's API; it checks every answer
// against Oore's contract.
func (c *cluster) api(h *e2ekit.Host) *e2ekit.Client {
	return &e2ekit.Client{T: c.t, Base: h.URL, HTTP: c.client, Contract: c.contract}
}

// do calls the API of host h as the owner and checks the answer against
// Oore's contract. It may be called from several goroutines; it reports
// transport errors with Errorf and answers Status 0 then.
func (c *cluster) do(h *e2ekit.Host, method, path string, body any) response {
	r, err := c.api(h).Call(method, path, c.owner, body)
	if err != nil {
		c.t.Errorf("on %s: %v", h.Name, err)
		return response{}
	}
	return r
}

// startPAT connects the demo user with a personal token on host h and
// returns the integration id.
func (c *cluster) startPAT(h *e2ekit.Host) string {
	c.t.Helper()
	return c.api(h).StartPAT(c.owner, c.sim.URL, c.demo.Token)
}

// repository finds an integration's repository by full name, on host h.
func (c *cluster) repository(h *e2ekit.Host, integrationID, fullName string) e2ekit.Repository {
	c.t.Helper()
	return c.api(h).FindRepository(c.owner, integrationID, fullName)
}

// webhookSecret makes or rotates a repository's webhook secret on host h.
func (c *cluster) webhookSecret(h *e2ekit.Host, repositoryID string) string {
	c.t.Helper()
	secret, webhookURL := c.api(h).WebhookSecret(c.owner, repositoryID, "")
	if secret == "" || webhookURL != publicURL+"/v1/webhooks/gitlab" {
		c.t.Fatalf("webhook secret answer: secret set %v, webhook_url %q", secret != "", webhookURL)
	}
	return secret
}

// send has the simulator deliver a webhook to host h. A delivery that got no
// answer (the host is down) returns an error.
func (c *cluster) send(ctx context.Context, h *e2ekit.Host, spec gitlabsim.WebhookSpec) (*gitlabsim.WebhookResult, error) {
	spec.URL = h.URL + "/v1/webhooks/gitlab"
	res, err := c.sim.SendWebhook(ctx, spec)
	if err != nil {
		return res, err
	}
	if res.Status == 0 {
		return res, fmt.Errorf("no answer from %s", h.Name)
	}
	c.api(h).CheckContract("POST", "/v1/webhooks/gitlab", response{Status: res.Status, Header: res.Headers, Body: res.Body})
	return res, nil
}

// webhookAnswer classifies a delivery's answer.
func webhookAnswer(res *gitlabsim.WebhookResult) (ok, duplicate bool) {
	if res == nil || res.Status != http.StatusOK {
		return false, false
	}
	var out struct {
		OK        bool `json:"ok"`
		Duplicate bool `json:"duplicate"`
	}
	if json.Unmarshal(res.Body, &out) != nil {
		return false, false
	}
	return out.OK, out.Duplicate
}

// db opens the cluster's database for assertions (never for setup: the
// hosts do all the writing).
func (c *cluster) db() *sql.DB {
	c.t.Helper()
	if c.dbURL == "" {
		kr, err := secrets.New(mustKey(c.t, c.key))
		if err != nil {
			c.t.Fatal(err)
		}
		s, err := store.OpenSQLite(context.Background(), c.sqliteDir, kr, store.Options{})
		if err != nil {
			c.t.Fatal(err)
		}
		c.t.Cleanup(func() { s.Close() })
		return s.DB()
	}
	db, err := sql.Open("pgx", c.dbURL)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { db.Close() })
	return db
}

func mustKey(t *testing.T, b64 string) []byte {
	t.Helper()
	k, err := secrets.ParseKey(b64)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// count runs a COUNT query with no parameters.
func count(t *testing.T, db *sql.DB, query string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// assertNoSecretInLogs fails when a host logged a secret.
func (c *cluster) assertNoSecretInLogs(used map[string]string) {
	c.t.Helper()
	for _, h := range c.hosts {
		logs := h.Logs.Bytes()
		for name, s := range used {
			if s != "" && bytes.Contains(logs, []byte(s)) {
				c.t.Errorf("%s logged the %s", h.Name, name)
			}
		}
	}
}
