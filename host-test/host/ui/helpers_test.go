package ui_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/ui"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// gitlabInfo is a provider info shaped like the GitLab plugin's, with both
// auth modes and project webhooks.
func gitlabInfo() *scmv1.ProviderInfo {
	return &scmv1.ProviderInfo{
		Name: "gitlab", DisplayName: "GitLab", Version: "0.1.0", ProtocolVersions: []uint32{1},
		DefaultHostUrl: "https://gitlab.com",
		Capabilities:   []scmv1.Capability{scmv1.Capability_CAPABILITY_PROJECT_WEBHOOKS},
		AuthModes: []*scmv1.AuthModeInfo{
			{
				Mode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, Label: "Personal access token",
				Help:           "Create a personal access token in GitLab.",
				RequiredScopes: []*scmv1.ScopeRequirement{{AnyOf: []string{"read_repository"}}, {AnyOf: []string{"api", "read_api"}}},
				DefaultScopes:  []string{"api", "read_repository"},
				Fields: []*scmv1.FormField{
					{Name: "host_url", Label: "GitLab URL", Kind: "url", Required: true, Help: "https://gitlab.com or your own.", DefaultValue: "https://gitlab.com"},
					{Name: "access_token", Label: "Access token", Kind: "password", Required: true, Secret: true, Help: "Scopes: api and read_repository."},
				},
			},
			{
				Mode: scmv1.AuthMode_AUTH_MODE_OAUTH_APP, Label: "OAuth application",
				DefaultScopes: []string{"api", "read_repository"},
				Fields: []*scmv1.FormField{
					{Name: "host_url", Label: "GitLab URL", Kind: "url", Required: true, DefaultValue: "https://gitlab.com"},
					{Name: "client_id", Label: "Application ID", Kind: "text", Required: true},
					{Name: "client_secret", Label: "Secret", Kind: "password", Required: true, Secret: true},
				},
			},
		},
	}
}

// forgejoInfo is a second, made-up provider whose form has other fields.
func forgejoInfo() *scmv1.ProviderInfo {
	return &scmv1.ProviderInfo{
		Name: "forgejo", DisplayName: "Forgejo", ProtocolVersions: []uint32{1},
		AuthModes: []*scmv1.AuthModeInfo{{
			Mode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, Label: "Application token",
			Fields: []*scmv1.FormField{
				{Name: "host_url", Label: "Forgejo address", Kind: "url", Required: true},
				{Name: "team", Label: "Team slug", Kind: "text", Help: "Optional: only this team's repositories.", Placeholder: "mobile"},
				{Name: "access_token", Label: "Token", Kind: "password", Secret: true, Required: true},
			},
		}},
	}
}

type env struct {
	t   *testing.T
	api *fakeAPI
	h   *ui.Handler
}

func newEnv(t *testing.T, opts ...func(*ui.Options)) *env {
	t.Helper()
	api := newFakeAPI()
	o := ui.Options{
		API: api.mux, Providers: ui.StaticProviders{gitlabInfo(), forgejoInfo()},
		PublicURL: "http://oore.test",
		Now:       func() time.Time { return time.Unix(1764300000, 0) },
	}
	for _, f := range opts {
		f(&o)
	}
	h, err := ui.New(o)
	if err != nil {
		t.Fatalf("ui.New: %v", err)
	}
	return &env{t: t, api: api, h: h}
}

// browser is a cookie-keeping client of the handler, like a person's browser
// on the same origin.
type browser struct {
	e      *env
	cookie *http.Cookie
	csrf   string
}

func (e *env) browser() *browser { return &browser{e: e} }

// signedIn signs in with the API token.
func (e *env) signedIn() *browser {
	b := e.browser()
	res := b.post("/ui/signin", url.Values{"token": {apiToken}, "next": {"/ui/integrations"}})
	if res.Code != http.StatusSeeOther {
		e.t.Fatalf("sign in: status %d: %s", res.Code, res.Body)
	}
	b.get("/ui/integrations") // picks up the CSRF token
	if b.csrf == "" {
		e.t.Fatal("sign in: no CSRF token on the integrations page")
	}
	return b
}

func (b *browser) do(req *http.Request) *httptest.ResponseRecorder {
	b.e.t.Helper()
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	rec := httptest.NewRecorder()
	b.e.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "oore_ui_session" {
			if c.MaxAge < 0 {
				b.cookie = nil
			} else {
				b.cookie = c
			}
		}
	}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		doc := parse(b.e.t, rec.Body.String())
		for _, n := range findAll(doc, func(n *html.Node) bool { return n.Data == "input" && attr(n, "name") == "csrf" }) {
			b.csrf = attr(n, "value")
		}
	}
	return rec
}

func (b *browser) get(path string) *httptest.ResponseRecorder {
	return b.do(httptest.NewRequest(http.MethodGet, "http://oore.test"+path, nil))
}

// post sends a form, adding the CSRF token the last page carried unless
// the form has one.
func (b *browser) post(path string, form url.Values) *httptest.ResponseRecorder {
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok && b.csrf != "" {
		form.Set("csrf", b.csrf)
	}
	req := httptest.NewRequest(http.MethodPost, "http://oore.test"+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func parse(t *testing.T, s string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func byID(doc *html.Node, id string) *html.Node {
	if n := findAll(doc, func(n *html.Node) bool { return attr(n, "id") == id }); len(n) > 0 {
		return n[0]
	}
	return nil
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, name string) bool {
	for _, a := range n.Attr {
		if a.Key == name {
			return true
		}
	}
	return false
}

// text is the text content of n, with runs of white space collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// assertAccessible checks what every page must have: a language, one h1,
// a label for every visible form control, described-by ids that exist, and
// buttons with names.
func assertAccessible(t *testing.T, doc *html.Node) {
	t.Helper()
	if h := findAll(doc, func(n *html.Node) bool { return n.Data == "html" }); len(h) != 1 || attr(h[0], "lang") == "" {
		t.Error("page: <html> has no lang")
	}
	if h1 := findAll(doc, func(n *html.Node) bool { return n.Data == "h1" }); len(h1) != 1 {
		t.Errorf("page has %d h1 elements, want 1", len(h1))
	}
	labels := map[string]bool{}
	for _, l := range findAll(doc, func(n *html.Node) bool { return n.Data == "label" }) {
		labels[attr(l, "for")] = true
	}
	controls := findAll(doc, func(n *html.Node) bool {
		return (n.Data == "input" && attr(n, "type") != "hidden") || n.Data == "select" || n.Data == "textarea"
	})
	for _, c := range controls {
		id := attr(c, "id")
		if id == "" || !labels[id] {
			t.Errorf("form control name=%q id=%q has no <label for>", attr(c, "name"), id)
		}
		for _, ref := range strings.Fields(attr(c, "aria-describedby")) {
			if byID(doc, ref) == nil {
				t.Errorf("control %q: aria-describedby names missing id %q", id, ref)
			}
		}
	}
	for _, b := range findAll(doc, func(n *html.Node) bool { return n.Data == "button" }) {
		if text(b) == "" && attr(b, "aria-label") == "" {
			t.Error("a button has no accessible name")
		}
	}
}
