package host

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/oore-ci/oore-scm-gitlab/host-test/contract"
	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
)

// intakeRig is a host with the real GitLab plugin (a subprocess) on a
// SQLite store, serving HTTP, and the GitLab simulator. The host reaches
// the plugin through a sessionTap, which records the session's receive
// answers (and can make the plugin look older than receive). Everything
// the host and the plugin log is kept.
type intakeRig struct {
	t      *testing.T
	sim    *gitlabsim.Server
	demo   gitlabsim.Demo
	h      *Host
	st     *store.SQL
	dir    string
	plugin *launcher.Plugin
	tap    *sessionTap
	api    *e2ekit.Client
	owner  string
	base   string
	logs   *e2ekit.Logs

	mu      sync.Mutex
	secrets map[string]string // secret → repository row id, for the leak checks
	answers [][]byte          // every webhook answer's body
}

func startIntakeRig(t *testing.T) *intakeRig {
	t.Helper()
	ctx := context.Background()
	r := &intakeRig{t: t, logs: &e2ekit.Logs{}, tap: &sessionTap{}, secrets: map[string]string{}}
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: r.logs})
	r.sim = gitlabsim.NewTestServer(t, gitlabsim.Options{})
	r.demo = r.sim.SeedDemo()
	plugins := t.TempDir()
	if err := os.Mkdir(filepath.Join(plugins, "gitlab"), 0o755); err != nil {
		t.Fatal(err)
	}
	plugintest.BuildGitLab(t, filepath.Join(plugins, "gitlab"))
	reg, errs := launcher.LaunchDir(ctx, plugins, launcher.Options{Logger: log.Named("plugins"),
		ChecksumCache: launcher.NewChecksumCache(), MinBackoff: 10 * time.Millisecond})
	if len(errs) > 0 {
		t.Fatalf("launch plugins: %v", errs)
	}
	t.Cleanup(func() { reg.Close() })
	r.plugin, _ = reg.Get("gitlab")
	r.dir = t.TempDir()
	kr, err := secrets.Load(r.dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.st, err = store.OpenSQLite(ctx, r.dir, kr, store.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.st.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.base = "http://" + ln.Addr().String()
	r.h, err = New(Config{PublicURL: r.base, Logger: log.Named("host")}, r.st, kr, tapPlugins{LauncherPlugins(reg), r.tap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.h.Close() }) // before the plugins close (cleanups run last first)
	srv := &http.Server{Handler: r.h.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	if r.owner, err = CreateToken(ctx, r.st, RoleOwner, "intake-owner"); err != nil {
		t.Fatal(err)
	}
	v, err := contract.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	r.api = &e2ekit.Client{T: t, Base: r.base, HTTP: e2ekit.NoRedirectClient(), Contract: v}
	return r
}

// connect makes an integration with a personal token and returns the id of
// its repository fullName.
func (r *intakeRig) connect(token, fullName string) (integrationID, repositoryID string) {
	r.t.Helper()
	integrationID = r.api.StartPAT(r.owner, r.sim.URL, token)
	return integrationID, r.api.FindRepository(r.owner, integrationID, fullName).ID
}

// webhookSecret makes or rotates a repository's secret through the API
// ("token" or "signing_token") and remembers it for the leak checks.
func (r *intakeRig) webhookSecret(repositoryID, kind string) string {
	r.t.Helper()
	secret, _ := r.api.WebhookSecret(r.owner, repositoryID, "?type="+kind)
	if secret == "" {
		r.t.Fatal("the host answered no webhook secret")
	}
	r.remember(repositoryID, secret)
	return secret
}

func (r *intakeRig) remember(repositoryID, secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets[secret] = repositoryID
}

// send delivers a push of the project signed or tokened with secret
// ("whsec_..." signs) and returns the answer. The sender waits up to a
// minute (GitLab waits 10 s): under -race on a busy machine, eight
// concurrent SQLite writers can take seconds, which is not what these tests
// are about.
func (r *intakeRig) send(project int64, secret string, payload []byte) *gitlabsim.WebhookResult {
	spec := gitlabsim.WebhookSpec{ProjectID: project, Kind: "push", URL: r.base + "/v1/webhooks/gitlab", Payload: payload,
		HTTPClient: &http.Client{Timeout: time.Minute}}
	if strings.HasPrefix(secret, "whsec_") {
		spec.SigningToken = secret
	} else {
		spec.SecretToken = secret
	}
	res, err := r.sim.SendWebhook(context.Background(), spec)
	if err != nil {
		r.t.Errorf("send a delivery: %v", err)
		return &gitlabsim.WebhookResult{}
	}
	r.mu.Lock()
	r.answers = append(r.answers, res.Body)
	r.mu.Unlock()
	return res
}

// accepted sends a delivery that must be stored, and returns what it cost
// in plugin calls, by method.
func (r *intakeRig) accepted(what string, project int64, secret string) map[string]int {
	r.t.Helper()
	before := r.calls()
	res := r.send(project, secret, nil)
	if res.Status != http.StatusOK || !bytes.Contains(res.Body, []byte(`"ok":true`)) || bytes.Contains(res.Body, []byte("duplicate")) {
		r.t.Fatalf("%s: %d %s, want 200 and stored", what, res.Status, res.Body)
	}
	return diff(before, r.calls())
}

// refused sends a delivery that must be answered 401 invalid_token and not
// stored, and returns what it cost.
func (r *intakeRig) refused(what string, project int64, secret string) map[string]int {
	r.t.Helper()
	before, stored := r.calls(), r.stored()
	res := r.send(project, secret, nil)
	if res.Status != http.StatusUnauthorized || !bytes.Contains(res.Body, []byte(`"invalid_token"`)) {
		r.t.Fatalf("%s: %d %s, want 401 invalid_token", what, res.Status, res.Body)
	}
	if n := r.stored(); n != stored {
		r.t.Fatalf("%s: refused, yet %d deliveries stored (was %d)", what, n, stored)
	}
	return diff(before, r.calls())
}

// calls is the host's plugin call count per method (any code), from its
// metrics.
func (r *intakeRig) calls() map[string]int {
	r.t.Helper()
	fams, err := r.h.metrics.reg.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string]int{}
	for _, f := range fams {
		if f.GetName() != "oore_host_plugin_calls_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" {
					out[l.GetValue()] += int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return out
}

func diff(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// wantCost fails unless a delivery cost exactly these plugin calls.
func wantCost(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Fatalf("%s cost the plugin calls %v, want %v", what, got, want)
	}
}

func (r *intakeRig) stored() int64 {
	r.t.Helper()
	n, err := r.st.CountDeliveries(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

// newest is the last delivery the host stored.
func (r *intakeRig) newest() store.Delivery {
	r.t.Helper()
	ds, _, err := r.st.ListDeliveries(context.Background(), store.DeliveryQuery{Limit: 1})
	if err != nil || len(ds) != 1 {
		r.t.Fatalf("newest delivery: %v, %v", ds, err)
	}
	return ds[0]
}

// noSecretsShown fails when any secret the test saw, the part of a signing
// token after whsec_, or any reference the host made of them, appears in
// the host's or the plugin's log, in a webhook answer, or in the database.
func (r *intakeRig) noSecretsShown() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	needles := map[string]string{}
	for secret, repo := range r.secrets {
		needles[secret] = "a webhook secret"
		if key, ok := strings.CutPrefix(secret, "whsec_"); ok {
			needles[key] = "a signing key"
		}
		needles[r.h.refs.of(repo, secret)] = "a secret reference"
	}
	places := map[string][]byte{"the log": []byte(r.logs.String()), "the webhook answers": bytes.Join(r.answers, []byte("\n"))}
	for _, name := range []string{store.SQLiteFileName, store.SQLiteFileName + "-wal"} {
		if raw, err := os.ReadFile(filepath.Join(r.dir, name)); err == nil {
			places["the database ("+name+")"] = raw
		}
	}
	if len(places["the log"]) == 0 {
		r.t.Error("nothing was logged: the leak check would see nothing")
	}
	for where, data := range places {
		for needle, what := range needles {
			if bytes.Contains(data, []byte(needle)) {
				r.t.Errorf("%s holds %s", where, what)
			}
		}
	}
}

// TestWebhookSessionIntake: a repository's first delivery costs two plugin
// calls (receive, then verify with the secret and its reference), later
// ones one (receive verifies with the secret the session holds). After the
// secret is rotated through the API, the session still holds the old one
// and verifies a delivery made with it, naming its old reference: the host
// refuses that delivery (401) and accepts one with the new secret, after
// which deliveries cost one call again. Nothing shows a secret or a
// reference.
func TestWebhookSessionIntake(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"token", "signing_token"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			r := startIntakeRig(t)
			integrationID, repo := r.connect(r.demo.Token, "oore-demo/mobile/flutter-app")
			project := r.demo.FlutterApp.ID
			old := r.webhookSecret(repo, kind)
			if got := strings.HasPrefix(old, "whsec_"); got != (kind == "signing_token") {
				t.Fatalf("a %s secret starts %.6q", kind, old)
			}
			oneCall := map[string]int{"ReceiveWebhook": 1}
			twoCalls := map[string]int{"ReceiveWebhook": 1, "VerifyWebhook": 1}

			wantCost(t, "the first delivery", r.accepted("the first delivery", project, old), twoCalls)
			for i := range 3 {
				what := fmt.Sprintf("delivery %d", i+2)
				wantCost(t, what, r.accepted(what, project, old), oneCall)
			}
			if d := r.newest(); d.IntegrationID != integrationID || d.RepositoryID != repo || !d.Triggered {
				t.Fatalf("the delivery was stored as %+v", d)
			}
			if a := r.tap.lastReceive(); a.GetVerified() == nil || a.GetSecretRef() != r.h.refs.of(repo, old) {
				t.Fatalf("the plugin's receive answered verified %v with reference %q, want verified with the secret's reference", a.GetVerified() != nil, a.GetSecretRef())
			}

			current := r.webhookSecret(repo, kind)
			if current == old {
				t.Fatal("rotation kept the secret")
			}
			cost := r.refused("the old secret after rotation", project, old)
			a := r.tap.lastReceive()
			if a.GetVerified() == nil || a.GetSecretRef() != r.h.refs.of(repo, old) {
				t.Fatalf("the session answered verified %v with reference %q: the test needs it to still hold the old secret", a.GetVerified() != nil, a.GetSecretRef())
			}
			wantCost(t, "the old secret after rotation", cost, twoCalls)
			wantCost(t, "the new secret's first delivery", r.accepted("the new secret", project, current), twoCalls)
			wantCost(t, "the new secret's next delivery", r.accepted("the new secret again", project, current), oneCall)
			wantCost(t, "the old secret once the session holds the new one", r.refused("the old secret again", project, old), twoCalls)
			if a := r.tap.lastReceive(); a.GetVerified() != nil {
				t.Fatal("the session verified the old secret after learning the new one")
			}
			wantCost(t, "the new secret after a refusal", r.accepted("the new secret after a refusal", project, current), oneCall)
			if n := r.stored(); n != 7 {
				t.Fatalf("%d deliveries stored, want 7", n)
			}
			if opens := r.tap.opens.Load(); opens != 1 {
				t.Fatalf("%d webhook sessions opened, want 1", opens)
			}
			r.noSecretsShown()
		})
	}
}

// TestWebhookSessionTwoIntegrations: one project in two integrations (two
// GitLab users' connections), each with its own secret. Deliveries with
// either secret are accepted and stored against the integration whose
// secret they carry, in any order; one with neither is refused. The session
// holds one secret per project, so a switch of secret costs a verify, and
// a repeat does not.
func TestWebhookSessionTwoIntegrations(t *testing.T) {
	t.Parallel()
	r := startIntakeRig(t)
	project := r.demo.FlutterApp.ID // demo owns it, alice is a developer
	demoIntegration, demoRepo := r.connect(r.demo.Token, "oore-demo/mobile/flutter-app")
	aliceIntegration, aliceRepo := r.connect(r.demo.OtherToken, "oore-demo/mobile/flutter-app")
	if demoIntegration == aliceIntegration || demoRepo == aliceRepo {
		t.Fatalf("one integration (%s, %s) for two users", demoIntegration, aliceIntegration)
	}
	demoSecret := r.webhookSecret(demoRepo, "token")
	aliceSecret := r.webhookSecret(aliceRepo, "signing_token")
	owner := map[string]string{demoSecret: demoIntegration, aliceSecret: aliceIntegration}
	name := map[string]string{demoSecret: "demo's", aliceSecret: "alice's"}

	for i, secret := range []string{demoSecret, demoSecret, aliceSecret, aliceSecret, demoSecret, aliceSecret, demoSecret, aliceSecret} {
		what := fmt.Sprintf("delivery %d, with %s secret", i+1, name[secret])
		cost := r.accepted(what, project, secret)
		if d := r.newest(); d.IntegrationID != owner[secret] {
			t.Fatalf("%s was stored for integration %s, want %s", what, d.IntegrationID, owner[secret])
		}
		if i == 1 || i == 3 {
			wantCost(t, what+" (a repeat)", cost, map[string]int{"ReceiveWebhook": 1})
		} else if cost["ReceiveWebhook"] != 1 || cost["VerifyWebhook"] < 1 || cost["VerifyWebhook"] > 2 || len(cost) != 2 {
			t.Fatalf("%s cost %v, want a receive and one verify per integration tried", what, cost)
		}
	}
	stranger := "not-a-secret-of-either-integration"
	r.remember(demoRepo, stranger)
	wantCost(t, "a third secret", r.refused("a third secret", project, stranger), map[string]int{"ReceiveWebhook": 1, "VerifyWebhook": 2})
	for integration, want := range map[string]int64{demoIntegration: 4, aliceIntegration: 4} {
		if _, n, err := r.st.ListDeliveries(context.Background(), store.DeliveryQuery{IntegrationID: integration, Limit: 1}); err != nil || n != want {
			t.Fatalf("integration %s has %d deliveries (%v), want %d", integration, n, err, want)
		}
	}
	r.noSecretsShown()
}

// TestWebhookSessionPluginKilledMidFlood: the plugin is SIGKILLed while
// deliveries stream in over its webhook session. Each delivery is either
// answered ok and stored with its build, or answered 503 (GitLab resends
// it); none is stored without its build. After the restart the host opens a
// new session, which holds no secret: the next delivery costs receive and
// verify, the one after receive only.
func TestWebhookSessionPluginKilledMidFlood(t *testing.T) {
	t.Parallel()
	r := startIntakeRig(t)
	_, repo := r.connect(r.demo.Token, "oore-demo/mobile/flutter-app")
	project := r.demo.FlutterApp.ID
	secret := r.webhookSecret(repo, "token")
	r.accepted("the first delivery", project, secret)
	// One real push payload, sent many times: each send has its own
	// Idempotency-Key, so each is a new delivery (and no git work per send).
	payload := r.send(project, secret, nil).Payload
	before, storedBefore := r.calls(), r.stored()

	const total, workers, killAt = 300, 8, 60
	var sent, ok, unavailable atomic.Int64
	var other sync.Map
	var killOnce sync.Once
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				if sent.Add(1) == killAt {
					killOnce.Do(func() {
						if pid := r.plugin.Pid(); pid != 0 {
							_ = syscall.Kill(pid, syscall.SIGKILL)
						} else {
							t.Error("the plugin has no pid to kill")
						}
					})
				}
				res := r.send(project, secret, payload)
				switch {
				case res.Status == http.StatusOK && bytes.Contains(res.Body, []byte(`"ok":true`)) && !bytes.Contains(res.Body, []byte("duplicate")):
					ok.Add(1)
				case res.Status == http.StatusServiceUnavailable && bytes.Contains(res.Body, []byte("plugin_unavailable")):
					unavailable.Add(1)
				default:
					other.Store(fmt.Sprintf("%d %s", res.Status, res.Body), true)
				}
			}
		})
	}
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	other.Range(func(k, _ any) bool {
		t.Errorf("an answer neither ok nor 503: %v", k)
		return true
	})
	cost := diff(before, r.calls())
	stored := r.stored() - storedBefore
	t.Logf("%d ok, %d answered 503, %d stored; plugin calls %v", ok.Load(), unavailable.Load(), stored, cost)
	if stored != ok.Load() {
		t.Fatalf("%d deliveries stored but %d answered ok", stored, ok.Load())
	}
	if ok.Load()+unavailable.Load() != total {
		t.Fatalf("%d ok + %d answered 503 != %d sent", ok.Load(), unavailable.Load(), total)
	}
	if ok.Load() < killAt/2 || cost["ReceiveWebhook"] < int(ok.Load()) || cost["IdentifyWebhook"] != 0 {
		t.Fatalf("the flood cost %v for %d stored: the deliveries did not go over the session", cost, ok.Load())
	}
	var builds int64
	if err := r.st.DB().QueryRow(`SELECT COUNT(*) FROM build_triggers`).Scan(&builds); err != nil {
		t.Fatal(err)
	}
	if builds != r.stored() {
		t.Fatalf("%d builds for %d stored pushes", builds, r.stored())
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.plugin.Restarts() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if r.plugin.Restarts() == 0 {
		t.Fatal("the killed plugin was not restarted")
	}
	// A delivery caught between the restart and the session's reopening may
	// still answer 503; GitLab would resend it.
	var res *gitlabsim.WebhookResult
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		before = r.calls()
		if res = r.send(project, secret, nil); res.Status != http.StatusServiceUnavailable {
			break
		}
	}
	if res.Status != http.StatusOK {
		t.Fatalf("the first delivery after the restart: %d %s", res.Status, res.Body)
	}
	// The flood's last deliveries may have taught the new session already.
	if cost := diff(before, r.calls()); cost["ReceiveWebhook"] != 1 || cost["VerifyWebhook"] > 1 || cost["IdentifyWebhook"] != 0 {
		t.Fatalf("the first delivery after the restart cost %v, want a receive and at most one verify", cost)
	}
	wantCost(t, "the next one", r.accepted("the next one", project, secret), map[string]int{"ReceiveWebhook": 1})
	if opens := r.tap.opens.Load(); opens < 2 {
		t.Fatalf("%d webhook sessions opened, want a new one after the restart", opens)
	}
	r.noSecretsShown()
}

