package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/ui"
)

func repoNames(doc *html.Node) []string {
	var out []string
	for _, n := range findAll(doc, func(n *html.Node) bool { return attr(n, "class") == "repo-name" }) {
		out = append(out, text(n))
	}
	return out
}

// registerButtons are the "Register webhook automatically" buttons of a
// repository's panel: they post the panel's form to the registration.
func registerButtons(doc *html.Node, repoID string) []*html.Node {
	return findAll(doc, func(n *html.Node) bool {
		return n.Data == "button" && attr(n, "formaction") == "/ui/repositories/"+repoID+"/webhook"
	})
}

func TestRepositoriesSearchAndPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.api.addRepositories(45)
	b := e.signedIn()

	res := b.get("/ui/integrations/int-1/repositories")
	doc := parse(t, res.Body.String())
	assertAccessible(t, doc)
	names := repoNames(doc)
	if len(names) != 20 || names[0] != "group/app-01" {
		t.Fatalf("page 1: %d repositories starting %v", len(names), names[:1])
	}
	pager := findAll(doc, func(n *html.Node) bool { return n.Data == "nav" && attr(n, "class") == "pager" })
	if len(pager) != 1 || !strings.Contains(text(pager[0]), "Showing 1–20 of 45") {
		t.Fatalf("pager: %v", pager)
	}
	next := findAll(doc, func(n *html.Node) bool { return n.Data == "a" && attr(n, "rel") == "next" })
	if len(next) != 1 || attr(next[0], "href") != "/ui/integrations/int-1/repositories?page=2" {
		t.Fatalf("next link: %v", next)
	}

	res = b.get("/ui/integrations/int-1/repositories?page=3")
	doc = parse(t, res.Body.String())
	if names := repoNames(doc); len(names) != 5 || names[0] != "group/app-41" {
		t.Errorf("page 3: %v", names)
	}
	calls := e.api.calls("GET", "/v1/integrations/int-1/repositories")
	if q := calls[len(calls)-1].Query; q != "limit=20&offset=40" {
		t.Errorf("page 3 asked the API for %q", q)
	}
	if len(findAll(doc, func(n *html.Node) bool { return n.Data == "a" && attr(n, "rel") == "next" })) != 0 {
		t.Error("the last page links to a next page")
	}

	// Search is a plain GET form: it works without JavaScript and keeps the
	// words in the paging links.
	res = b.get("/ui/integrations/int-1/repositories?q=app-1")
	doc = parse(t, res.Body.String())
	if names := repoNames(doc); len(names) != 10 {
		t.Errorf("search app-1: %v", names)
	}
	if attr(byID(doc, "f-q"), "value") != "app-1" {
		t.Error("the search field lost the words")
	}
	calls = e.api.calls("GET", "/v1/integrations/int-1/repositories")
	if q, _ := url.ParseQuery(calls[len(calls)-1].Query); q.Get("q") != "app-1" {
		t.Errorf("search asked the API for %v", q)
	}
	res = b.get("/ui/integrations/int-1/repositories?q=nothing-matches")
	if !strings.Contains(res.Body.String(), "No repository matches") {
		t.Error("an empty search result says nothing")
	}
}

func TestWebhookSecretIsShownOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.api.addRepositories(3)
	b := e.signedIn()
	page := b.get("/ui/integrations/int-1/repositories")
	doc := parse(t, page.Body.String())
	if got := attr(byID(doc, "url-repo-2"), "value"); got != "http://oore.test/v1/webhooks/gitlab" {
		t.Errorf("webhook URL before a secret: %q", got)
	}

	res := b.post("/ui/repositories/repo-2/webhook-secret", url.Values{"integration_id": {"int-1"}, "page": {"1"}})
	if res.Code != http.StatusOK {
		t.Fatalf("status %d", res.Code)
	}
	if res.Header().Get("Cache-Control") != "no-store" {
		t.Error("the page with the secret may be cached")
	}
	doc = parse(t, res.Body.String())
	assertAccessible(t, doc)
	secret := byID(doc, "secret-repo-2")
	if secret == nil || attr(secret, "value") != "whsecret-repo-2-once" || !hasAttr(secret, "readonly") {
		t.Fatalf("secret field: %v", secret)
	}
	if got := attr(byID(doc, "url-repo-2"), "value"); got != "https://oore.example.com/v1/webhooks/gitlab" {
		t.Errorf("webhook URL from the API: %q", got)
	}
	panel := findAll(doc, func(n *html.Node) bool { return n.Data == "details" && hasAttr(n, "open") })
	if len(panel) != 1 || !strings.Contains(text(panel[0]), "shown only once") {
		t.Error("the panel with the secret is not open or does not say it is shown once")
	}
	copyBtn := findAll(doc, func(n *html.Node) bool { return n.Data == "button" && attr(n, "data-copy") == "secret-repo-2" })
	if len(copyBtn) != 1 {
		t.Error("no copy button for the secret")
	}
	if strings.Count(res.Body.String(), "whsecret-") != 1 {
		t.Error("the secret appears more than once, or for another repository")
	}
	if calls := e.api.calls("POST", "/v1/integration-repositories/repo-2/gitlab-webhook-secret"); len(calls) != 1 {
		t.Errorf("%d rotate calls", len(calls))
	}

	again := b.get("/ui/integrations/int-1/repositories")
	if strings.Contains(again.Body.String(), "whsecret-") {
		t.Error("the secret is shown again")
	}
}

