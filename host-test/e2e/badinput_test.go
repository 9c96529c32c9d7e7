package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestBadInputIsRefusedAndStoresNothing sends bad input to every endpoint
// that takes some: 400 naming the field (413 when too large), and not one
// row written.
func TestBadInputIsRefusedAndStoresNothing(t *testing.T) {
	t.Parallel()
	e := startInProcess(t, hostConfig())
	id := e.startPAT()
	app := e.repository(id, "oore-demo/mobile/flutter-app")
	megabyte := strings.Repeat("a", 1<<20)
	start := "/v1/integrations/gitlab/start"
	pat := func(hostURL string) map[string]any {
		return map[string]any{"host_url": hostURL, "auth_mode": "personal_token", "access_token": e.demo.Token}
	}
	tests := []struct {
		name, method, path string
		body               any
		wantStatus         int
		wantCode, field    string
	}{
		{"start: malformed JSON", "POST", start, `{"host_url":`, 400, "invalid_input", ""},
		{"start: not an object", "POST", start, `[1,2]`, 400, "invalid_input", ""},
		{"start: empty body", "POST", start, ``, 400, "invalid_input", ""},
		{"start: unknown field", "POST", start, map[string]any{"host_url": e.sim.URL, "auth_mode": "personal_token", "access_token": "x", "admin": true}, 400, "invalid_input", "admin"},
		{"start: wrong type", "POST", start, map[string]any{"host_url": 42, "auth_mode": "personal_token"}, 400, "invalid_input", "host_url"},
		{"start: missing auth_mode", "POST", start, map[string]any{"host_url": e.sim.URL}, 400, "invalid_input", "auth_mode"},
		{"start: unknown auth_mode", "POST", start, map[string]any{"host_url": e.sim.URL, "auth_mode": "github_app"}, 400, "invalid_input", "auth_mode"},
		{"start: missing token", "POST", start, map[string]any{"host_url": e.sim.URL, "auth_mode": "personal_token"}, 400, "invalid_input", "access_token"},
		{"start: javascript URL", "POST", start, pat("javascript:alert(1)"), 400, "invalid_input", "host_url"},
		{"start: file URL", "POST", start, pat("file:///etc/passwd"), 400, "invalid_input", "host_url"},
		{"start: user info", "POST", start, pat("http://demo:secret@127.0.0.1:1"), 400, "invalid_input", "host_url"},
		{"start: port 0", "POST", start, pat("http://127.0.0.1:0"), 400, "invalid_input", "host_url"},
		{"start: port 65536", "POST", start, pat("http://127.0.0.1:65536"), 400, "invalid_input", "host_url"},
		{"start: path", "POST", start, pat(e.sim.URL + "/api/v4"), 400, "invalid_input", "host_url"},
		{"start: remote http", "POST", start, pat("http://gitlab.example.com"), 400, "invalid_input", "host_url"},
		{"start: 1 MB host_url", "POST", start, pat("https://" + megabyte), 400, "invalid_input", "host_url"},
		{"start: 1 MB token", "POST", start, map[string]any{"host_url": e.sim.URL, "auth_mode": "personal_token", "access_token": megabyte}, 400, "invalid_input", "access_token"},
		{"start: wrong token", "POST", start, map[string]any{"host_url": e.sim.URL, "auth_mode": "personal_token", "access_token": "glpat-wrongwrongwrong0"}, 400, "gitlab_auth_failed", ""},
		{"start: body over 4 MiB", "POST", start, `{"host_url":"` + strings.Repeat("a", 5<<20) + `"}`, 413, "payload_too_large", ""},
		{"authorize: malformed", "POST", "/v1/integrations/gitlab/authorize", `{`, 400, "invalid_input", ""},
		{"authorize: unknown field", "POST", "/v1/integrations/gitlab/authorize", map[string]any{"integration_id": id, "redirect_url": e.base + "/", "x": 1}, 400, "invalid_input", "x"},
		{"authorize: missing redirect", "POST", "/v1/integrations/gitlab/authorize", map[string]any{"integration_id": id}, 400, "invalid_input", "redirect_url"},
		{"authorize: javascript redirect", "POST", "/v1/integrations/gitlab/authorize", map[string]any{"integration_id": id, "redirect_url": "javascript:alert(1)"}, 400, "invalid_redirect_url", "redirect_url"},
		{"authorize: foreign origin", "POST", "/v1/integrations/gitlab/authorize", map[string]any{"integration_id": id, "redirect_url": "https://evil.example.com/"}, 400, "invalid_redirect_url", "redirect_url"},
		{"authorize: not OAuth", "POST", "/v1/integrations/gitlab/authorize", map[string]any{"integration_id": id, "redirect_url": e.base + "/"}, 400, "invalid_input", "integration_id"},
		{"installations: malformed", "POST", "/v1/integrations/" + id + "/installations", `{"installation_id":`, 400, "invalid_input", ""},
		{"installations: wrong type", "POST", "/v1/integrations/" + id + "/installations", map[string]any{"installation_id": 5}, 400, "invalid_input", "installation_id"},
		{"installations: unknown field", "POST", "/v1/integrations/" + id + "/installations", map[string]any{"all": true}, 400, "invalid_input", "all"},
		{"token: missing", "PUT", "/v1/integrations/" + id + "/gitlab-token", map[string]any{}, 400, "invalid_input", "access_token"},
		{"token: wrong type", "PUT", "/v1/integrations/" + id + "/gitlab-token", map[string]any{"access_token": []int{1}}, 400, "invalid_input", "access_token"},
		{"token: 1 MB", "PUT", "/v1/integrations/" + id + "/gitlab-token", map[string]any{"access_token": megabyte}, 400, "invalid_input", "access_token"},
		{"token: other account", "PUT", "/v1/integrations/" + id + "/gitlab-token", map[string]any{"access_token": e.demo.OtherToken}, 409, "gitlab_account_mismatch", ""},
		{"repositories: limit", "GET", "/v1/integrations/" + id + "/repositories?limit=ten", nil, 400, "invalid_input", "limit"},
		{"repositories: offset", "GET", "/v1/integrations/" + id + "/repositories?offset=-1", nil, 400, "invalid_input", "offset"},
		{"integrations: sort", "GET", "/v1/integrations?sort=password", nil, 400, "invalid_input", "sort"},
		{"secret: type", "POST", "/v1/integration-repositories/" + app.ID + "/gitlab-webhook-secret?type=rsa", nil, 400, "invalid_input", "type"},
		{"secret: unknown repository", "POST", "/v1/integration-repositories/nope/gitlab-webhook-secret", nil, 404, "not_found", ""},
	}
	tables := []string{"integrations", "installations", "repositories", "oauth_states", "webhook_deliveries", "build_triggers", "api_tokens", "audit_events"}
	before := map[string]int{}
	for _, tb := range tables {
		before[tb] = e.rows(tb)
	}
	secretsBefore := e.rows("repositories WHERE webhook_secret IS NOT NULL")
	for _, tc := range tests {
		r := e.do(tc.method, tc.path, e.owner, tc.body)
		if r.Status != tc.wantStatus || r.ErrorCode() != tc.wantCode {
			t.Errorf("%s: %d %.300s, want %d %s", tc.name, r.Status, r.Body, tc.wantStatus, tc.wantCode)
			continue
		}
		if tc.field != "" {
			var body struct {
				Error  string `json:"error"`
				Fields []struct {
					Field string `json:"field"`
				} `json:"fields"`
			}
			r.Decode(t, &body)
			if !strings.Contains(body.Error, tc.field) {
				t.Errorf("%s: error %q does not name %q", tc.name, body.Error, tc.field)
			}
		}
	}
	// Webhooks: bad JSON with a real secret, and an oversized body.
	secret := e.webhookSecret(app.ID, "")
	before["audit_events"]++ // the secret just made is audited
	for name, tc := range map[string]struct {
		body       []byte
		wantStatus int
		wantCode   string
	}{
		"webhook: bad JSON":  {body: []byte(`{"object_kind":"push","project":{"id":` + fmt.Sprint(e.demo.FlutterApp.ID) + `},`), wantStatus: 400, wantCode: "invalid_input"},
		"webhook: too large": {body: append([]byte(`{"object_kind":"push","padding":"`), bytes.Repeat([]byte("a"), 1<<20+10)...), wantStatus: 413, wantCode: "payload_too_large"},
	} {
		req, _ := http.NewRequest("POST", e.base+"/v1/webhooks/gitlab", bytes.NewReader(tc.body))
		req.Header.Set("X-Gitlab-Event", "Push Hook")
		req.Header.Set("X-Gitlab-Token", secret)
		req.Header.Set("Content-Type", "application/json")
		res, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ Code string }
		_ = json.NewDecoder(res.Body).Decode(&out)
		res.Body.Close()
		if res.StatusCode != tc.wantStatus || out.Code != tc.wantCode {
			t.Errorf("%s: %d %s, want %d %s", name, res.StatusCode, out.Code, tc.wantStatus, tc.wantCode)
		}
	}
	for _, tb := range tables {
		if n := e.rows(tb); n != before[tb] {
			t.Errorf("%s: %d rows after bad input, had %d", tb, n, before[tb])
		}
	}
	if n := e.rows("repositories WHERE webhook_secret IS NOT NULL"); n != secretsBefore+1 {
		t.Errorf("%d repositories have a secret, want %d", n, secretsBefore+1)
	}
}
