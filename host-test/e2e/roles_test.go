package e2e

import (
	"context"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host"
)

// TestRoles: owner and admin manage integrations; developer and qa_viewer
// only read; no token is 401, a wrong role 403, before anything is done.
func TestRoles(t *testing.T) {
	t.Parallel()
	e := startInProcess(t, hostConfig())
	id := e.startPAT()
	app := e.repository(id, "oore-demo/mobile/flutter-app")
	tokens := map[host.Role]string{}
	for _, r := range host.Roles {
		tok, err := host.CreateToken(context.Background(), e.st, r, "e2e-"+string(r))
		if err != nil {
			t.Fatal(err)
		}
		tokens[r] = tok
	}
	mutating := []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/integrations/gitlab/start", map[string]any{"host_url": e.sim.URL, "auth_mode": "personal_token", "access_token": e.demo.Token}},
		{"POST", "/v1/integrations/gitlab/authorize", map[string]any{"integration_id": id, "redirect_url": e.base + "/"}},
		{"POST", "/v1/integrations/" + id + "/installations", map[string]any{}},
		{"POST", "/v1/integration-repositories/" + app.ID + "/gitlab-webhook-secret", nil},
		{"POST", "/v1/integrations/" + id + "/gitlab-token/check", nil},
		{"PUT", "/v1/integrations/" + id + "/gitlab-token", map[string]any{"access_token": e.demo.Token}},
		{"DELETE", "/v1/integrations/" + id, nil},
	}
	reading := []string{
		"/v1/integrations", "/v1/integrations/" + id, "/v1/integrations/" + id + "/installations",
		"/v1/integrations/" + id + "/repositories", "/v1/integration-repositories", "/v1/webhook-deliveries",
	}
	integrations, audits := e.rows("integrations"), e.rows("audit_events")
	for _, ep := range mutating {
		for _, role := range []host.Role{host.RoleDeveloper, host.RoleQAViewer} {
			if r := e.do(ep.method, ep.path, tokens[role], ep.body); r.Status != 403 || r.ErrorCode() != "forbidden" {
				t.Errorf("%s %s as %s: %d %s, want 403 forbidden", ep.method, ep.path, role, r.Status, r.Body)
			}
		}
		if r := e.do(ep.method, ep.path, "", ep.body); r.Status != 401 || r.ErrorCode() != "missing_token" {
			t.Errorf("%s %s without a token: %d %s, want 401 missing_token", ep.method, ep.path, r.Status, r.Body)
		}
		if r := e.do(ep.method, ep.path, "oore_not-a-token", ep.body); r.Status != 401 || r.ErrorCode() != "invalid_token" {
			t.Errorf("%s %s with a wrong token: %d, want 401 invalid_token", ep.method, ep.path, r.Status)
		}
	}
	if n, a := e.rows("integrations"), e.rows("audit_events"); n != integrations || a != audits {
		t.Fatalf("refused requests changed something: integrations %d→%d, audit %d→%d", integrations, n, audits, a)
	}
	for _, path := range reading {
		for _, role := range host.Roles {
			if r := e.do("GET", path, tokens[role], nil); r.Status != 200 {
				t.Errorf("GET %s as %s: %d %s", path, role, r.Status, r.Body)
			}
		}
		if r := e.do("GET", path, "", nil); r.Status != 401 {
			t.Errorf("GET %s without a token: %d", path, r.Status)
		}
	}
	// Admins manage: the token check, a re-sync and the delete succeed.
	for _, ep := range []struct{ method, path string }{
		{"POST", "/v1/integrations/" + id + "/gitlab-token/check"},
		{"POST", "/v1/integrations/" + id + "/installations"},
		{"DELETE", "/v1/integrations/" + id},
	} {
		var body any
		if ep.method == "POST" && ep.path[len(ep.path)-1] == 's' {
			body = map[string]any{}
		}
		if r := e.do(ep.method, ep.path, tokens[host.RoleAdmin], body); r.Status != 200 {
			t.Errorf("%s %s as admin: %d %s", ep.method, ep.path, r.Status, r.Body)
		}
	}
}
