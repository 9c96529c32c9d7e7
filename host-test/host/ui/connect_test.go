package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// formInputs maps the visible inputs of the connect form by name.
func formInputs(t *testing.T, doc *html.Node) map[string]*html.Node {
	t.Helper()
	form := byID(doc, "connect-form")
	if form == nil {
		t.Fatal("no connect form")
	}
	out := map[string]*html.Node{}
	for _, n := range findAll(form, func(n *html.Node) bool { return n.Data == "input" && attr(n, "type") != "hidden" }) {
		out[attr(n, "name")] = n
	}
	return out
}

func labelFor(doc *html.Node, id string) string {
	for _, l := range findAll(doc, func(n *html.Node) bool { return n.Data == "label" && attr(n, "for") == id }) {
		return text(l)
	}
	return ""
}

func TestConnectFormIsDrawnFromProviderInfo(t *testing.T) {
	t.Parallel()
	type field struct{ label, typ, help string }
	cases := map[string]struct {
		path       string
		want       map[string]field
		wantButton string
		wantOAuth  bool
	}{
		"gitlab token": {
			path: "/ui/connect/gitlab",
			want: map[string]field{
				"host_url":     {"GitLab URL (required)", "url", "https://gitlab.com or your own."},
				"access_token": {"Access token (required)", "password", "Scopes: api and read_repository."},
			},
			wantButton: "Connect",
		},
		"gitlab oauth": {
			path: "/ui/connect/gitlab?mode=oauth_app",
			want: map[string]field{
				"host_url":      {"GitLab URL (required)", "url", ""},
				"client_id":     {"Application ID (required)", "text", ""},
				"client_secret": {"Secret (required)", "password", ""},
			},
			wantButton: "Continue to GitLab",
			wantOAuth:  true,
		},
		"a second provider, with no UI code of its own": {
			path: "/ui/connect/forgejo",
			want: map[string]field{
				"host_url":     {"Forgejo address (required)", "url", ""},
				"team":         {"Team slug", "text", "Optional: only this team's repositories."},
				"access_token": {"Token (required)", "password", ""},
			},
			wantButton: "Connect",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newEnv(t).signedIn()
			res := b.get(tc.path)
			if res.Code != http.StatusOK {
				t.Fatalf("status %d", res.Code)
			}
			doc := parse(t, res.Body.String())
			assertAccessible(t, doc)
			inputs := formInputs(t, doc)
			if len(inputs) != len(tc.want) {
				t.Errorf("form has %d inputs, want %d", len(inputs), len(tc.want))
			}
			for name, w := range tc.want {
				in := inputs[name]
				if in == nil {
					t.Errorf("no input %q", name)
					continue
				}
				if got := labelFor(doc, attr(in, "id")); got != w.label {
					t.Errorf("%s: label %q, want %q", name, got, w.label)
				}
				if attr(in, "type") != w.typ {
					t.Errorf("%s: type %q, want %q", name, attr(in, "type"), w.typ)
				}
				if w.typ == "password" && (attr(in, "value") != "" || attr(in, "autocomplete") != "new-password") {
					t.Errorf("%s: a secret field has a value or may be autofilled", name)
				}
				if w.help != "" {
					ref := attr(in, "aria-describedby")
					if ref == "" || text(byID(doc, ref)) != w.help {
						t.Errorf("%s: help %q not linked by aria-describedby (%q)", name, w.help, ref)
					}
				}
			}
			if btn := byID(doc, "connect-submit"); btn == nil || text(btn) != tc.wantButton {
				t.Errorf("submit button: want %q", tc.wantButton)
			}
			reg := byID(doc, "oauth-register")
			if (reg != nil) != tc.wantOAuth {
				t.Fatalf("OAuth registration box shown = %v, want %v", reg != nil, tc.wantOAuth)
			}
			if tc.wantOAuth {
				if got := attr(byID(doc, "redirect-uri"), "value"); got != "http://oore.test/v1/integrations/gitlab/callback" {
					t.Errorf("redirect URI %q", got)
				}
				if txt := text(reg); !strings.Contains(txt, "Scopes: api, read_repository") {
					t.Errorf("scopes not shown: %q", txt)
				}
			}
		})
	}
}

func TestConnectWithAToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signedIn()
	b.get("/ui/connect/gitlab")
	res := b.post("/ui/connect/gitlab", url.Values{
		"auth_mode": {"personal_token"}, "host_url": {" https://gitlab.example.com "}, "access_token": {"glpat-secret-value"},
	})
	if res.Code != http.StatusSeeOther || res.Header().Get("Location") != "/ui/integrations/int-2?connected=1" {
		t.Fatalf("status %d to %q, want 303 to the new integration", res.Code, res.Header().Get("Location"))
	}
	calls := e.api.calls("POST", "/v1/integrations/gitlab/start")
	if len(calls) != 1 {
		t.Fatalf("%d start calls, want 1", len(calls))
	}
	want := map[string]any{"auth_mode": "personal_token", "host_url": "https://gitlab.example.com", "access_token": "glpat-secret-value"}
	for k, v := range want {
		if calls[0].Body[k] != v {
			t.Errorf("start body %s = %v, want %v", k, calls[0].Body[k], v)
		}
	}
	page := b.get(res.Header().Get("Location"))
	if notice := byID(parse(t, page.Body.String()), "page-notice"); notice == nil || !strings.Contains(text(notice), "Connected") {
		t.Error("the integration page does not say it connected")
	}
}

func TestConnectWithOAuthGoesToTheProvider(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signedIn()
	res := b.post("/ui/connect/gitlab", url.Values{
		"auth_mode": {"oauth_app"}, "host_url": {"https://gitlab.example.com"}, "client_id": {"app-id"}, "client_secret": {"gloas-secret"},
	})
	if res.Code != http.StatusSeeOther || !strings.HasPrefix(res.Header().Get("Location"), "https://gitlab.example.com/oauth/authorize?") {
		t.Fatalf("status %d to %q, want 303 to the provider's authorize URL", res.Code, res.Header().Get("Location"))
	}
	auth := e.api.calls("POST", "/v1/integrations/gitlab/authorize")
	if len(auth) != 1 || auth[0].Body["integration_id"] != "int-2" || auth[0].Body["redirect_url"] != "http://oore.test/ui/oauth/return" {
		t.Fatalf("authorize calls: %+v", auth)
	}

	// Back from the provider, without the Strict cookie: the return page
	// moves the browser on with a same-site navigation.
	anon := e.browser()
	ret := anon.get("/ui/oauth/return?gitlab=success&integration_id=int-2")
	doc := parse(t, ret.Body.String())
	meta := findAll(doc, func(n *html.Node) bool { return n.Data == "meta" && attr(n, "http-equiv") == "refresh" })
	if ret.Code != http.StatusOK || len(meta) != 1 || attr(meta[0], "content") != "0;url=/ui/integrations/int-2?connected=1" {
		t.Fatalf("return page: status %d, refresh %v", ret.Code, meta)
	}
	if attr(byID(doc, "continue"), "href") != "/ui/integrations/int-2?connected=1" {
		t.Error("return page: no link to the integration")
	}
}

