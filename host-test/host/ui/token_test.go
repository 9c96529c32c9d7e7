package ui_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/net/html"

	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/ui"
)

// newToken is the replacement token the tests paste.
const newToken = "glpat-REPLACEMENT-secret-42"

// expired makes int-1 a personal-token integration whose token expired
// (and the host has not checked it since).
func expired(e *env) {
	e.api.integrations[0]["token_expires_at"] = 1764000000 // 2025-11-24, before the env's now
}

func replaceForm(doc *html.Node) *html.Node {
	if f := findAll(doc, func(n *html.Node) bool {
		return n.Data == "form" && attr(n, "action") == "/ui/integrations/int-1/token"
	}); len(f) == 1 {
		return f[0]
	}
	return nil
}

func TestReplaceTokenForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	expired(e)
	b := e.signedIn()
	doc := parse(t, b.get("/ui/integrations/int-1").Body.String())
	assertAccessible(t, doc)
	if got := text(byID(doc, "integration-health")); got != "Expired Expired 2025-11-24. Replace the token." {
		t.Errorf("health %q", got)
	}
	form := replaceForm(doc)
	if form == nil {
		t.Fatal("an expired personal-token integration has no Replace token form")
	}
	if attr(form, "method") != "post" || attr(form, "autocomplete") != "off" {
		t.Errorf("form method=%q autocomplete=%q, want post and off", attr(form, "method"), attr(form, "autocomplete"))
	}
	if csrf := findAll(form, func(n *html.Node) bool { return attr(n, "name") == "csrf" }); len(csrf) != 1 || attr(csrf[0], "value") != b.csrf {
		t.Error("the form carries no CSRF token")
	}
	in := byID(form, "f-access_token")
	if in == nil || attr(in, "name") != "access_token" || attr(in, "type") != "password" || hasAttr(in, "value") {
		t.Fatalf("token input: %v", in)
	}
	// autocomplete=new-password is what keeps browsers from filling in or
	// offering a saved password (they ignore "off" on password fields).
	if attr(in, "autocomplete") != "new-password" || !hasAttr(in, "required") {
		t.Errorf("token input autocomplete=%q required=%v", attr(in, "autocomplete"), hasAttr(in, "required"))
	}
	if got := text(byID(doc, "help-access_token")); !strings.Contains(got, "A token of @demo, the GitLab account this integration acts as.") ||
		!strings.Contains(got, "Scopes: api and read_repository.") {
		t.Errorf("field help %q does not name the account and the provider's help", got)
	}
	if got := text(byID(doc, "replace-token")); !strings.Contains(got, "Scopes it needs: read_repository, and api or read_api.") {
		t.Errorf("section %q does not list the required scopes", got)
	}
	if got := text(findAll(form, func(n *html.Node) bool { return n.Data == "label" })[0]); got != "New access token (required)" {
		t.Errorf("label %q", got)
	}

	// An OAuth integration has no token to replace.
	e.api.integrations[0]["auth_mode"] = "oauth_app"
	if replaceForm(parse(t, b.get("/ui/integrations/int-1").Body.String())) != nil {
		t.Error("an OAuth integration offers Replace token")
	}
}

func TestReplaceTokenShowsTheNewHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	expired(e)
	b := e.signedIn()
	b.get("/ui/integrations/int-1")
	res := b.post("/ui/integrations/int-1/token", url.Values{"access_token": {"  " + newToken + "\n"}})
	if res.Code != http.StatusOK {
		t.Fatalf("status %d: %s", res.Code, res.Body)
	}
	if loc := res.Header().Get("Location"); loc != "" {
		t.Errorf("answered with a redirect to %q", loc)
	}
	if res.Header().Get("Cache-Control") != "no-store" {
		t.Error("the answer may be cached")
	}
	if strings.Contains(res.Body.String(), newToken) || strings.Contains(res.Body.String(), "REPLACEMENT") {
		t.Fatal("the new token is in the page")
	}
	calls := e.api.calls("PUT", "/v1/integrations/int-1/gitlab-token")
	if len(calls) != 1 || calls[0].Body["access_token"] != newToken || len(calls[0].Body) != 1 || calls[0].Auth != "Bearer "+apiToken {
		t.Fatalf("API calls %+v, want one PUT with exactly the trimmed token", calls)
	}
	doc := parse(t, res.Body.String())
	assertAccessible(t, doc)
	if got := text(byID(doc, "page-notice")); got != "Token replaced. Credentials: Valid. Expires 2026-09-15. Account: @demo. Scopes: api, read_repository." {
		t.Errorf("notice %q", got)
	}
	if got := text(byID(doc, "integration-health")); got != "Valid Expires 2026-09-15." {
		t.Errorf("health after replacing %q", got)
	}
	if got := text(byID(doc, "integration-status")); got != "active" {
		t.Errorf("status after replacing %q", got)
	}
	dl := findAll(doc, func(n *html.Node) bool { return n.Data == "dl" })[0]
	if got := text(dl); !strings.Contains(got, "Account@demo") || !strings.Contains(got, "Scopesapi, read_repository") {
		t.Errorf("facts %q lack the account or the new scopes", got)
	}
	if in := byID(doc, "f-access_token"); in == nil || hasAttr(in, "value") {
		t.Error("the form is gone or holds a value after replacing")
	}
}

