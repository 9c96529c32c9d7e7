package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
)

// intakeRig is the reference host serving the real plugin, with SQLite in a
// temporary folder, an integration to the simulator and a webhook secret per
// repository.
type intakeRig struct {
	base   string
	st     *store.SQL
	client *http.Client
	hooks  []*webhook // one 20-commit push per repository, with its secret
	stops  []func()
}

func (rig *intakeRig) close() {
	for i := len(rig.stops) - 1; i >= 0; i-- {
		rig.stops[i]()
	}
}

// serve runs a reference host in this process over rig.st, with its own
// plugin process (launched as a host launches it), on a loopback port, and a
// client for it. publicURL "" means the host's own address.
func (rig *intakeRig) serve(ctx context.Context, bins *binaries, env []string, kr *secrets.Keyring, publicURL string) error {
	plug, err := launcher.Launch(ctx, bins.plugin, launcher.Options{ChecksumCache: launcher.NewChecksumCache(), Env: env})
	if err != nil {
		return err
	}
	rig.stops = append(rig.stops, func() { _ = plug.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rig.base = "http://" + ln.Addr().String()
	if publicURL == "" {
		publicURL = rig.base
	}
	h, err := host.New(host.Config{PublicURL: publicURL, Logger: hclog.NewNullLogger()}, rig.st, kr, host.LauncherPlugins(launcher.NewRegistry(plug)))
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	rig.stops = append(rig.stops, func() { _ = srv.Close() })
	rig.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 128}}
	rig.stops = append(rig.stops, rig.client.CloseIdleConnections)
	return nil
}

// startIntakeRig sets the host up the way an operator does: a personal-token
// integration through the API (which syncs the projects), then a webhook
// secret per repository. Its data lives in a new folder under dir.
func startIntakeRig(ctx context.Context, bins *binaries, dir string, env []string, repos int) (rig *intakeRig, err error) {
	rig = &intakeRig{}
	defer func() {
		if err != nil {
			rig.close()
		}
	}()
	if dir, err = os.MkdirTemp(dir, "intake-"); err != nil {
		return nil, err
	}
	rig.stops = append(rig.stops, func() { _ = os.RemoveAll(dir) })
	sim := gitlabsim.New(gitlabsim.Options{})
	simSrv := httptest.NewServer(sim)
	sim.URL = simSrv.URL
	rig.stops = append(rig.stops, func() { simSrv.Close(); _ = sim.Close() })
	user := sim.AddUser("intake", "Intake Bench")
	token := sim.AddPersonalAccessToken(user.ID, "bench", []string{"api", "read_repository"}, nil, false)
	var projects []*gitlabsim.Project
	for i := range repos {
		projects = append(projects, sim.AddProject(gitlabsim.ProjectSpec{Namespace: "intake-group", Path: "app-" + strconv.Itoa(i), Members: map[int64]int{user.ID: gitlabsim.MaintainerAccess}}))
	}

	kr, err := secrets.Load(dir, "")
	if err != nil {
		return nil, err
	}
	if rig.st, err = store.OpenSQLite(ctx, dir, kr, store.Options{}); err != nil {
		return nil, err
	}
	rig.stops = append(rig.stops, func() { _ = rig.st.Close() })
	if err := rig.serve(ctx, bins, env, kr, ""); err != nil {
		return nil, err
	}

	owner, err := host.CreateToken(ctx, rig.st, host.RoleOwner, "bench-owner")
	if err != nil {
		return nil, err
	}
	var started struct {
		Integration struct {
			ID string `json:"id"`
		} `json:"integration"`
	}
	if err := rig.api(ctx, "POST", "/v1/integrations/gitlab/start", owner, map[string]string{"host_url": simSrv.URL, "auth_mode": "personal_token", "access_token": token}, &started); err != nil {
		return nil, err
	}
	var listed struct {
		Repositories []struct {
			ID         string `json:"id"`
			ExternalID string `json:"external_id"`
		} `json:"repositories"`
	}
	if err := rig.api(ctx, "GET", "/v1/integrations/"+started.Integration.ID+"/repositories?limit=100", owner, nil, &listed); err != nil {
		return nil, err
	}
	if len(listed.Repositories) != repos {
		return nil, fmt.Errorf("the host synced %d repositories, want %d", len(listed.Repositories), repos)
	}
	secretOf := map[string]string{}
	for _, r := range listed.Repositories {
		var s struct {
			Secret string `json:"webhook_secret"`
		}
		if err := rig.api(ctx, "POST", "/v1/integration-repositories/"+r.ID+"/gitlab-webhook-secret", owner, nil, &s); err != nil {
			return nil, err
		}
		secretOf[r.ExternalID] = s.Secret
	}

	// One real 20-commit push per project, captured as GitLab sent it.
	capture := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer capture.Close()
	for _, p := range projects {
		id := strconv.FormatInt(p.ID, 10)
		res, err := sim.SendWebhook(ctx, gitlabsim.WebhookSpec{ProjectID: p.ID, Kind: "push", URL: capture.URL, SecretToken: secretOf[id], Commits: 20})
		if err != nil {
			return nil, fmt.Errorf("simulate a push to project %d: %w", p.ID, err)
		}
		rig.hooks = append(rig.hooks, &webhook{header: res.RequestHeaders.Clone(), body: res.Payload, secret: secretOf[id], projectID: id, commits: 20})
	}
	return rig, nil
}

