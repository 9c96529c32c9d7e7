package host

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oore-ci/oore-scm-gitlab/host-test/contract"
	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
)

// tokenSelfPath is what the GitLab plugin asks about a personal token.
const tokenSelfPath = "/api/v4/personal_access_tokens/self"

// checkRig is the real GitLab plugin and the simulator, one database
// directory, and a host serving the API on it (more hosts on the same
// database with host()).
type checkRig struct {
	t     *testing.T
	sim   *gitlabsim.Server
	demo  gitlabsim.Demo
	reg   *launcher.Registry
	dir   string
	kr    *secrets.Keyring
	st    *store.SQL
	h     *Host
	api   *e2ekit.Client
	owner string
	logs  *e2ekit.Logs
	clock atomic.Int64 // the hosts' clock, Unix seconds
}

func newCheckRig(t *testing.T) *checkRig {
	t.Helper()
	ctx := context.Background()
	r := &checkRig{t: t, sim: gitlabsim.NewTestServer(t, gitlabsim.Options{}), logs: &e2ekit.Logs{}}
	r.clock.Store(time.Now().Unix())
	r.demo = r.sim.SeedDemo()
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
	r.reg = reg
	r.dir = t.TempDir()
	kr, err := secrets.Load(r.dir, "")
	if err != nil {
		t.Fatal(err)
	}
	r.kr = kr
	r.st = r.openStore()
	r.h = r.host(r.st)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: r.h.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	if r.owner, err = CreateToken(ctx, r.st, RoleOwner, "check-owner"); err != nil {
		t.Fatal(err)
	}
	v, err := contract.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	r.api = &e2ekit.Client{T: t, Base: base, HTTP: e2ekit.NoRedirectClient(), Contract: v}
	return r
}

func (r *checkRig) now() time.Time { return time.Unix(r.clock.Load(), 0) }

func (r *checkRig) advance(d time.Duration) { r.clock.Add(int64(d / time.Second)) }

// openStore opens the rig's database once more, as another host process would.
func (r *checkRig) openStore() *store.SQL {
	r.t.Helper()
	st, err := store.OpenSQLite(context.Background(), r.dir, r.kr, store.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { st.Close() })
	return st
}

// host is another host on st with the daily check configured but its loop
// not running: the test drives the rounds (runCredentialCheck) itself.
func (r *checkRig) host(st store.Store) *Host {
	r.t.Helper()
	h, err := New(Config{Now: r.now, Logger: hclog.New(&hclog.LoggerOptions{Output: r.logs, Level: hclog.Debug})}, st, r.kr, LauncherPlugins(r.reg))
	if err != nil {
		r.t.Fatal(err)
	}
	h.cfg.CredentialCheckInterval = DefaultCredentialCheckInterval
	r.t.Cleanup(func() { h.Close() })
	return h
}

// round runs one round on h and fails the test on an error.
func (r *checkRig) round(h *Host) credentialCheckRound {
	r.t.Helper()
	out, err := h.runCredentialCheck(r.t.Context())
	if err != nil {
		r.t.Fatalf("credentials check round: %v", err)
	}
	return out
}

// health is the integration as the API shows it.
type health struct {
	Status            string  `json:"status"`
	StatusReason      *string `json:"status_reason"`
	ReconnectRequired bool    `json:"reconnect_required"`
	TokenExpiresAt    *int64  `json:"token_expires_at"`
}

func (r *checkRig) health(id string) health {
	r.t.Helper()
	resp := r.api.Do(http.MethodGet, "/v1/integrations/"+id, r.owner, nil)
	if resp.Status != http.StatusOK {
		r.t.Fatalf("get integration: %d %s", resp.Status, resp.Body)
	}
	var out struct {
		Integration health `json:"integration"`
	}
	resp.Decode(r.t, &out)
	return out.Integration
}

// manualCheck runs POST .../gitlab-token/check and returns the health after it.
func (r *checkRig) manualCheck(id string) health {
	r.t.Helper()
	resp := r.api.Do(http.MethodPost, "/v1/integrations/"+id+"/gitlab-token/check", r.owner, nil)
	if resp.Status != http.StatusOK {
		r.t.Fatalf("manual check: %d %s", resp.Status, resp.Body)
	}
	return r.health(id)
}

func deref[T any](p *T) (v T) {
	if p != nil {
		v = *p
	}
	return v
}