func TestReplaceTokenErrorsAtTheField(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		status int
		body   string
		// field is what the message next to the field says; "" when the
		// error is about no field.
		field []string
		page  []string
	}{
		"revoked or wrong token": {
			status: 400, body: `{"error":"GitLab refused the token (401): it is revoked, expired or mistyped","code":"gitlab_auth_failed"}`,
			field: []string{"GitLab refused the token", "Check that you pasted the whole token and that it is not revoked or expired."},
		},
		"missing scope": {
			status: 400, body: `{"error":"the token lacks a scope Oore needs","code":"gitlab_scope_missing","details":"missing scopes: read_repository"}`,
			field: []string{"The token lacks a scope Oore needs: missing scopes: read_repository.", "Create a new token with the scopes"},
		},
		"another account": {
			status: 409, body: `{"error":"the new token belongs to gitlab account \"alice\", but this integration acts as \"demo\"; use a token of the same account, or create another integration","code":"gitlab_account_mismatch"}`,
			field: []string{`belongs to gitlab account "alice", but this integration acts as "demo"`},
		},
		"field violation": {
			status: 400, body: `{"error":"invalid input","code":"invalid_input","details":"access_token","fields":[{"field":"access_token","description":"must be printable ASCII"}]}`,
			field: []string{"Must be printable ASCII."},
		},
		"an answer that echoes the token": {
			status: 400, body: `{"error":"token ` + newToken + ` is not valid","code":"gitlab_auth_failed"}`,
			field: []string{"Token [the token] is not valid"},
		},
		"plugin restarting": {
			status: 503, body: `{"error":"the gitlab plugin is unavailable; retry shortly","code":"plugin_unavailable"}`,
			page: []string{"The token was not replaced: The gitlab plugin is unavailable", "try again in a few seconds"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var logs e2ekit.Logs
			e := newEnv(t, func(o *ui.Options) {
				o.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace})
			})
			expired(e)
			e.api.set("PUT /v1/integrations/int-1/gitlab-token", tc.status, tc.body)
			b := e.signedIn()
			b.get("/ui/integrations/int-1")
			res := b.post("/ui/integrations/int-1/token", url.Values{"access_token": {newToken}})
			if res.Code != tc.status {
				t.Errorf("status %d, want the API's %d", res.Code, tc.status)
			}
			if strings.Contains(res.Body.String(), newToken) {
				t.Error("the token is in the page")
			}
			if strings.Contains(logs.String(), newToken) {
				t.Error("the token is in the UI's log")
			}
			doc := parse(t, res.Body.String())
			assertAccessible(t, doc)
			in := byID(doc, "f-access_token")
			if in == nil || hasAttr(in, "value") {
				t.Fatalf("token input after the error: %v", in)
			}
			errNode := byID(doc, "err-access_token")
			if tc.field == nil {
				if errNode != nil {
					t.Errorf("an error about no field was put at the field: %q", text(errNode))
				}
			} else {
				if errNode == nil {
					t.Fatalf("no error next to the field; page error %q", text(byID(doc, "page-error")))
				}
				if attr(in, "aria-invalid") != "true" || !strings.Contains(attr(in, "aria-describedby"), "err-access_token") {
					t.Errorf("field not marked invalid and described by its error: %v", in.Attr)
				}
				for _, want := range tc.field {
					if got := text(errNode); !strings.Contains(got, want) {
						t.Errorf("field error %q lacks %q", got, want)
					}
				}
			}
			pageErr := text(byID(doc, "page-error"))
			if !strings.HasPrefix(pageErr, "The token was not replaced") {
				t.Errorf("page error %q", pageErr)
			}
			for _, want := range tc.page {
				if !strings.Contains(pageErr, want) {
					t.Errorf("page error %q lacks %q", pageErr, want)
				}
			}
			if got := text(byID(doc, "integration-health")); !strings.HasPrefix(got, "Expired") {
				t.Errorf("after a refused replacement the health says %q", got)
			}
		})
	}
}

func TestReplaceTokenNeedsAToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signedIn()
	b.get("/ui/integrations/int-1")
	res := b.post("/ui/integrations/int-1/token", url.Values{"access_token": {"   "}})
	if res.Code != http.StatusUnprocessableEntity {
		t.Errorf("status %d, want 422", res.Code)
	}
	if got := text(byID(parse(t, res.Body.String()), "err-access_token")); got != "Error: Paste the new token." {
		t.Errorf("field error %q", got)
	}
	if n := len(e.api.calls("PUT", "/v1/integrations/int-1/gitlab-token")); n != 0 {
		t.Errorf("an empty token was sent to the API (%d calls)", n)
	}
}

func TestReplaceTokenRefusesWithoutCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signedIn()
	b.get("/ui/integrations/int-1")
	for name, form := range map[string]url.Values{
		"no token":    {"access_token": {newToken}, "csrf": {""}},
		"wrong token": {"access_token": {newToken}, "csrf": {"not-the-session-token"}},
	} {
		res := b.post("/ui/integrations/int-1/token", form)
		if res.Code != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, res.Code)
		}
		if strings.Contains(res.Body.String(), newToken) {
			t.Errorf("%s: the token is in the refusal", name)
		}
	}
	// The same-origin check refuses a cross-site POST even with the token.
	req, _ := http.NewRequest(http.MethodPost, "http://oore.test/ui/integrations/int-1/token",
		strings.NewReader(url.Values{"access_token": {newToken}, "csrf": {b.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(b.cookie)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("cross-site: status %d, want 403", rec.Code)
	}
	if n := len(e.api.calls("PUT", "/v1/integrations/int-1/gitlab-token")); n != 0 {
		t.Errorf("a refused form reached the API (%d calls)", n)
	}
}

// TestReadOnlyRoleSeesNoChangeForms: a token the API refuses changes to
// (developer, qa_viewer) gets pages without the forms that can only fail.
func TestReadOnlyRoleSeesNoChangeForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.api.addRepositories(2)
	e.api.serveWebhookRoute()
	e.api.set("POST /v1/integrations/oore-ui-role-probe/installations", 403,
		`{"error":"role developer may read integrations but not change them; an owner or admin token is required","code":"forbidden"}`)
	b := e.signedIn()
	if n := len(e.api.calls("POST", "/v1/integrations/oore-ui-role-probe/installations")); n != 1 {
		t.Fatalf("sign-in probed the role %d times, want 1", n)
	}

	doc := parse(t, b.get("/ui/integrations/int-1").Body.String())
	assertAccessible(t, doc)
	if replaceForm(doc) != nil {
		t.Error("a read-only token sees Replace token")
	}
	if forms := findAll(doc, func(n *html.Node) bool {
		return n.Data == "form" && strings.HasPrefix(attr(n, "action"), "/ui/integrations/int-1/")
	}); len(forms) != 0 {
		t.Errorf("a read-only token sees %d change forms on the integration page", len(forms))
	}
	if byID(doc, "read-only-note") == nil {
		t.Error("the page does not say why nothing can be changed")
	}
	list := parse(t, b.get("/ui/integrations").Body.String())
	if links := findAll(list, func(n *html.Node) bool {
		return n.Data == "a" && (strings.HasPrefix(text(n), "Connect") || strings.HasSuffix(attr(n, "href"), "/delete"))
	}); len(links) != 0 {
		t.Errorf("the list offers a read-only token %d Connect or Delete links", len(links))
	}
	repos := parse(t, b.get("/ui/integrations/int-1/repositories").Body.String())
	assertAccessible(t, repos)
	if forms := findAll(repos, func(n *html.Node) bool {
		return n.Data == "form" && attr(n, "method") == "post" && attr(n, "class") != "signout"
	}); len(forms) != 0 {
		t.Errorf("the repositories page offers a read-only token %d webhook forms", len(forms))
	}

	// An owner's session (the fake's default) sees them.
	owner := newEnv(t)
	if replaceForm(parse(t, owner.signedIn().get("/ui/integrations/int-1").Body.String())) == nil {
		t.Error("an owner token does not see Replace token")
	}
}

func TestWebhookSecretKind(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.api.addRepositories(2)
	e.api.serveWebhookRoute()
	b := e.signedIn()
	doc := parse(t, b.get("/ui/integrations/int-1/repositories").Body.String())
	assertAccessible(t, doc)
	token, signing := byID(doc, "type-token-repo-1"), byID(doc, "type-signing-repo-1")
	if token == nil || signing == nil || attr(token, "name") != "secret_type" || attr(signing, "value") != "signing_token" {
		t.Fatalf("no secret kind choice: %v %v", token, signing)
	}
	if !hasAttr(token, "checked") || hasAttr(signing, "checked") {
		t.Error("the choice does not default to the API's default, a secret token")
	}
	if got := text(byID(doc, "help-type-repo-1")); !strings.Contains(got, "signs each delivery") || !strings.Contains(got, "17.x") {
		t.Errorf("the choice is not explained: %q", got)
	}

	// Generating a signing token asks the API for one and says what it is.
	res := b.post("/ui/repositories/repo-1/webhook-secret", url.Values{"integration_id": {"int-1"}, "secret_type": {"signing_token"}})
	calls := e.api.calls("POST", "/v1/integration-repositories/repo-1/gitlab-webhook-secret")
	if len(calls) != 1 || calls[0].Query != "type=signing_token" {
		t.Fatalf("API calls %+v, want one with type=signing_token", calls)
	}
	doc = parse(t, res.Body.String())
	assertAccessible(t, doc)
	if got := attr(byID(doc, "secret-repo-1"), "value"); got != "whsec_repo-1-signing-once" {
		t.Errorf("signing token shown %q", got)
	}
	if got := text(byID(doc, "help-secret-repo-1")); !strings.Contains(got, "signing token") {
		t.Errorf("help %q does not say where to paste a signing token", got)
	}
	if !hasAttr(byID(doc, "type-signing-repo-1"), "checked") {
		t.Error("after generating a signing token the choice went back to a secret token")
	}

	// Registering: the choice goes to the API and its answer is shown.
	res = b.post("/ui/repositories/repo-2/webhook", url.Values{"integration_id": {"int-1"}, "secret_type": {"signing_token"}})
	if calls := e.api.calls("POST", "/v1/integration-repositories/repo-2/gitlab-webhook"); len(calls) != 1 || calls[0].Query != "type=signing_token" {
		t.Fatalf("register calls %+v", calls)
	}
	if !strings.Contains(res.Body.String(), "Webhook registered at GitLab with a signing token") {
		t.Error("the notice does not say a signing token was registered")
	}
	res = b.post("/ui/repositories/repo-2/webhook", url.Values{"integration_id": {"int-1"}, "secret_type": {"token"}})
	if calls := e.api.calls("POST", "/v1/integration-repositories/repo-2/gitlab-webhook"); len(calls) != 2 || calls[1].Query != "type=token" {
		t.Fatalf("register calls %+v", calls)
	}
	if !strings.Contains(res.Body.String(), "Webhook registered at GitLab with a secret token.") {
		t.Error("the notice does not say a secret token was registered")
	}

	// A kind the form does not offer never reaches the API.
	res = b.post("/ui/repositories/repo-1/webhook-secret", url.Values{"integration_id": {"int-1"}, "secret_type": {"hmac"}})
	if res.Code != http.StatusBadRequest || !strings.Contains(res.Body.String(), "Choose a secret token or a signing token") {
		t.Errorf("unknown kind: status %d", res.Code)
	}
	if n := len(e.api.calls("POST", "/v1/integration-repositories/repo-1/gitlab-webhook-secret")); n != 1 {
		t.Errorf("an unknown kind reached the API (%d calls)", n)
	}
}
