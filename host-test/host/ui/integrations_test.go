package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func cell(row *html.Node, label string) string {
	for _, c := range findAll(row, func(n *html.Node) bool { return attr(n, "data-label") == label }) {
		return text(c)
	}
	return ""
}

func TestIntegrationsList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.api.integrations = append(e.api.integrations, map[string]any{
		"id": "int-2", "provider": "gitlab", "host_url": "https://gitlab.com", "auth_mode": "oauth_app",
		"status": "error", "reconnect_required": true, "status_reason": "GitLab refused the refresh token.",
		"created_by": "owner", "created_at": 1764300000, "updated_at": 1764300000,
	})
	b := e.signedIn()
	doc := parse(t, b.get("/ui/integrations").Body.String())
	assertAccessible(t, doc)

	want := map[string]map[string]string{
		"integration-int-1": {"Integration": "@demo", "Provider": "GitLab", "Host": "https://gitlab.example.com", "Auth mode": "Personal access token", "Status": "active", "Credentials": "Valid"},
		"integration-int-2": {"Integration": "https://gitlab.com", "Provider": "GitLab", "Host": "https://gitlab.com", "Auth mode": "OAuth application", "Status": "error", "Credentials": "Reconnect required GitLab refused the refresh token."},
	}
	for id, cols := range want {
		row := byID(doc, id)
		if row == nil {
			t.Fatalf("no row %s", id)
		}
		for label, v := range cols {
			if got := cell(row, label); got != v {
				t.Errorf("%s %s = %q, want %q", id, label, got, v)
			}
		}
		del := findAll(row, func(n *html.Node) bool { return n.Data == "a" && strings.HasPrefix(text(n), "Delete") })
		if len(del) != 1 || attr(del[0], "href") != "/ui/integrations/"+strings.TrimPrefix(id, "integration-")+"/delete" {
			t.Errorf("%s: no Delete button leading to the confirmation", id)
		}
	}
	connect := findAll(doc, func(n *html.Node) bool { return n.Data == "a" && text(n) == "Connect GitLab" })
	if len(connect) != 1 || attr(connect[0], "href") != "/ui/connect/gitlab" {
		t.Error("no Connect GitLab button")
	}
}

func TestDeleteAsksFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signedIn()
	res := b.get("/ui/integrations/int-1/delete")
	doc := parse(t, res.Body.String())
	assertAccessible(t, doc)
	if !strings.Contains(text(doc), "cannot be undone") || byID(doc, "confirm-delete") == nil {
		t.Fatal("the confirmation page does not ask")
	}
	if n := len(e.api.calls("DELETE", "/v1/integrations/int-1")); n != 0 {
		t.Fatalf("showing the confirmation deleted (%d calls)", n)
	}

	e.api.set("DELETE /v1/integrations/int-1", 409, `{"error":"The integration has builds running.","code":"integration_has_active_builds"}`)
	res = b.post("/ui/integrations/int-1/delete", nil)
	if res.Code != http.StatusConflict || !strings.Contains(text(byID(parse(t, res.Body.String()), "page-error")), "Wait for its builds to finish") {
		t.Fatalf("409: status %d", res.Code)
	}

	e.api.mu.Lock()
	delete(e.api.override, "DELETE /v1/integrations/int-1")
	e.api.mu.Unlock()
	res = b.post("/ui/integrations/int-1/delete", nil)
	if res.Code != http.StatusSeeOther || res.Header().Get("Location") != "/ui/integrations?deleted="+url.QueryEscape("@demo") {
		t.Fatalf("delete: %d to %q", res.Code, res.Header().Get("Location"))
	}
	list := parse(t, b.get(res.Header().Get("Location")).Body.String())
	if byID(list, "integration-int-1") != nil || !strings.Contains(text(byID(list, "page-notice")), "Deleted the integration @demo") {
		t.Error("the list still shows the integration or does not say it was deleted")
	}
}

func TestCheckCredentialsShowsTheAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signedIn()
	b.get("/ui/integrations/int-1")
	res := b.post("/ui/integrations/int-1/check", nil)
	notice := byID(parse(t, res.Body.String()), "page-notice")
	if notice == nil || text(notice) != "Credentials checked: Expiring. Expires 2025-12-06." {
		t.Fatalf("notice %v", notice)
	}
}

func TestReauthorizeAnOAuthIntegration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.api.integrations[0]["auth_mode"] = "oauth_app"
	e.api.integrations[0]["status"] = "inactive"
	b := e.signedIn()
	doc := parse(t, b.get("/ui/integrations/int-1").Body.String())
	if len(findAll(doc, func(n *html.Node) bool {
		return n.Data == "form" && attr(n, "action") == "/ui/integrations/int-1/authorize"
	})) != 1 {
		t.Fatal("an inactive OAuth integration offers no Authorize button")
	}
	res := b.post("/ui/integrations/int-1/authorize", nil)
	if res.Code != http.StatusSeeOther || !strings.HasPrefix(res.Header().Get("Location"), "https://gitlab.example.com/oauth/authorize") {
		t.Fatalf("authorize: %d to %q", res.Code, res.Header().Get("Location"))
	}
}

func TestDeliveries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.api.deliveries = []map[string]any{
		{"id": "d2", "provider": "gitlab", "integration_id": "int-1", "repository_full_name": "group/app-01", "event_kind": "push", "event_name": "Push Hook",
			"triggered": true, "received_at": 1764300600,
			"builds": []any{map[string]any{"id": "t1", "kind": "push", "branch": "main", "sha": "0123456789abcdef0123", "status": "queued"}}},
		{"id": "d1", "provider": "gitlab", "integration_id": "int-1", "repository_full_name": "group/app-01", "event_kind": "tag_push", "event_name": "Tag Push Hook",
			"triggered": false, "ignored_reason": "tag pushes do not trigger builds", "received_at": 1764300500},
	}
	b := e.signedIn()
	res := b.get("/ui/deliveries?integration=int-1")
	doc := parse(t, res.Body.String())
	assertAccessible(t, doc)
	if got := cell(byID(doc, "delivery-d2"), "Result"); got != "build queued push on main at 0123456789ab" {
		t.Errorf("triggered delivery: %q", got)
	}
	if got := cell(byID(doc, "delivery-d1"), "Result"); got != "Not built: tag pushes do not trigger builds" {
		t.Errorf("ignored delivery: %q", got)
	}
	calls := e.api.calls("GET", "/v1/webhook-deliveries")
	if q, _ := url.ParseQuery(calls[len(calls)-1].Query); q.Get("integration_id") != "int-1" || q.Get("limit") != "20" {
		t.Errorf("deliveries query %v", q)
	}
}