// TestWebhookSessionPluginWithoutReceive: a plugin whose session does not
// know receive (built before it existed: it answers InvalidArgument on the
// field "call"; or one that answers unknown calls Unimplemented) gets
// IdentifyWebhook and VerifyWebhook, as before sessions. The host learns
// that once per plugin process: later deliveries do not try receive until
// the plugin restarts, when a newer binary may answer it.
func TestWebhookSessionPluginWithoutReceive(t *testing.T) {
	t.Parallel()
	for name, old := range map[string]func(*scmv1.WebhookSessionRequest) *scmv1.WebhookSessionRequest{
		"invalid argument": func(req *scmv1.WebhookSessionRequest) *scmv1.WebhookSessionRequest {
			return &scmv1.WebhookSessionRequest{Id: req.GetId()} // what a session built before receive reads
		},
		"unimplemented": func(req *scmv1.WebhookSessionRequest) *scmv1.WebhookSessionRequest {
			out := &scmv1.WebhookSessionRequest{Id: req.GetId()} // a call kind newer than the session
			out.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 99, protowire.BytesType), []byte("new")))
			return out
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := startIntakeRig(t)
			r.tap.setOld(old)
			_, repo := r.connect(r.demo.Token, "oore-demo/mobile/flutter-app")
			project := r.demo.FlutterApp.ID
			secret := r.webhookSecret(repo, "token")
			unary := map[string]int{"IdentifyWebhook": 1, "VerifyWebhook": 1}

			first := r.accepted("the first delivery", project, secret)
			wantCost(t, "the first delivery", first, map[string]int{"ReceiveWebhook": 1, "IdentifyWebhook": 1, "VerifyWebhook": 1})
			for i := range 2 {
				what := fmt.Sprintf("delivery %d", i+2)
				wantCost(t, what, r.accepted(what, project, secret), unary)
			}
			r.refused("a wrong secret", project, "wrong-secret")
			if n := strings.Count(r.logs.String(), "does not answer receive"); n != 1 {
				t.Fatalf("the refusal was logged %d times, want once", n)
			}
			if n := r.tap.verifies.Load(); n != 0 {
				t.Fatalf("%d verify calls went over a session that refused receive, want the unary VerifyWebhook", n)
			}

			// The plugin restarts as one that answers receive.
			r.tap.setOld(nil)
			restarts := r.plugin.Restarts()
			if err := syscall.Kill(r.plugin.Pid(), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(10 * time.Second); r.plugin.Restarts() == restarts && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			var res *gitlabsim.WebhookResult
			var before map[string]int
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				before = r.calls()
				if res = r.send(project, secret, nil); res.Status != http.StatusServiceUnavailable {
					break
				}
			}
			if res.Status != http.StatusOK {
				t.Fatalf("the first delivery after the restart: %d %s", res.Status, res.Body)
			}
			wantCost(t, "the first delivery after the restart", diff(before, r.calls()), map[string]int{"ReceiveWebhook": 1, "VerifyWebhook": 1})
			wantCost(t, "the next one", r.accepted("the next one", project, secret), map[string]int{"ReceiveWebhook": 1})
			r.noSecretsShown()
		})
	}
}

