package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestOAuthWalkthrough: start oauth_app → authorize → the simulator's
// /oauth/authorize (auto-consent) → callback → 303 to
// redirect_url?gitlab=success → active, repositories synced. A replayed
// callback and a denied authorization answer an HTML page and store nothing.
// Deleting the integration revokes the grant at GitLab.
func TestOAuthWalkthrough(t *testing.T) {
	t.Parallel()
	e := startInProcess(t, hostConfig())
	clientID, clientSecret := e.sim.AddOAuthApp("oore-e2e", e.base+"/v1/integrations/gitlab/callback",
		[]string{"api", "read_api", "read_user", "read_repository"}, true)

	r := e.do("POST", "/v1/integrations/gitlab/start", e.owner, map[string]any{
		"host_url": e.sim.URL, "auth_mode": "oauth_app", "client_id": clientID, "client_secret": clientSecret})
	if r.Status != 200 {
		t.Fatalf("start oauth_app: %d %s (the gitlab plugin's manifest and provider info must announce auth mode oauth_app)", r.Status, r.Body)
	}
	var started struct {
		Integration struct{ ID, Status string } `json:"integration"`
	}
	r.Decode(t, &started)
	id := started.Integration.ID
	if started.Integration.Status != "inactive" {
		t.Fatalf("an OAuth integration before the callback is %q, want inactive", started.Integration.Status)
	}

	authorize := func() string {
		t.Helper()
		r := e.do("POST", "/v1/integrations/gitlab/authorize", e.owner, map[string]any{"integration_id": id, "redirect_url": e.base + "/settings/integrations?tab=gitlab"})
		if r.Status != 200 {
			t.Fatalf("authorize: %d %s", r.Status, r.Body)
		}
		var out struct {
			AuthorizeURL string `json:"authorize_url"`
		}
		r.Decode(t, &out)
		u, err := url.Parse(out.AuthorizeURL)
		if err != nil || !strings.HasPrefix(out.AuthorizeURL, e.sim.URL+"/oauth/authorize") || u.Query().Get("code_challenge_method") != "S256" || u.Query().Get("state") == "" {
			t.Fatalf("authorize_url %q", out.AuthorizeURL)
		}
		// The browser at GitLab: the simulator consents and redirects back.
		res, err := e.client.Get(out.AuthorizeURL)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc := res.Header.Get("Location")
		if res.StatusCode/100 != 3 || !strings.HasPrefix(loc, e.base+"/v1/integrations/gitlab/callback?") {
			t.Fatalf("GitLab's authorize answered %d → %q", res.StatusCode, loc)
		}
		return loc
	}
	callback := func(u string) response {
		t.Helper()
		res, err := e.client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		out := response{Status: res.StatusCode, Header: res.Header, Body: body}
		e.checkContract("GET", "/v1/integrations/gitlab/callback", out)
		return out
	}

	cb := authorize()
	res := callback(cb)
	if res.Status != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", res.Status, res.Body)
	}
	want := e.base + "/settings/integrations?gitlab=success&integration_id=" + url.QueryEscape(id) + "&tab=gitlab"
	if got := res.Header.Get("Location"); got != want {
		t.Fatalf("callback redirects to %q, want %q", got, want)
	}
	detail := e.do("GET", "/v1/integrations/"+id, e.owner, nil)
	var d struct {
		Integration struct {
			Status          string `json:"status"`
			AccountUsername string `json:"account_username"`
		} `json:"integration"`
		RepositoryCount int `json:"repository_count"`
	}
	detail.Decode(t, &d)
	if d.Integration.Status != "active" || d.Integration.AccountUsername != "demo" || d.RepositoryCount < 3 {
		t.Fatalf("after the callback: %s", detail.Body)
	}

	// Replay: the state is one-time.
	exchanges := e.sim.TokenRequests("authorization_code")
	audits := e.rows("audit_events")
	res = callback(cb)
	if res.Status != 200 || !strings.Contains(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(res.Body), "already used") {
		t.Fatalf("replayed callback: %d %s", res.Status, res.Body)
	}
	if e.sim.TokenRequests("authorization_code") != exchanges || e.rows("audit_events") != audits {
		t.Fatal("a replayed callback exchanged a code or changed something")
	}
	// A forged state.
	if res := callback(e.base + "/v1/integrations/gitlab/callback?code=x&state=forged"); res.Status != 200 || !strings.Contains(string(res.Body), "not valid") {
		t.Fatalf("forged state: %d %s", res.Status, res.Body)
	}
	// The user denies at GitLab.
	e.sim.DenyNextAuthorize()
	res = callback(authorize())
	if res.Status != 200 || !strings.Contains(string(res.Body), "access_denied") || e.rows("audit_events") != audits {
		t.Fatalf("denied authorization: %d %s", res.Status, res.Body)
	}

	for name, raw := range databaseFiles(t, e.dataDir) {
		assertNoSecretIn(t, name, raw, map[string]string{"OAuth client secret": clientSecret, "owner API token": e.owner})
	}
	revokes := e.sim.Requests("POST", "/oauth/revoke")
	if r := e.do("DELETE", "/v1/integrations/"+id, e.owner, nil); r.Status != 200 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if e.sim.Requests("POST", "/oauth/revoke") <= revokes {
		t.Fatal("deleting the integration did not revoke the grant at GitLab")
	}
}