// api calls the host's API and decodes a 200 answer into out.
func (rig *intakeRig) api(ctx context.Context, method, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, rig.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := rig.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %.300s", method, path, res.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}

// deliver posts one delivery with a fresh delivery id and reports whether
// the host called it a duplicate.
func (rig *intakeRig) deliver(ctx context.Context, h *webhook, deliveryID string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rig.base+"/v1/webhooks/gitlab", bytes.NewReader(h.body))
	if err != nil {
		return false, err
	}
	req.Header = h.header.Clone()
	req.Header.Set("Idempotency-Key", deliveryID)
	req.Header.Set("X-Gitlab-Event-UUID", deliveryID)
	res, err := rig.client.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return false, err
	}
	if res.StatusCode != http.StatusOK {
		return false, fmt.Errorf("delivery %s: %d %.300s", deliveryID, res.StatusCode, raw)
	}
	var out struct {
		OK        bool `json:"ok"`
		Duplicate bool `json:"duplicate"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || !out.OK {
		return false, fmt.Errorf("delivery %s: answer %.300s", deliveryID, raw)
	}
	return out.Duplicate, nil
}

// load sends perSender deliveries from each of senders goroutines, each a
// new delivery id with prefix, and returns every request's latency (ms) and
// the wall time.
func (rig *intakeRig) load(ctx context.Context, senders, perSender int, prefix string, wantDuplicate bool) ([]float64, time.Duration, error) {
	lat := make([][]float64, senders)
	errs := make(chan error, senders)
	var wg sync.WaitGroup
	start := time.Now()
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				h := rig.hooks[(s+i)%len(rig.hooks)]
				t0 := time.Now()
				dup, err := rig.deliver(ctx, h, fmt.Sprintf("%s-%d-%d", prefix, s, i))
				if err != nil {
					errs <- err
					return
				}
				if dup != wantDuplicate {
					errs <- fmt.Errorf("delivery %s-%d-%d: duplicate = %v, want %v", prefix, s, i, dup, wantDuplicate)
					return
				}
				lat[s] = append(lat[s], millis(time.Since(t0)))
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return nil, 0, err
	}
	var all []float64
	for _, l := range lat {
		all = append(all, l...)
	}
	return all, wall, nil
}

// counts are the rows the host stored.
func (rig *intakeRig) counts(ctx context.Context) (deliveries, distinct, triggers int, err error) {
	err = rig.st.DB().QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT delivery_id) FROM webhook_deliveries`).Scan(&deliveries, &distinct)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("count deliveries: %w", err)
	}
	err = rig.st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM build_triggers`).Scan(&triggers)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("count build triggers: %w", err)
	}
	return deliveries, distinct, triggers, nil
}

// webhookCalls are the plugin calls a host's intake makes for a delivery:
// receive over a webhook session (then verify for a repository's first
// delivery in the session), or identify and verify.
var webhookCalls = []string{"ReceiveWebhook", "IdentifyWebhook", "VerifyWebhook"}

// webhookTimes reads, from the host's /metrics, the total seconds spent
// answering webhook requests, the total seconds spent in the plugin calls
// they make (webhookCalls), and how many calls of each method.
func (rig *intakeRig) webhookTimes(ctx context.Context) (request, plugin float64, calls map[string]float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rig.base+"/metrics", nil)
	if err != nil {
		return 0, 0, nil, err
	}
	res, err := rig.client.Do(req)
	if err != nil {
		return 0, 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, 0, nil, err
	}
	calls = map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		labels, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, perr := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if perr != nil {
			continue
		}
		_, method, _ := strings.Cut(labels, `method="`)
		method, _, _ = strings.Cut(method, `"`)
		webhookCall := slices.Contains(webhookCalls, method)
		switch {
		case name == "oore_host_http_request_duration_seconds_sum" && strings.Contains(labels, "/v1/webhooks/"):
			request += v
		case name == "oore_host_plugin_call_duration_seconds_sum" && webhookCall:
			plugin += v
		case name == "oore_host_plugin_call_duration_seconds_count" && webhookCall:
			calls[method] += v
		}
	}
	if request == 0 || len(calls) == 0 {
		return 0, 0, nil, fmt.Errorf("the host's /metrics has no webhook request or plugin call timings")
	}
	return request, plugin, calls, nil
}