// tapPlugins hands the host its plugins with their clients wrapped in tap.
type tapPlugins struct {
	Plugins
	tap *sessionTap
}

func (p tapPlugins) Get(name string) (Plugin, bool) {
	pl, ok := p.Plugins.Get(name)
	if !ok {
		return nil, false
	}
	return tapPlugin{pl, p.tap}, true
}

type tapPlugin struct {
	Plugin
	tap *sessionTap
}

func (p tapPlugin) Provider() scmv1.ProviderServiceClient {
	return tapClient{p.Plugin.Provider(), p.tap}
}

// sessionTap sits between the host and the real plugin on WebhookSession
// streams: it counts the streams opened and the verify calls sent, keeps
// the last receive answer, and, when old is set, rewrites each receive call
// as a plugin without receive would read it (the plugin answers it).
type sessionTap struct {
	opens, verifies atomic.Int64

	mu   sync.Mutex
	last *scmv1.ReceiveWebhookResponse
	old  func(*scmv1.WebhookSessionRequest) *scmv1.WebhookSessionRequest
}

func (t *sessionTap) setOld(f func(*scmv1.WebhookSessionRequest) *scmv1.WebhookSessionRequest) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.old = f
}

func (t *sessionTap) lastReceive() *scmv1.ReceiveWebhookResponse {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

type tapClient struct {
	scmv1.ProviderServiceClient
	tap *sessionTap
}

func (c tapClient) WebhookSession(ctx context.Context, opts ...grpc.CallOption) (grpc.BidiStreamingClient[scmv1.WebhookSessionRequest, scmv1.WebhookSessionResponse], error) {
	s, err := c.ProviderServiceClient.WebhookSession(ctx, opts...)
	if err != nil {
		return nil, err
	}
	c.tap.opens.Add(1)
	return tapStream{s, c.tap}, nil
}

type tapStream struct {
	grpc.BidiStreamingClient[scmv1.WebhookSessionRequest, scmv1.WebhookSessionResponse]
	tap *sessionTap
}

func (s tapStream) Send(req *scmv1.WebhookSessionRequest) error {
	switch req.GetCall().(type) {
	case *scmv1.WebhookSessionRequest_Verify:
		s.tap.verifies.Add(1)
	case *scmv1.WebhookSessionRequest_Receive:
		s.tap.mu.Lock()
		old := s.tap.old
		s.tap.mu.Unlock()
		if old != nil {
			req = old(req)
		}
	}
	return s.BidiStreamingClient.Send(req)
}

func (s tapStream) Recv() (*scmv1.WebhookSessionResponse, error) {
	resp, err := s.BidiStreamingClient.Recv()
	if r, ok := resp.GetResult().(*scmv1.WebhookSessionResponse_Receive); ok {
		s.tap.mu.Lock()
		s.tap.last = proto.Clone(r.Receive).(*scmv1.ReceiveWebhookResponse)
		s.tap.mu.Unlock()
	}
	return resp, err
}