// TestCredentialCheckRecordsARevokedToken: a round finds the personal
// token GitLab revoked and shows it on the integration exactly as the
// manual check does; an integration marked reconnect_required is not
// checked; the log names the change, never the token.
func TestCredentialCheckRecordsARevokedToken(t *testing.T) {
	t.Parallel()
	r := newCheckRig(t)
	id := r.api.StartPAT(r.owner, r.sim.URL, r.demo.Token)
	other := r.api.StartPAT(r.owner, r.sim.URL, r.demo.OtherToken)
	if err := r.st.MarkReconnectRequired(t.Context(), other, "test: the grant is gone"); err != nil {
		t.Fatal(err)
	}

	if got := r.round(r.h); !got.ran || got.checked != 1 || got.changed != 0 || got.failed != 0 {
		t.Fatalf("first round = %+v, want ran, 1 checked (the reconnect_required one skipped), none changed", got)
	}
	if h := r.health(id); h.Status != store.StatusActive {
		t.Fatalf("after a round with a good token: %+v", h)
	}

	r.sim.RevokeToken(r.demo.Token)
	r.sim.ResetRequests()
	r.advance(DefaultCredentialCheckInterval)
	if got := r.round(r.h); !got.ran || got.checked != 1 || got.changed != 1 || got.failed != 0 {
		t.Fatalf("round after the revocation = %+v, want 1 checked, 1 changed", got)
	}
	if n := r.sim.Requests(http.MethodGet, tokenSelfPath); n != 1 {
		t.Fatalf("%d requests to %s in the round, want 1 (the skipped integration is not asked about)", n, tokenSelfPath)
	}
	byRound := r.health(id)
	if byRound.Status != store.StatusError || !strings.HasPrefix(deref(byRound.StatusReason), "the personal access token is rejected") {
		t.Fatalf("after the round: status %q reason %q, want error, rejected", byRound.Status, deref(byRound.StatusReason))
	}
	if err := r.st.SetIntegrationStatus(t.Context(), id, store.StatusActive, ""); err != nil {
		t.Fatal(err)
	}
	byHand := r.manualCheck(id)
	if byHand.Status != byRound.Status || deref(byHand.StatusReason) != deref(byRound.StatusReason) {
		t.Fatalf("the manual check shows %q %q, the round %q %q", byHand.Status, deref(byHand.StatusReason), byRound.Status, deref(byRound.StatusReason))
	}
	logs := r.logs.String()
	if !strings.Contains(logs, "integration credentials changed") || !strings.Contains(logs, id) ||
		!strings.Contains(logs, "credentials check round done") || !strings.Contains(logs, "changed=1") {
		t.Fatalf("the log does not say what the round changed:\n%s", logs)
	}
	for _, secret := range []string{r.demo.Token, r.demo.OtherToken} {
		if strings.Contains(logs, secret) {
			t.Fatal("a token is in the log")
		}
	}
}

