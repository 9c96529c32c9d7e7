package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
)

// TestPersonalTokenWalkthrough is the seed's walkthrough through the
// oore-host binary: start → repositories → webhook secret → simulator push →
// delivery and build trigger → duplicate → rotate → old secret 401 → delete →
// webhook 401. No token or secret reaches the database files or the log.
func TestPersonalTokenWalkthrough(t *testing.T) {
	t.Parallel()
	e := startBinary(t)
	id := e.startPAT()
	app := e.repository(id, "oore-demo/mobile/flutter-app")

	secret := e.webhookSecret(app.ID, "")
	res := e.send(gitlabsim.WebhookSpec{ProjectID: e.demo.FlutterApp.ID, Kind: "push", SecretToken: secret})
	if res.Status != 200 || strings.TrimSpace(string(res.Body)) != `{"ok":true}` {
		t.Fatalf("push: %d %s", res.Status, res.Body)
	}
	head, err := e.sim.BranchHead(e.demo.FlutterApp.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	ds := e.deliveries()
	if len(ds) != 1 || !ds[0].Triggered || len(ds[0].Builds) != 1 || ds[0].Builds[0].SHA != head || ds[0].Builds[0].Branch != "main" || ds[0].IntegrationID != id {
		t.Fatalf("deliveries after a push = %+v, want one build of main at %s", ds, head)
	}
	if ds[0].DeliveryID != res.DeliveryID {
		t.Errorf("delivery id %q, want the Idempotency-Key %q", ds[0].DeliveryID, res.DeliveryID)
	}

	again, err := e.sim.Resend(context.Background(), res)
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != 200 || !strings.Contains(string(again.Body), `"duplicate":true`) {
		t.Fatalf("resend: %d %s, want ok and duplicate", again.Status, again.Body)
	}
	if ds := e.deliveries(); len(ds) != 1 || len(ds[0].Builds) != 1 {
		t.Fatalf("a duplicate delivery triggered again: %+v", ds)
	}

	rotated := e.webhookSecret(app.ID, "")
	if rotated == secret {
		t.Fatal("rotation returned the same secret")
	}
	if res := e.send(gitlabsim.WebhookSpec{ProjectID: e.demo.FlutterApp.ID, Kind: "push", SecretToken: secret}); res.Status != 401 {
		t.Fatalf("old secret after rotation: %d %s, want 401", res.Status, res.Body)
	}
	if res := e.send(gitlabsim.WebhookSpec{ProjectID: e.demo.FlutterApp.ID, Kind: "push", SecretToken: rotated}); res.Status != 200 {
		t.Fatalf("new secret: %d %s", res.Status, res.Body)
	}

	detail := e.do("GET", "/v1/integrations/"+id, e.owner, nil)
	var d struct {
		RepositoryCount int    `json:"repository_count"`
		LastWebhookAt   *int64 `json:"last_webhook_at"`
	}
	detail.Decode(t, &d)
	if d.RepositoryCount < 3 || d.LastWebhookAt == nil {
		t.Fatalf("detail = %s", detail.Body)
	}
	check := e.do("POST", "/v1/integrations/"+id+"/gitlab-token/check", e.owner, nil)
	if check.Status != 200 || !strings.Contains(string(check.Body), `"status":"valid"`) {
		t.Fatalf("token check: %d %s", check.Status, check.Body)
	}

	if r := e.do("DELETE", "/v1/integrations/"+id, e.owner, nil); r.Status != 200 || strings.TrimSpace(string(r.Body)) != `{"ok":true}` {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if res := e.send(gitlabsim.WebhookSpec{ProjectID: e.demo.FlutterApp.ID, Kind: "push", SecretToken: rotated}); res.Status != 401 {
		t.Fatalf("webhook after delete: %d %s, want 401", res.Status, res.Body)
	}
	if r := e.do("GET", "/v1/integrations/"+id, e.owner, nil); r.Status != 404 {
		t.Fatalf("deleted integration: %d", r.Status)
	}

	used := map[string]string{"GitLab token": e.demo.Token, "first webhook secret": secret, "rotated webhook secret": rotated, "owner API token": e.owner}
	for name, raw := range databaseFiles(t, e.dataDir) {
		assertNoSecretIn(t, name, raw, used)
	}
	assertNoSecretIn(t, "the host's log", e.logs.Bytes(), used)
}

// TestWebhookEvents: what builds and what is ignored, with the reason shown.
func TestWebhookEvents(t *testing.T) {
	t.Parallel()
	e := startInProcess(t, hostConfig())
	id := e.startPAT()
	app := e.repository(id, "oore-demo/mobile/flutter-app")
	secret := e.webhookSecret(app.ID, "")
	tests := []struct {
		name       string
		spec       gitlabsim.WebhookSpec
		wantBuild  string
		wantReason string
	}{
		{name: "push", spec: gitlabsim.WebhookSpec{Kind: "push", Branch: "feature-x", CreateBranch: true, Commits: 1}, wantBuild: "push"},
		{name: "skip ci", spec: gitlabsim.WebhookSpec{Kind: "push", SkipCI: true}, wantReason: "[skip ci]"},
		{name: "branch deleted", spec: gitlabsim.WebhookSpec{Kind: "push", Branch: "feature-x", Delete: true}, wantReason: "deleted"},
		{name: "tag push", spec: gitlabsim.WebhookSpec{Kind: "tag_push", Tag: "v1.2.3"}, wantReason: "tag pushes do not trigger builds"},
		{name: "merge request opened", spec: gitlabsim.WebhookSpec{Kind: "merge_request", Action: "open"}, wantBuild: "merge_request"},
		{name: "fork merge request", spec: gitlabsim.WebhookSpec{Kind: "merge_request", Action: "open", Fork: true}, wantReason: "fork"},
		{name: "merged", spec: gitlabsim.WebhookSpec{Kind: "merge_request", Action: "merge"}, wantReason: "merged"},
		{name: "note", spec: gitlabsim.WebhookSpec{Kind: "note"}, wantReason: "not"},
	}
	for _, tc := range tests {
		tc.spec.ProjectID = e.demo.FlutterApp.ID
		tc.spec.SecretToken = secret
		res := e.send(tc.spec)
		if res.Status != 200 {
			t.Fatalf("%s: %d %s", tc.name, res.Status, res.Body)
		}
		ds := e.deliveries()
		var got *delivery
		for i := range ds {
			if ds[i].DeliveryID == res.DeliveryID {
				got = &ds[i]
			}
		}
		if got == nil {
			t.Fatalf("%s: delivery %s not listed", tc.name, res.DeliveryID)
		}
		if tc.wantBuild != "" {
			if !got.Triggered || len(got.Builds) != 1 || got.Builds[0].Kind != tc.wantBuild || got.Builds[0].SHA == "" {
				raw, _ := json.Marshal(got)
				t.Errorf("%s: %s, want one %s build", tc.name, raw, tc.wantBuild)
			}
			continue
		}
		if got.Triggered || got.IgnoredReason == nil || !strings.Contains(*got.IgnoredReason, tc.wantReason) {
			raw, _ := json.Marshal(got)
			t.Errorf("%s: %s, want no build and a reason with %q", tc.name, raw, tc.wantReason)
		}
	}
}
