//go:build browser

package browser_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host"
)

// TestBrowserReplaceToken replaces an expiring personal access token
// through the integration page, is refused a revoked token and another
// user's token next to the field, uses a signing token on a webhook, and
// checks that none of the tokens reached a page or a log. Its own stack: it
// reads the stack's whole log.
func TestBrowserReplaceToken(t *testing.T) {
	s := startStack(t)
	demo := s.Demo.User.ID
	scopes := []string{"api", "read_repository"}
	day := func(days int) (time.Time, string) {
		d := time.Now().UTC().AddDate(0, 0, days)
		return d, d.Format("2006-01-02")
	}
	soonAt, soon := day(10)
	laterAt, later := day(200)
	expiring := s.Sim.AddPersonalAccessToken(demo, "oore-expiring", scopes, &soonAt, false)
	// The person makes a second token for the same user at GitLab.
	fresh := s.Sim.AddPersonalAccessToken(demo, "oore-fresh", scopes, &laterAt, false)
	revoked := s.Sim.AddPersonalAccessToken(demo, "oore-revoked", scopes, &laterAt, true)

	var integrationPath, signing string
	t.Run("replace the token, refused tokens at the field, a signing token", func(t *testing.T) {
		integrationPath, signing = replaceTokenFlow(t, s, expiring, fresh, revoked, soon, later)
	})
	if integrationPath == "" {
		t.FailNow()
	}
	t.Run("a read-only role sees no form", func(t *testing.T) {
		// A read-only role sees the integration but no form to replace its token.
		dev, err := host.CreateToken(context.Background(), s.Store, host.RoleDeveloper, "browser-e2e-developer")
		if err != nil {
			t.Fatalf("create developer token: %v", err)
		}
		rp := newPage(t, 1280, 900)
		signIn(rp, &stack{URL: s.URL, Token: dev})
		rp.do("open the integration", chromedp.Navigate(s.URL+integrationPath))
		rp.waitPath(integrationPath)
		if eval[bool](rp, `document.querySelector("#replace-token, form[action$='/check'], form[method=post][action$='/token']") !== null`) {
			t.Error("a developer token is shown a form that can only fail")
		}
		if got := rp.text("#read-only-note"); !strings.Contains(got, "owner or admin") {
			t.Errorf("read-only note %q", got)
		}
		rp.shot("integration-read-only")
	})
	t.Run("the form and the panel at phone width", func(t *testing.T) {
		pp := newPage(t, 390, 844)
		signIn(pp, s)
		for _, path := range []string{integrationPath, integrationPath + "/repositories"} {
			pp.do("open "+path, chromedp.Navigate(s.URL+path))
			pp.waitPath(path)
			eval[bool](pp, `(() => { const d = document.querySelector("details.webhook"); if (d) d.open = true; return true; })()`)
			if overflow := eval[float64](pp, `document.documentElement.scrollWidth - window.innerWidth`); overflow > 0 {
				t.Errorf("%s scrolls sideways by %.0f px at 390 px wide", path, overflow)
			}
			pp.shot("phone-integration" + strings.ReplaceAll(strings.TrimPrefix(path, integrationPath), "/", "-"))
		}
	})

	// No token ever reached the log of the host, the UI or the plugin.
	logs := s.Logs.String()
	if !strings.Contains(logs, "personal token replaced") {
		t.Fatal("the stack's log does not hold the replacement: the log capture is broken")
	}
	for name, tok := range map[string]string{"the expiring token": expiring, "the new token": fresh, "the revoked token": revoked,
		"alice's token": s.Demo.OtherToken, "the signing token": signing} {
		if tok != "" && strings.Contains(logs, tok) {
			t.Errorf("%s is in the log", name)
		}
	}
}