func TestConnectShowsAPIErrorsNextToTheirField(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		status    int
		body      string
		wantField string // "" = the page-level alert
		wantText  string
	}{
		"missing scope on the token": {
			status: 400, body: `{"error":"The token lacks the scopes read_repository.","code":"gitlab_scope_missing"}`,
			wantField: "access_token", wantText: "lacks the scopes read_repository",
		},
		"rejected token": {
			status: 400, body: `{"error":"GitLab rejected the token.","code":"gitlab_auth_failed"}`,
			wantField: "access_token", wantText: "not revoked or expired",
		},
		"unreachable host": {
			status: 502, body: `{"error":"GitLab at https://gitlab.example.com could not be reached.","code":"gitlab_unreachable"}`,
			wantField: "host_url", wantText: "Check the address",
		},
		"a field violation the host reports": {
			status: 400, body: `{"error":"invalid request","code":"invalid_input","fields":[{"field":"connection.host_url","description":"must use https (http only for loopback)"}]}`,
			wantField: "host_url", wantText: "Must use https (http only for loopback).",
		},
		"a field named in the details": {
			status: 400, body: `{"error":"invalid input","code":"invalid_input","details":"host_url: has a path"}`,
			wantField: "host_url", wantText: "host_url: has a path",
		},
		"read-only role": {
			status: 403, body: `{"error":"forbidden","code":"forbidden"}`,
			wantText: "sign in with an owner or admin token",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.api.set("POST /v1/integrations/gitlab/start", tc.status, tc.body)
			b := e.signedIn()
			res := b.post("/ui/connect/gitlab", url.Values{
				"auth_mode": {"personal_token"}, "host_url": {"https://gitlab.example.com"}, "access_token": {"glpat-typed-secret"},
			})
			if res.Code != tc.status {
				t.Errorf("status %d, want %d", res.Code, tc.status)
			}
			doc := parse(t, res.Body.String())
			assertAccessible(t, doc)
			if strings.Contains(res.Body.String(), "glpat-typed-secret") {
				t.Error("the typed secret was rendered back")
			}
			in := formInputs(t, doc)
			if attr(in["host_url"], "value") != "https://gitlab.example.com" {
				t.Error("the host URL the person typed was lost")
			}
			for _, f := range []string{"host_url", "access_token"} {
				errNode := byID(doc, "err-"+f)
				if f != tc.wantField {
					if errNode != nil || attr(in[f], "aria-invalid") != "" {
						t.Errorf("%s is marked in error", f)
					}
					continue
				}
				if errNode == nil || !strings.Contains(text(errNode), tc.wantText) {
					t.Fatalf("%s: error %v, want one containing %q", f, errNode, tc.wantText)
				}
				if attr(in[f], "aria-invalid") != "true" || !strings.Contains(attr(in[f], "aria-describedby"), "err-"+f) {
					t.Errorf("%s: not marked invalid or not described by its error", f)
				}
			}
			alert := byID(doc, "page-error")
			if alert == nil {
				t.Fatal("no page-level alert")
			}
			if tc.wantField == "" && !strings.Contains(text(alert), tc.wantText) {
				t.Errorf("alert %q, want %q", text(alert), tc.wantText)
			}
		})
	}
}

func TestConnectChecksRequiredFieldsFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signedIn()
	res := b.post("/ui/connect/forgejo", url.Values{"auth_mode": {"personal_token"}, "host_url": {"https://code.example.org"}})
	if res.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", res.Code)
	}
	doc := parse(t, res.Body.String())
	if got := text(byID(doc, "err-access_token")); got != "Error: Enter the token." {
		t.Errorf("access_token error %q", got)
	}
	if byID(doc, "err-team") != nil {
		t.Error("an optional field was marked in error")
	}
	if n := len(e.api.calls("POST", "/v1/integrations/forgejo/start")); n != 0 {
		t.Errorf("the API was called %d times with a required field missing", n)
	}
}

func TestConnectUnknownProviderOrMode(t *testing.T) {
	t.Parallel()
	b := newEnv(t).signedIn()
	if res := b.get("/ui/connect/bitbucket"); res.Code != http.StatusNotFound {
		t.Errorf("unknown provider: status %d", res.Code)
	}
	if res := b.get("/ui/connect/forgejo?mode=oauth_app"); res.Code != http.StatusNotFound {
		t.Errorf("unknown mode: status %d", res.Code)
	}
	if res := b.post("/ui/connect/gitlab", url.Values{"host_url": {"https://gitlab.com"}}); res.Code != http.StatusBadRequest {
		t.Errorf("no mode: status %d", res.Code)
	}
}
