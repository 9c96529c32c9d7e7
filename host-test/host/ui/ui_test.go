package ui_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/ui"
)

func TestSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()

	res := b.get("/ui/integrations/int-1/repositories?q=app")
	if res.Code != http.StatusSeeOther || res.Header().Get("Location") != "/ui/signin?next="+url.QueryEscape("/ui/integrations/int-1/repositories?q=app") {
		t.Fatalf("signed out GET: %d to %q, want 303 to sign-in with next", res.Code, res.Header().Get("Location"))
	}

	res = b.post("/ui/signin", url.Values{"token": {"wrong-token"}, "next": {"/ui/deliveries"}})
	if res.Code != http.StatusUnauthorized {
		t.Fatalf("bad token: status %d, want 401", res.Code)
	}
	doc := parse(t, res.Body.String())
	assertAccessible(t, doc)
	in := byID(doc, "f-token")
	if attr(in, "aria-invalid") != "true" || !strings.Contains(attr(in, "aria-describedby"), "err-token") {
		t.Errorf("bad token: field not marked invalid and described by its error: %v", in.Attr)
	}
	if msg := text(byID(doc, "err-token")); !strings.Contains(msg, "does not accept that API token") {
		t.Errorf("bad token: error text %q", msg)
	}
	if strings.Contains(res.Body.String(), "wrong-token") {
		t.Error("the typed token was rendered back into the page")
	}
	if b.cookie != nil {
		t.Error("a session cookie was set for a bad token")
	}

	res = b.post("/ui/signin", url.Values{"token": {apiToken}, "next": {"/ui/deliveries"}})
	if res.Code != http.StatusSeeOther || res.Header().Get("Location") != "/ui/deliveries" {
		t.Fatalf("good token: %d to %q, want 303 to /ui/deliveries", res.Code, res.Header().Get("Location"))
	}
	c := b.cookie
	if c == nil {
		t.Fatal("good token: no session cookie")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/ui/" {
		t.Errorf("cookie flags: HttpOnly=%v SameSite=%v Secure=%v Path=%q; want HttpOnly, Strict, not Secure over http, /ui/", c.HttpOnly, c.SameSite, c.Secure, c.Path)
	}
	if strings.Contains(c.Value, apiToken) {
		t.Error("the session cookie holds the API token in clear")
	}
	if res := b.get("/ui/deliveries"); res.Code != http.StatusOK {
		t.Errorf("signed in GET: status %d", res.Code)
	}
	if got := e.api.calls("GET", "/v1/webhook-deliveries"); len(got) == 0 || got[len(got)-1].Auth != "Bearer "+apiToken {
		t.Errorf("the API was not called with the signed-in token: %+v", got)
	}

	// Signing out clears the cookie.
	res = b.post("/ui/signout", nil)
	if res.Code != http.StatusSeeOther || b.cookie != nil {
		t.Errorf("sign out: status %d, cookie %v", res.Code, b.cookie)
	}
}

func TestSessionCookieSecureOverHTTPS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *ui.Options) { o.PublicURL = "https://oore.example.com" })
	b := e.browser()
	b.post("/ui/signin", url.Values{"token": {apiToken}})
	if b.cookie == nil || !b.cookie.Secure {
		t.Fatalf("cookie over https: %+v, want Secure", b.cookie)
	}
}

func TestSessionsFromAnotherKeyAreRefused(t *testing.T) {
	t.Parallel()
	e1 := newEnv(t)
	b := e1.signedIn()
	e2 := newEnv(t)
	b.e = e2
	if res := b.get("/ui/integrations"); res.Code != http.StatusSeeOther {
		t.Errorf("a cookie sealed with another key: status %d, want 303 to sign in", res.Code)
	}
}

func TestExpiredAPITokenSignsOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signedIn()
	e.api.mu.Lock()
	e.api.token = "rotated"
	e.api.mu.Unlock()
	res := b.get("/ui/integrations")
	if res.Code != http.StatusSeeOther || res.Header().Get("Location") != "/ui/signin?expired=1" {
		t.Fatalf("refused token: %d to %q, want 303 to /ui/signin?expired=1", res.Code, res.Header().Get("Location"))
	}
	if b.cookie != nil {
		t.Error("the session cookie was not cleared")
	}
}

func TestPostsNeedTheSessionsCSRFToken(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		csrf     func(b *browser) string
		fetch    string
		wantCode int
	}{
		"the session's token":       {csrf: func(b *browser) string { return b.csrf }, fetch: "same-origin", wantCode: http.StatusSeeOther},
		"no token":                  {csrf: func(*browser) string { return "" }, fetch: "same-origin", wantCode: http.StatusForbidden},
		"another session's token":   {csrf: func(*browser) string { return newEnv(t).signedIn().csrf }, fetch: "same-origin", wantCode: http.StatusForbidden},
		"the token, cross-site":     {csrf: func(b *browser) string { return b.csrf }, fetch: "cross-site", wantCode: http.StatusForbidden},
		"the token, from same-site": {csrf: func(b *browser) string { return b.csrf }, fetch: "same-site", wantCode: http.StatusForbidden},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			b := e.signedIn()
			form := url.Values{"csrf": {tc.csrf(b)}}
			req := httptest.NewRequest(http.MethodPost, "http://oore.test/ui/integrations/int-1/sync", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(b.cookie)
			req.Header.Set("Sec-Fetch-Site", tc.fetch)
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			if rec.Code != tc.wantCode {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantCode)
			}
			synced := len(e.api.calls("POST", "/v1/integrations/int-1/installations")) > 0
			if synced != (tc.wantCode == http.StatusSeeOther) {
				t.Errorf("API called = %v, want %v", synced, tc.wantCode == http.StatusSeeOther)
			}
		})
	}
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signedIn()
	for _, p := range []string{"/ui/integrations", "/ui/nowhere", "/ui/assets/style.css", "/ui/signin"} {
		res := b.get(p)
		csp := res.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if res.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", p)
		}
		if !strings.HasPrefix(p, "/ui/assets/") && res.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", p, res.Header().Get("Cache-Control"))
		}
	}
	if res := b.get("/ui/assets/"); res.Code != http.StatusNotFound {
		t.Errorf("asset directory listing: status %d, want 404", res.Code)
	}
}

func TestPagesAreAccessible(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.api.addRepositories(3)
	e.api.deliveries = []map[string]any{{"id": "d1", "provider": "gitlab", "repository_full_name": "group/app-01", "event_kind": "push", "event_name": "Push Hook", "received_at": 1764300000}}
	b := e.signedIn()
	for _, p := range []string{
		"/ui/integrations", "/ui/connect", "/ui/connect/gitlab", "/ui/connect/gitlab?mode=oauth_app",
		"/ui/connect/forgejo", "/ui/integrations/int-1", "/ui/integrations/int-1/delete",
		"/ui/integrations/int-1/repositories", "/ui/deliveries", "/ui/nowhere",
	} {
		t.Run(p, func(t *testing.T) {
			res := b.get(p)
			if res.Code != http.StatusOK && p != "/ui/nowhere" {
				t.Fatalf("status %d", res.Code)
			}
			doc := parse(t, res.Body.String())
			assertAccessible(t, doc)
			if len(findAll(doc, func(n *html.Node) bool { return n.Data == "meta" && attr(n, "name") == "viewport" })) != 1 {
				t.Error("no viewport meta: not readable at phone width")
			}
			if strings.Contains(res.Body.String(), apiToken) {
				t.Error("the API token appears in the page")
			}
		})
	}
}