// replaceTokenFlow connects with the expiring token, is refused the revoked
// and another user's token, replaces it with fresh, and generates a signing
// token. It returns the integration's page path and the signing token.
func replaceTokenFlow(t *testing.T, s *stack, expiring, fresh, revoked, soon, later string) (string, string) {
	p := newPage(t, 1280, 900)
	signIn(p, s)
	p.do("open Connect GitLab", chromedp.Navigate(s.URL+"/ui/connect/gitlab"))
	p.waitPath("/ui/connect/gitlab")
	p.do("connect with the expiring token",
		chromedp.Clear(chromedp.CSS("#f-host_url")),
		chromedp.SendKeys(chromedp.CSS("#f-host_url"), s.Sim.URL),
		chromedp.SendKeys(chromedp.CSS("#f-access_token"), expiring),
		chromedp.Click(chromedp.CSS("#connect-submit")),
	)
	p.waitFor("the connected integration", `location.pathname.startsWith("/ui/integrations/") && document.querySelector("#page-notice") !== null`)
	integrationPath := strings.SplitN(strings.TrimPrefix(p.location(), s.URL), "?", 2)[0]
	if got := p.text("#integration-health"); got != "Expiring Expires "+soon+"." {
		t.Errorf("health of the expiring token %q, want Expiring Expires %s.", got, soon)
	}
	if got := p.text(`label[for="f-access_token"]`); got != "New access token (required)" {
		t.Errorf("replace field label %q", got)
	}
	if got := p.text("#help-access_token"); !strings.HasPrefix(got, "A token of @demo, the GitLab account this integration acts as.") {
		t.Errorf("replace field help %q does not name the account", got)
	}
	p.shot("integration-token-expiring")

	// A revoked token: GitLab's refusal appears next to the field, the old
	// token stays.
	replace := func(what, token string) {
		p.t.Helper()
		p.do(what,
			chromedp.SendKeys(chromedp.CSS("#f-access_token"), token),
			chromedp.Click(chromedp.CSS("#replace-token-submit")),
		)
	}
	replace("paste a revoked token", revoked)
	p.waitFor("the token field's error", `document.querySelector("#err-access_token") !== null`)
	if msg := p.text("#err-access_token"); !strings.Contains(msg, "not revoked or expired") {
		t.Errorf("revoked token: field error %q", msg)
	}
	if got := p.text("#page-error"); !strings.HasPrefix(got, "The token was not replaced") {
		t.Errorf("revoked token: page error %q", got)
	}
	if got := p.value("#f-access_token"); got != "" {
		t.Error("the refused token was put back into the form")
	}
	if !eval[bool](p, `document.activeElement && document.activeElement.id === "f-access_token"`) {
		t.Error("keyboard focus is not on the field in error")
	}
	if got := p.text("#integration-health"); got != "Expiring Expires "+soon+"." {
		t.Errorf("after a refused token the health says %q", got)
	}
	assertNotInPage(p, revoked)
	p.shot("replace-token-revoked")

	// Another user's token: the host refuses it, and the page says whose.
	replace("paste alice's token", s.Demo.OtherToken)
	p.waitFor("the account error", `(document.querySelector("#err-access_token") || {textContent: ""}).textContent.includes("alice")`)
	if msg := p.text("#err-access_token"); !strings.Contains(msg, `"alice"`) || !strings.Contains(msg, `"demo"`) {
		t.Errorf("other account: field error %q does not name both accounts", msg)
	}
	assertNotInPage(p, s.Demo.OtherToken)
	p.shot("replace-token-other-account")

	// The new token of the same user: the page shows its health.
	replace("paste the new token", fresh)
	p.waitFor("the replaced notice", `(document.querySelector("#page-notice") || {textContent: ""}).textContent.startsWith("Token replaced")`)
	// The reference host's integration view reports no scopes (the UI
	// shows them when a host does: see the ui package's tests).
	if got, want := p.text("#page-notice"), "Token replaced. Credentials: Valid. Expires "+later+". Account: @demo."; got != want {
		t.Errorf("notice %q, want %q", got, want)
	}
	if got := p.text("#integration-health"); got != "Valid Expires "+later+"." {
		t.Errorf("health after replacing %q", got)
	}
	if loc := p.location(); strings.Contains(loc, fresh) || strings.Contains(loc, "glpat") {
		t.Errorf("the token is in the address %s", loc)
	}
	assertNotInPage(p, fresh)
	p.shot("replace-token-done")

	// The host uses the new token: with the old one revoked at GitLab, a
	// check still passes.
	s.Sim.RevokeToken(expiring)
	p.do("check the credentials", chromedp.Click(chromedp.CSS(`form[action$="/check"] button`)))
	p.waitFor("the check's notice", `(document.querySelector("#page-notice") || {textContent: ""}).textContent.startsWith("Credentials checked")`)
	if got := p.text("#page-notice"); !strings.HasPrefix(got, "Credentials checked: Valid.") {
		t.Errorf("check after replacing: %q (the host still uses the old token?)", got)
	}

	// The webhook panel: a signing token, and a push signed with it.
	p.do("open the repositories", chromedp.Navigate(s.URL+integrationPath+"/repositories"))
	p.waitPath(integrationPath + "/repositories")
	id := repoID(p, "oore-demo/mobile/flutter-app")
	p.do("open the webhook panel", chromedp.Click(chromedp.CSS("#repo-"+id+" summary")))
	if !eval[bool](p, `document.querySelector("#type-token-`+id+`").checked`) {
		t.Error("the secret kind does not default to a secret token")
	}
	p.shot("webhook-secret-kind")
	p.do("choose a signing token", chromedp.Click(chromedp.CSS("#type-signing-"+id)))
	p.do("generate it", chromedp.Click(chromedp.CSS("#generate-"+id)))
	p.waitFor("the signing token", fmt.Sprintf(`document.querySelector("#secret-%s") !== null`, id))
	signing := p.value("#secret-" + id)
	if !strings.HasPrefix(signing, "whsec_") {
		t.Fatalf("signing token %q is not a Standard Webhooks key", signing)
	}
	if got := p.text(`label[for="secret-` + id + `"]`); got != "Webhook signing token (shown once)" {
		t.Errorf("signing token label %q", got)
	}
	p.shot("webhook-signing-token")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := s.Sim.SendWebhook(ctx, gitlabsim.WebhookSpec{ProjectID: s.Demo.FlutterApp.ID, URL: s.URL + "/v1/webhooks/gitlab", SigningToken: signing})
	if err != nil {
		t.Fatalf("send push: %v", err)
	}
	if res.Status != 200 {
		t.Errorf("the host answered the push signed with the new key with %d: %s", res.Status, res.Body)
	}

	return integrationPath, signing
}

// assertNotInPage fails when the page's HTML (fields' values included)
// holds secret.
func assertNotInPage(p *page, secret string) {
	p.t.Helper()
	if eval[bool](p, fmt.Sprintf(`document.documentElement.outerHTML.includes(%q) || [...document.querySelectorAll("input")].some(i => i.value.includes(%q))`, secret, secret)) {
		p.t.Errorf("a token is in the page at %s", p.location())
	}
}
