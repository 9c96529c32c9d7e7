package multihost

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
)

// pushTemplate is a real push delivery of the flutter app's main branch,
// built by the simulator (without new commits) and caught before any host
// saw it. Copies of it with other delivery ids are distinct deliveries of
// the same push, as GitLab sends for a busy repository.
func (c *cluster) pushTemplate(secret string) *gitlabsim.WebhookResult {
	c.t.Helper()
	head, err := c.sim.BranchHead(c.demo.FlutterApp.ID, "main")
	if err != nil {
		c.t.Fatal(err)
	}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer sink.Close()
	res, err := c.sim.SendWebhook(context.Background(), gitlabsim.WebhookSpec{URL: sink.URL, ProjectID: c.demo.FlutterApp.ID,
		Kind: "push", Sha: head, SecretToken: secret})
	if err != nil {
		c.t.Fatal(err)
	}
	return res
}

// deliverCopy sends the template as delivery deliveryID to host h.
func (c *cluster) deliverCopy(ctx context.Context, h *e2ekit.Host, tpl *gitlabsim.WebhookResult, secret, deliveryID string) (*gitlabsim.WebhookResult, error) {
	return c.send(ctx, h, gitlabsim.WebhookSpec{ProjectID: c.demo.FlutterApp.ID, Kind: "push", SecretToken: secret, Payload: tpl.Payload,
		Headers: map[string]string{"Idempotency-Key": deliveryID, "X-Gitlab-Event-UUID": deliveryID}})
}

// TestDeliveriesTwiceOnDifferentHosts: 1,000 deliveries, each sent twice to
// two different hosts, all in random order and concurrently: exactly 1,000
// are stored with one build each, the other 1,000 copies are answered as
// duplicates, and nothing fails.
func TestDeliveriesTwiceOnDifferentHosts(t *testing.T) {
	t.Parallel()
	c := newPostgresCluster(t, 3)
	id := c.startPAT(c.hosts[0])
	app := c.repository(c.hosts[1], id, "oore-demo/mobile/flutter-app")
	secret := c.webhookSecret(c.hosts[2], app.ID)
	tpl := c.pushTemplate(secret)

	const deliveries = 1000
	type copyOf struct{ n, host int }
	work := make([]copyOf, 0, 2*deliveries)
	for n := range deliveries {
		first := rand.IntN(3)
		work = append(work, copyOf{n, first}, copyOf{n, (first + 1 + rand.IntN(2)) % 3})
	}
	rand.Shuffle(len(work), func(i, j int) { work[i], work[j] = work[j], work[i] })

	var stored, duplicates, failed atomic.Int32
	var wg sync.WaitGroup
	sem := make(chan struct{}, 48) // deliveries in flight at once
	ctx := context.Background()
	for _, w := range work {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			res, err := c.deliverCopy(ctx, c.hosts[w.host], tpl, secret, fmt.Sprintf("mh-dedupe-%04d", w.n))
			ok, dup := webhookAnswer(res)
			switch {
			case err != nil || !ok:
				if failed.Add(1) <= 5 {
					t.Errorf("delivery %d to %s: %v %+v", w.n, c.hosts[w.host].Name, err, res)
				}
			case dup:
				duplicates.Add(1)
			default:
				stored.Add(1)
			}
		})
	}
	wg.Wait()
	if stored.Load() != deliveries || duplicates.Load() != deliveries || failed.Load() != 0 {
		t.Fatalf("%d stored, %d duplicates, %d failed; want %d, %d, 0", stored.Load(), duplicates.Load(), failed.Load(), deliveries, deliveries)
	}
	db := c.db()
	if n := count(t, db, `SELECT COUNT(DISTINCT delivery_id) FROM webhook_deliveries WHERE delivery_id LIKE 'mh-dedupe-%'`); n != deliveries {
		t.Fatalf("%d distinct delivery ids stored, want %d", n, deliveries)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM webhook_deliveries`); n != deliveries {
		t.Fatalf("%d deliveries stored, want %d", n, deliveries)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM build_triggers`); n != deliveries {
		t.Fatalf("%d builds triggered, want %d", n, deliveries)
	}
	r := c.do(c.hosts[0], "GET", "/v1/webhook-deliveries?limit=1", nil)
	var list struct {
		Total int `json:"total"`
	}
	r.Decode(t, &list)
	if list.Total != deliveries {
		t.Fatalf("the API lists %d deliveries, want %d", list.Total, deliveries)
	}
}