// callMix describes the plugin calls made between two webhookTimes reads,
// per delivery: "1.00 plugin calls per delivery (ReceiveWebhook 3840,
// VerifyWebhook 4)".
func callMix(before, after map[string]float64, deliveries int) string {
	var total float64
	var parts []string
	for _, m := range webhookCalls {
		if n := after[m] - before[m]; n > 0 {
			total += n
			parts = append(parts, fmt.Sprintf("%s %.0f", m, n))
		}
	}
	return fmt.Sprintf("%.2f plugin calls per delivery (%s)", total/float64(max(deliveries, 1)), strings.Join(parts, ", "))
}

// intake measures goal 6: deliveries per second and latency through the
// reference host (HTTP in, the delivery identified and verified by the
// plugin, over its webhook session when the host uses one, SQLite write,
// 200 out) from 32 concurrent senders; the share of request time spent in
// plugin calls, and of that the boundary (the calls minus the provider's own
// work in-process); and that every delivery was stored exactly once.
func (r *run) intake(ctx context.Context) error {
	sz := r.sz
	rig, err := startIntakeRig(ctx, r.bins, r.dir, r.cfg.PluginEnv, 4)
	if err != nil {
		return err
	}
	defer rig.close()
	// Warm-up: connections, the plugin, SQLite's pages.
	if _, _, err := rig.load(ctx, sz.intakeSenders, 2, "warm", false); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	sent := sz.intakeSenders * 2
	reqBefore, plugBefore, callsBefore, err := rig.webhookTimes(ctx)
	if err != nil {
		return err
	}
	timed := 0 // deliveries between the two /metrics reads
	var perSecond, p50, p99 []float64
	for round := range sz.intakeRounds {
		lat, wall, err := rig.load(ctx, sz.intakeSenders, sz.intakePerSender, "round"+strconv.Itoa(round), false)
		if err != nil {
			return err
		}
		sent += len(lat)
		timed += len(lat)
		perSecond = append(perSecond, float64(len(lat))/wall.Seconds())
		p50, p99 = append(p50, percentile(lat, 50)), append(p99, percentile(lat, 99))
	}
	reqAfter, plugAfter, callsAfter, err := rig.webhookTimes(ctx)
	if err != nil {
		return err
	}
	// Resending a sample must be answered duplicate and store nothing.
	if _, _, err := rig.load(ctx, sz.intakeSenders, 1, "round0", true); err != nil {
		return fmt.Errorf("resend: %w", err)
	}
	deliveries, distinct, triggers, err := rig.counts(ctx)
	if err != nil {
		return err
	}
	if deliveries != sent || distinct != sent || triggers != sent {
		return fmt.Errorf("sent %d deliveries; the host stored %d (%d distinct) with %d build triggers", sent, deliveries, distinct, triggers)
	}
	inproc, err := r.intakeInProcess(rig.hooks[0])
	if err != nil {
		return err
	}
	reqSec, plugSec := reqAfter-reqBefore, plugAfter-plugBefore
	// Whichever calls carry it (one receive; receive then verify; identify
	// then verify), the provider's work per delivery is one identify and
	// one verify.
	boundarySec := plugSec - float64(timed)*inproc/1e6
	setup := fmt.Sprintf("%d senders × %d deliveries × %d rounds, 20-commit pushes to %d repositories", sz.intakeSenders, sz.intakePerSender, sz.intakeRounds, len(rig.hooks))
	r.report.add(secIntake,
		Figure{Name: "intake_per_s", Value: median(perSecond), Unit: "per_s", Label: "deliveries per second", Note: setup},
		Figure{Name: "intake_p50_ms", Value: median(p50), Unit: "ms", Label: "latency p50 (POST to 200)"},
		Figure{Name: "intake_p99_ms", Value: median(p99), Unit: "ms", Label: "latency p99"},
		Figure{Name: "intake_plugin_share_pct", Value: 100 * plugSec / reqSec, Unit: "pct", Label: "share of request time in plugin calls", Note: "host /metrics: plugin call seconds / webhook request seconds; " + callMix(callsBefore, callsAfter, timed)},
		Figure{Name: "intake_boundary_share_pct", Value: 100 * boundarySec / reqSec, Unit: "pct", Label: "share of request time in the boundary", Note: fmt.Sprintf("plugin call time minus the provider's own work in-process (%.0f µs per delivery)", inproc)},
		Figure{Name: "intake_stored", Value: float64(deliveries), Unit: "rows", Label: "deliveries stored", Note: fmt.Sprintf("= sent (%d), all distinct, one build trigger each; %d resent were answered duplicate", sent, sz.intakeSenders)},
	)
	return nil
}

// intakeInProcess is the provider's own work for one delivery (identify +
// verify, in-process), in µs.
func (r *run) intakeInProcess(h *webhook) (float64, error) {
	prov := gitlab.New()
	ctx := context.Background()
	req := h.request()
	id := &scmv1.IdentifyWebhookRequest{Delivery: req.GetDelivery()}
	rounds, err := r.sz.seq.sequential(func() error {
		if _, err := prov.IdentifyWebhook(ctx, id); err != nil {
			return err
		}
		_, err := prov.VerifyWebhook(ctx, req)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("identify + verify in-process: %w", err)
	}
	return median(rounds[0]), nil
}
