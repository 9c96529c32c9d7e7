package multihost

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
)

// TestWalkthroughOnEachStore runs the seed's walkthrough (connect, list,
// secret, webhook, duplicate, rotate, delete) on SQLite with one host and on
// PostgreSQL with two, each step on the next host in turn: the answers are
// the same whichever store and host serve them.
func TestWalkthroughOnEachStore(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) *cluster{
		"sqlite":   newSQLiteCluster,
		"postgres": func(t *testing.T) *cluster { return newPostgresCluster(t, 2) },
	}
	for name, start := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			walkthrough(t, start(t))
		})
	}
}

func walkthrough(t *testing.T, c *cluster) {
	ctx := context.Background()
	step := 0
	next := func() *e2ekit.Host { step++; return c.host(step) }

	id := c.startPAT(next())
	app := c.repository(next(), id, "oore-demo/mobile/flutter-app")
	secret := c.webhookSecret(next(), app.ID)

	res, err := c.send(ctx, next(), gitlabsim.WebhookSpec{ProjectID: c.demo.FlutterApp.ID, Kind: "push", SecretToken: secret})
	if ok, dup := webhookAnswer(res); err != nil || !ok || dup {
		t.Fatalf("push: %v %+v", err, res)
	}
	head, err := c.sim.BranchHead(c.demo.FlutterApp.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.send(ctx, next(), gitlabsim.WebhookSpec{ProjectID: c.demo.FlutterApp.ID, Kind: "push", SecretToken: secret,
		Payload: res.Payload, Headers: map[string]string{"Idempotency-Key": res.IdempotencyKey, "X-Gitlab-Event-UUID": res.EventUUID}})
	if ok, dup := webhookAnswer(again); err != nil || !ok || !dup {
		t.Fatalf("the same delivery again: %v %+v, want ok and duplicate", err, again)
	}
	r := c.do(next(), "GET", "/v1/webhook-deliveries?limit=10", nil)
	var ds struct {
		Deliveries []struct {
			DeliveryID    string `json:"delivery_id"`
			IntegrationID string `json:"integration_id"`
			Triggered     bool   `json:"triggered"`
			Builds        []struct {
				Branch string `json:"branch"`
				SHA    string `json:"sha"`
			} `json:"builds"`
		} `json:"deliveries"`
		Total int `json:"total"`
	}
	r.Decode(t, &ds)
	if ds.Total != 1 || len(ds.Deliveries) != 1 {
		t.Fatalf("deliveries after a push and its duplicate: %s", r.Body)
	}
	d := ds.Deliveries[0]
	if d.DeliveryID != res.DeliveryID || d.IntegrationID != id || !d.Triggered || len(d.Builds) != 1 || d.Builds[0].SHA != head || d.Builds[0].Branch != "main" {
		t.Fatalf("delivery = %s, want one build of main at %s", r.Body, head)
	}

	rotated := c.webhookSecret(next(), app.ID)
	if rotated == secret {
		t.Fatal("rotation returned the same secret")
	}
	if res, err := c.send(ctx, next(), gitlabsim.WebhookSpec{ProjectID: c.demo.FlutterApp.ID, Kind: "push", SecretToken: secret}); err != nil || res.Status != http.StatusUnauthorized {
		t.Fatalf("old secret after rotation: %v %+v, want 401", err, res)
	}
	if res, err := c.send(ctx, next(), gitlabsim.WebhookSpec{ProjectID: c.demo.FlutterApp.ID, Kind: "push", SecretToken: rotated}); err != nil || res.Status != http.StatusOK {
		t.Fatalf("new secret: %v %+v", err, res)
	}

	detail := c.do(next(), "GET", "/v1/integrations/"+id, nil)
	var in struct {
		Integration struct {
			Status string `json:"status"`
		} `json:"integration"`
		RepositoryCount int    `json:"repository_count"`
		LastWebhookAt   *int64 `json:"last_webhook_at"`
	}
	detail.Decode(t, &in)
	if in.Integration.Status != "active" || in.RepositoryCount < 3 || in.LastWebhookAt == nil {
		t.Fatalf("detail = %s", detail.Body)
	}
	check := c.do(next(), "POST", "/v1/integrations/"+id+"/gitlab-token/check", nil)
	if check.Status != http.StatusOK || !strings.Contains(string(check.Body), `"status":"valid"`) {
		t.Fatalf("token check: %d %s", check.Status, check.Body)
	}

	if r := c.do(next(), "DELETE", "/v1/integrations/"+id, nil); r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != `{"ok":true}` {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if res, err := c.send(ctx, next(), gitlabsim.WebhookSpec{ProjectID: c.demo.FlutterApp.ID, Kind: "push", SecretToken: rotated}); err != nil || res.Status != http.StatusUnauthorized {
		t.Fatalf("webhook after delete: %v %+v, want 401", err, res)
	}
	for _, h := range c.hosts {
		if r := c.do(h, "GET", "/v1/integrations/"+id, nil); r.Status != http.StatusNotFound {
			t.Fatalf("deleted integration on %s: %d", h.Name, r.Status)
		}
	}
	db := c.db()
	if n := count(t, db, `SELECT COUNT(*) FROM repositories`); n != 0 {
		t.Fatalf("%d repositories left after the delete", n)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM webhook_deliveries`); n != 2 {
		t.Fatalf("%d deliveries in the history, want 2 (the push and the one after rotation)", n)
	}
	c.assertNoSecretInLogs(map[string]string{"GitLab token": c.demo.Token, "webhook secret": secret, "rotated webhook secret": rotated, "owner token": c.owner})
}
