package e2e

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// TestPluginKilledDuringWebhookStream: the plugin is SIGKILLed while 500
// deliveries stream in. Every delivery is either answered ok and stored, or
// answered 503 (so GitLab resends it): no accepted delivery is lost.
func TestPluginKilledDuringWebhookStream(t *testing.T) {
	t.Parallel()
	e := startInProcess(t, hostConfig())
	id := e.startPAT()
	app := e.repository(id, "oore-demo/mobile/flutter-app")
	secret := e.webhookSecret(app.ID, "")
	// One real push payload, sent 500 times: each send has its own
	// Idempotency-Key, so each is a new delivery (and no git work per send).
	first := e.send(gitlabsim.WebhookSpec{ProjectID: e.demo.FlutterApp.ID, Kind: "push", SecretToken: "not-the-secret"})
	if first.Status != 401 {
		t.Fatalf("a wrong secret: %d %s", first.Status, first.Body)
	}
	payload := first.Payload
	plugin, _ := e.reg.Get("gitlab")
	const total, workers, killAt = 500, 8, 100
	var sent, ok, unavailable atomic.Int64
	var other sync.Map
	var killOnce sync.Once
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				if sent.Add(1) == killAt {
					killOnce.Do(func() {
						pid := plugin.Pid()
						if pid == 0 {
							t.Error("plugin has no pid to kill")
							return
						}
						_ = syscall.Kill(pid, syscall.SIGKILL)
					})
				}
				res, err := e.sim.SendWebhook(context.Background(), gitlabsim.WebhookSpec{
					Payload: payload, Kind: "push", SecretToken: secret, URL: e.base + "/v1/webhooks/gitlab"})
				switch {
				case err != nil:
					other.Store(err.Error(), true)
				case res.Status == 200 && strings.Contains(string(res.Body), `"ok":true`) && !strings.Contains(string(res.Body), "duplicate"):
					ok.Add(1)
				case res.Status == 503 && strings.Contains(string(res.Body), "plugin_unavailable"):
					unavailable.Add(1)
				default:
					other.Store(string(res.Body), true)
				}
			}
		}()
	}
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	other.Range(func(k, _ any) bool {
		t.Errorf("an answer that is neither ok nor 503: %v", k)
		return true
	})
	stored := e.rows("webhook_deliveries")
	t.Logf("%d ok, %d answered 503, %d stored, %d restarts", ok.Load(), unavailable.Load(), stored, plugin.Restarts())
	if int64(stored) != ok.Load() {
		t.Fatalf("%d deliveries stored but %d answered ok", stored, ok.Load())
	}
	if ok.Load()+unavailable.Load() != total {
		t.Fatalf("%d ok + %d unavailable != %d sent", ok.Load(), unavailable.Load(), total)
	}
	deadline := time.Now().Add(10 * time.Second)
	for plugin.Restarts() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if plugin.Restarts() == 0 {
		t.Fatal("the killed plugin was not restarted")
	}
	if builds := e.rows("build_triggers"); builds != stored {
		t.Fatalf("%d builds for %d stored pushes", builds, stored)
	}
	res, err := e.client.Get(e.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		fmt.Sprintf(`oore_host_webhook_deliveries_total{outcome="stored",provider="gitlab"} %d`, ok.Load()),
		`oore_host_plugin_restarts_total{provider="gitlab"} 1`,
		`oore_host_plugin_call_duration_seconds_bucket{method="VerifyWebhook",provider="gitlab"`,
		`oore_host_http_requests_total{code="200",method="POST",route="POST /v1/webhooks/{provider}"}`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if u := unavailable.Load(); u > 0 && !strings.Contains(string(metrics), fmt.Sprintf(`oore_host_webhook_deliveries_total{outcome="plugin_unavailable",provider="gitlab"} %d`, u)) {
		t.Errorf("/metrics does not count the %d deliveries answered 503", u)
	}
}

// TestStaleSignedDelivery: a delivery signed (webhook-signature) more than
// five minutes ago is refused and not stored; a fresh one is accepted.
func TestStaleSignedDelivery(t *testing.T) {
	t.Parallel()
	e := startInProcess(t, hostConfig())
	id := e.startPAT()
	app := e.repository(id, "oore-demo/mobile/flutter-app")
	key := e.webhookSecret(app.ID, "?type=signing_token")
	if !strings.HasPrefix(key, "whsec_") {
		t.Fatalf("signing token %q lacks whsec_", key)
	}
	res := e.send(gitlabsim.WebhookSpec{ProjectID: e.demo.FlutterApp.ID, Kind: "push", SigningToken: key, Timestamp: e.sim.Now().Add(-10 * time.Minute)})
	if res.Status != 401 || !strings.Contains(string(res.Body), "stale_delivery") {
		t.Fatalf("stale signed delivery: %d %s, want 401 stale_delivery", res.Status, res.Body)
	}
	if n := e.rows("webhook_deliveries"); n != 0 {
		t.Fatalf("a stale delivery was stored (%d rows)", n)
	}
	res = e.send(gitlabsim.WebhookSpec{ProjectID: e.demo.FlutterApp.ID, Kind: "push", SigningToken: key})
	if res.Status != 200 {
		t.Fatalf("fresh signed delivery: %d %s", res.Status, res.Body)
	}
	res = e.send(gitlabsim.WebhookSpec{ProjectID: e.demo.FlutterApp.ID, Kind: "push", SigningToken: gitlabsim.NewSigningToken()})
	if res.Status != 401 || !strings.Contains(string(res.Body), "invalid_token") {
		t.Fatalf("delivery signed with another key: %d %s, want 401", res.Status, res.Body)
	}
}

// TestDeleteBlockedByRunningBuild: 409 integration_has_active_builds while a
// build trigger runs; deleted once it is done.
func TestDeleteBlockedByRunningBuild(t *testing.T) {
	t.Parallel()
	e := startInProcess(t, hostConfig())
	id := e.startPAT()
	app := e.repository(id, "oore-demo/mobile/flutter-app")
	secret := e.webhookSecret(app.ID, "")
	if res := e.send(gitlabsim.WebhookSpec{ProjectID: e.demo.FlutterApp.ID, Kind: "push", SecretToken: secret}); res.Status != 200 {
		t.Fatalf("push: %d %s", res.Status, res.Body)
	}
	ds := e.deliveries()
	if len(ds) != 1 || len(ds[0].Builds) != 1 {
		t.Fatalf("deliveries: %+v", ds)
	}
	build := ds[0].Builds[0].ID
	if err := e.st.SetBuildTriggerStatus(context.Background(), build, store.TriggerRunning); err != nil {
		t.Fatal(err)
	}
	if r := e.do("DELETE", "/v1/integrations/"+id, e.owner, nil); r.Status != 409 || r.ErrorCode() != "integration_has_active_builds" {
		t.Fatalf("delete with a running build: %d %s", r.Status, r.Body)
	}
	if res := e.send(gitlabsim.WebhookSpec{ProjectID: e.demo.FlutterApp.ID, Kind: "push", SecretToken: secret}); res.Status != 200 {
		t.Fatalf("the refused delete broke webhooks: %d %s", res.Status, res.Body)
	}
	if err := e.st.SetBuildTriggerStatus(context.Background(), build, store.TriggerDone); err != nil {
		t.Fatal(err)
	}
	if r := e.do("DELETE", "/v1/integrations/"+id, e.owner, nil); r.Status != 200 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
}