func TestRegisterWebhookButton(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		route        bool
		capabilities []string
		want         bool
	}{
		"the host serves the endpoint":                   {route: true, want: true},
		"the host answers 404":                           {route: false, want: false},
		"the connection may not manage webhooks":         {route: true, capabilities: []string{"list_repositories"}, want: false},
		"the connection's capabilities include webhooks": {route: true, capabilities: []string{"project_webhooks"}, want: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.api.addRepositories(2)
			if tc.route {
				e.api.serveWebhookRoute()
			}
			if tc.capabilities != nil {
				e.api.integrations[0]["capabilities"] = tc.capabilities
			}
			b := e.signedIn()
			doc := parse(t, b.get("/ui/integrations/int-1/repositories").Body.String())
			forms := registerButtons(doc, "repo-1")
			if (len(forms) == 1) != tc.want {
				t.Fatalf("register button shown = %v, want %v", len(forms) == 1, tc.want)
			}
			if !tc.want {
				return
			}
			res := b.post("/ui/repositories/repo-1/webhook", url.Values{"integration_id": {"int-1"}})
			if res.Code != http.StatusOK || !strings.Contains(res.Body.String(), "Webhook registered at GitLab with a secret token.") {
				t.Errorf("register: status %d", res.Code)
			}
		})
	}
}

func TestRegisterWebhookErrorIsShownInThePanel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.api.addRepositories(1)
	e.api.serveWebhookRoute()
	e.api.set("POST /v1/integration-repositories/repo-1/gitlab-webhook", 400,
		`{"error":"GitLab refused the webhook URL http://127.0.0.1:8787/v1/webhooks/gitlab.","code":"gitlab_hook_url_refused"}`)
	b := e.signedIn()
	res := b.post("/ui/repositories/repo-1/webhook", url.Values{"integration_id": {"int-1"}})
	doc := parse(t, res.Body.String())
	errNode := byID(doc, "panel-error-repo-1")
	if errNode == nil || !strings.Contains(text(errNode), "refused the webhook URL") || !strings.Contains(text(errNode), "local requests allowed") {
		t.Fatalf("panel error: %v", errNode)
	}
}

func TestRegisterWebhookButtonHidesAfterNoSuchEndpoint(t *testing.T) {
	t.Parallel()
	// An API that is not a ServeMux cannot say which routes it serves: the
	// button shows until the API answers "no such endpoint".
	api := newFakeAPI()
	api.addRepositories(1)
	e := newEnv(t, func(o *ui.Options) { o.API = api })
	e.api = api
	b := e.signedIn()
	registerForms := func(body string) int {
		return len(registerButtons(parse(t, body), "repo-1"))
	}
	if n := registerForms(b.get("/ui/integrations/int-1/repositories").Body.String()); n != 1 {
		t.Fatalf("before: %d register buttons, want 1", n)
	}
	res := b.post("/ui/repositories/repo-1/webhook", url.Values{"integration_id": {"int-1"}})
	if res.Code != http.StatusNotFound || !strings.Contains(res.Body.String(), "does not register webhooks automatically") {
		t.Fatalf("click: status %d", res.Code)
	}
	if n := registerForms(res.Body.String()); n != 0 {
		t.Errorf("after no such endpoint: %d register buttons, want 0", n)
	}
}