// TestCredentialCheckUpdatesTokenExpiry: a round records a personal
// token's expiry as GitLab reports it (the record's was stale) and keeps an
// expiring token's integration active; the manual check agrees.
func TestCredentialCheckUpdatesTokenExpiry(t *testing.T) {
	t.Parallel()
	r := newCheckRig(t)
	id := r.api.StartPAT(r.owner, r.sim.URL, r.demo.Token)
	soon := r.sim.Now().Add(10 * 24 * time.Hour)
	pat := r.sim.AddPersonalAccessToken(r.demo.User.ID, "expiring", []string{"api", "read_repository"}, &soon, false)
	in, err := r.st.GetIntegration(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	stale := in.TokenExpiresAt
	// The integration's token changed to one expiring in ten days while the
	// record kept the old expiry.
	err = r.st.ConnectIntegration(t.Context(), id, store.Connection{HostURL: in.HostURL, DisplayName: in.DisplayName, AccountID: in.AccountID,
		AccountUsername: in.AccountUsername, Scopes: in.Scopes, Credentials: store.Credentials{AccessToken: pat, ExpiresAt: stale}})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := r.sim.PersonalAccessTokenInfo(pat)
	want := info.ExpiresAt.Unix()
	if stale == want {
		t.Fatal("the test's tokens expire on the same day")
	}

	if got := r.round(r.h); !got.ran || got.checked != 1 || got.changed != 1 {
		t.Fatalf("round = %+v, want 1 checked, 1 changed", got)
	}
	h := r.health(id)
	if deref(h.TokenExpiresAt) != want || h.Status != store.StatusActive {
		t.Fatalf("after the round: token_expires_at %d status %q, want %d (GitLab's), active", deref(h.TokenExpiresAt), h.Status, want)
	}
	if byHand := r.manualCheck(id); deref(byHand.TokenExpiresAt) != want || byHand.Status != h.Status {
		t.Fatalf("the manual check shows %+v, the round %+v", byHand, h)
	}
}

// TestCredentialCheckLeavesHealthWhenGitLabIsDown: while GitLab does not
// answer, a round changes nothing (a revoked token stays "active") and
// counts the failure; once GitLab answers, the next round records it.
func TestCredentialCheckLeavesHealthWhenGitLabIsDown(t *testing.T) {
	t.Parallel()
	r := newCheckRig(t)
	id := r.api.StartPAT(r.owner, r.sim.URL, r.demo.Token)
	before := r.health(id)
	r.sim.RevokeToken(r.demo.Token)
	r.sim.FailNext(1000, http.StatusBadGateway)
	got := r.round(r.h)
	if !got.ran || got.checked != 1 || got.failed != 1 || got.changed != 0 {
		t.Fatalf("round while GitLab is down = %+v, want 1 checked, 1 failed, none changed", got)
	}
	if after := r.health(id); after.Status != before.Status || deref(after.StatusReason) != deref(before.StatusReason) ||
		deref(after.TokenExpiresAt) != deref(before.TokenExpiresAt) {
		t.Fatalf("GitLab down changed the health: %+v, was %+v", after, before)
	}
	if logs := r.logs.String(); !strings.Contains(logs, "did not answer the credentials check") {
		t.Fatalf("the log does not say GitLab did not answer:\n%s", logs)
	}

	r.sim.FailNext(0, 0)
	r.advance(DefaultCredentialCheckInterval)
	if got := r.round(r.h); got.changed != 1 || got.failed != 0 {
		t.Fatalf("round once GitLab answers = %+v, want 1 changed", got)
	}
	if h := r.health(id); h.Status != store.StatusError {
		t.Fatalf("once GitLab answers the revoked token shows %+v", h)
	}
}

// TestCredentialCheckOneRoundAcrossHosts: two hosts on one database racing
// for rounds run one between them (GitLab is asked once); no host runs
// another before the interval has passed, not even one started afresh;
// after it, a round runs again.
func TestCredentialCheckOneRoundAcrossHosts(t *testing.T) {
	t.Parallel()
	r := newCheckRig(t)
	r.api.StartPAT(r.owner, r.sim.URL, r.demo.Token)
	b := r.host(r.openStore())
	r.sim.ResetRequests()

	hosts := []*Host{r.h, b, r.h, b, r.h, b}
	var wg sync.WaitGroup
	var ran atomic.Int32
	start := make(chan struct{})
	for _, h := range hosts {
		wg.Go(func() {
			<-start
			out, err := h.runCredentialCheck(t.Context())
			if err != nil {
				t.Errorf("round: %v", err)
			}
			if out.ran {
				ran.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := ran.Load(); n != 1 {
		t.Fatalf("%d rounds ran on two hosts, want 1", n)
	}
	if n := r.sim.Requests(http.MethodGet, tokenSelfPath); n != 1 {
		t.Fatalf("GitLab was asked %d times about the token, want 1", n)
	}

	restarted := r.host(r.openStore())
	r.advance(DefaultCredentialCheckInterval - time.Minute)
	for _, h := range []*Host{r.h, b, restarted} {
		if got := r.round(h); got.ran {
			t.Fatalf("a round ran %s before it was due: %+v", time.Minute, got)
		}
	}
	if n := r.sim.Requests(http.MethodGet, tokenSelfPath); n != 1 {
		t.Fatalf("rounds that were not due asked GitLab %d more times", n-1)
	}
	r.advance(time.Minute)
	if got := r.round(restarted); !got.ran || got.checked != 1 {
		t.Fatalf("the round due now = %+v, want it run", got)
	}
	if n := r.sim.Requests(http.MethodGet, tokenSelfPath); n != 2 {
		t.Fatalf("GitLab was asked %d times after two rounds, want 2", n)
	}
}

// TestCredentialCheckStopsOnClose: Close during a round whose GitLab call
// hangs returns promptly, the round ends with it, and the round is not
// recorded as run (the next host to start runs it).
func TestCredentialCheckStopsOnClose(t *testing.T) {
	t.Parallel()
	r := newCheckRig(t)
	r.api.StartPAT(r.owner, r.sim.URL, r.demo.Token)
	h := r.host(r.openStore())
	r.sim.SetLatency(time.Minute)
	done := make(chan error, 1)
	go func() {
		_, err := h.runCredentialCheck(context.Background())
		done <- err
	}()
	// Wait until the round holds its lease and has had time to call GitLab.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := r.st.DB().QueryRow(`SELECT COUNT(*) FROM host_task_leases`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the round never took its lease")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	h.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a round stopped by Close reports success")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the round still runs 5 s after Close")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close and the round took %s to end", d)
	}
	r.sim.SetLatency(0)
	if got := r.round(r.h); !got.ran {
		t.Fatal("the round Close stopped was recorded as run")
	}
}

// TestCredentialCheckLoopRunsOnStart: a host configured with an interval
// runs the due round on its own, and Close stops its loop.
func TestCredentialCheckLoopRunsOnStart(t *testing.T) {
	t.Parallel()
	r := newCheckRig(t)
	id := r.api.StartPAT(r.owner, r.sim.URL, r.demo.Token)
	r.sim.RevokeToken(r.demo.Token)
	h, err := New(Config{Now: r.now, CredentialCheckInterval: time.Hour, Logger: hclog.New(&hclog.LoggerOptions{Output: r.logs})},
		r.openStore(), r.kr, LauncherPlugins(r.reg))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for r.health(id).Status != store.StatusError {
		if time.Now().After(deadline) {
			t.Fatalf("the host's loop did not check the revoked token within 20 s:\n%s", r.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { h.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the loop within 5 s")
	}
}
