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
)

// TestBrowser clicks through the UI in headless Chromium against the real
// host, plugin and GitLab simulator. The steps share one host and run in
// order: each leaves what the next one looks at.
func TestBrowser(t *testing.T) {
	s := startStack(t)
	t.Run("connect with a token, generate a webhook secret, receive a push, delete", func(t *testing.T) {
		tokenFlow(t, s)
	})
	t.Run("connect with OAuth through the consent page", func(t *testing.T) {
		oauthFlow(t, s)
	})
	t.Run("readable at phone width", func(t *testing.T) {
		phoneWidth(t, s)
	})
}

// signIn opens the UI, is sent to sign in, and signs in with the keyboard
// (typing the token and pressing Enter).
func signIn(p *page, s *stack) {
	p.t.Helper()
	p.do("open the UI", chromedp.Navigate(s.URL+"/ui/"))
	p.waitPath("/ui/signin")
	p.shot("sign-in")
	p.do("type the API token", chromedp.SendKeys(chromedp.CSS("#f-token"), s.Token+"\r"))
	p.waitPath("/ui/integrations")
}

// repoID finds the id of the repository row showing fullName.
func repoID(p *page, fullName string) string {
	p.t.Helper()
	id := eval[string](p, fmt.Sprintf(`(() => {
		for (const li of document.querySelectorAll("li.repo")) {
			if (li.querySelector(".repo-name").textContent.trim() === %q) return li.id.replace(/^repo-/, "");
		}
		return "";
	})()`, fullName))
	if id == "" {
		p.fail("find repository "+fullName, fmt.Errorf("not listed"))
	}
	return id
}

func tokenFlow(t *testing.T, s *stack) {
	p := newPage(t, 1280, 900)
	signIn(p, s)
	p.shot("integrations-empty")

	// Settings > Integrations > Connect GitLab.
	p.do("click Connect GitLab", chromedp.Click(chromedp.CSS(`a[href="/ui/connect/gitlab"]`)))
	p.waitPath("/ui/connect/gitlab")
	if got := p.text(`label[for="f-access_token"]`); !strings.HasPrefix(got, "Access token") {
		t.Errorf("token field label %q", got)
	}
	p.shot("connect-token-form")

	// A token GitLab refuses: the error appears next to the token field.
	p.do("fill the form with a bad token",
		chromedp.Clear(chromedp.CSS("#f-host_url")),
		chromedp.SendKeys(chromedp.CSS("#f-host_url"), s.Sim.URL),
		chromedp.SendKeys(chromedp.CSS("#f-access_token"), "glpat-not-a-real-token-000"),
		chromedp.Click(chromedp.CSS("#connect-submit")),
	)
	p.waitFor("the token field's error", `document.querySelector("#err-access_token") !== null`)
	if msg := p.text("#err-access_token"); !strings.Contains(strings.ToLower(msg), "token") {
		t.Errorf("token error %q does not talk about the token", msg)
	}
	if got := p.value("#f-host_url"); got != s.Sim.URL {
		t.Errorf("after the error the GitLab URL is %q, want what was typed (%s)", got, s.Sim.URL)
	}
	if got := p.value("#f-access_token"); got != "" {
		t.Error("the refused token was put back into the form")
	}
	if !eval[bool](p, `document.activeElement && document.activeElement.id === "f-access_token"`) {
		t.Error("keyboard focus is not on the field in error")
	}
	p.shot("connect-token-error")

	// The demo user's real token connects, and the integration page says so.
	p.do("connect with the demo token",
		chromedp.SendKeys(chromedp.CSS("#f-access_token"), s.Demo.Token),
		chromedp.Click(chromedp.CSS("#connect-submit")),
	)
	p.waitFor("the connected integration", `location.pathname.startsWith("/ui/integrations/int") || document.querySelector("#page-notice") !== null`)
	if got := p.text("#page-notice"); got != "Connected to GitLab as @demo." {
		t.Fatalf("notice after connecting: %q", got)
	}
	if got := p.text("#integration-status"); !strings.HasPrefix(got, "active") {
		t.Errorf("status %q, want active", got)
	}
	integrationPath := strings.TrimPrefix(p.location(), s.URL)
	integrationPath = strings.SplitN(integrationPath, "?", 2)[0]
	p.shot("integration-connected")

	// The repositories the token can build: the "source selection".
	p.do("open the repositories", chromedp.Click(chromedp.CSS(`a[href="`+integrationPath+`/repositories"]`)))
	p.waitPath(integrationPath + "/repositories")
	names := eval[[]string](p, `[...document.querySelectorAll(".repo-name")].map(n => n.textContent.trim())`)
	for _, want := range []string{"oore-demo/mobile/flutter-app", "oore-demo/website", "demo/playground"} {
		if !contains(names, want) {
			t.Errorf("repositories %v lack %s", names, want)
		}
	}
	p.shot("repositories")
	p.do("search for flutter", chromedp.SendKeys(chromedp.CSS("#f-q"), "flutter\r"))
	p.waitPath(integrationPath + "/repositories?q=flutter")
	if names := eval[[]string](p, `[...document.querySelectorAll(".repo-name")].map(n => n.textContent.trim())`); len(names) != 1 || names[0] != "oore-demo/mobile/flutter-app" {
		t.Errorf("search flutter: %v", names)
	}
	p.shot("repositories-search")

	// The webhook panel: generate a secret, shown once with a copy button.
	id := repoID(p, "oore-demo/mobile/flutter-app")
	p.do("open the webhook panel", chromedp.Click(chromedp.CSS("#repo-"+id+" summary")))
	p.do("generate a secret", chromedp.Click(chromedp.CSS("#repo-"+id+` form[action$="/webhook-secret"] button`)))
	p.waitFor("the secret", fmt.Sprintf(`document.querySelector("#secret-%s") !== null`, id))
	secret := p.value("#secret-" + id)
	webhookURL := p.value("#url-" + id)
	if len(secret) < 20 {
		t.Fatalf("webhook secret %q is too short", secret)
	}
	if webhookURL != s.URL+"/v1/webhooks/gitlab" {
		t.Errorf("webhook URL %q, want %s", webhookURL, s.URL+"/v1/webhooks/gitlab")
	}
	copyBtn := fmt.Sprintf(`button[data-copy="secret-%s"]`, id)
	if eval[bool](p, `document.querySelector('`+copyBtn+`').hidden`) {
		t.Fatal("the copy button stays hidden: the page's script did not run")
	}
	p.do("copy the secret", chromedp.Click(chromedp.CSS(copyBtn)))
	p.waitFor("the copy button to say Copied", `document.querySelector('`+copyBtn+`').textContent.startsWith("Copied")`)
	p.shot("webhook-secret-once")

	// GitLab (the simulator) sends a push signed with that secret.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := s.Sim.SendWebhook(ctx, gitlabsim.WebhookSpec{ProjectID: s.Demo.FlutterApp.ID, URL: webhookURL, SecretToken: secret})
	if err != nil {
		t.Fatalf("send push: %v", err)
	}
	if res.Status != 200 {
		t.Fatalf("the host answered the push with %d: %s", res.Status, res.Body)
	}

	// Deliveries shows it and the build it queued.
	p.do("open Deliveries", chromedp.Click(chromedp.CSS(`nav a[href="/ui/deliveries"]`)))
	p.waitPath("/ui/deliveries")
	row := eval[string](p, `(() => { const r = document.querySelector("tbody tr"); return r ? r.innerText : ""; })()`)
	row = strings.Join(strings.Fields(row), " ")
	for _, want := range []string{"oore-demo/mobile/flutter-app", "push", "on main"} {
		if !strings.Contains(row, want) {
			t.Errorf("delivery row %q lacks %q", row, want)
		}
	}
	p.shot("deliveries")

	// The secret is never shown again.
	p.do("reopen the repositories", chromedp.Navigate(s.URL+integrationPath+"/repositories"))
	p.waitPath(integrationPath + "/repositories")
	if eval[bool](p, fmt.Sprintf(`document.querySelector("#secret-%s") !== null || document.body.innerHTML.includes(%q)`, id, secret)) {
		t.Error("the webhook secret is shown again")
	}
	if got := eval[string](p, `document.querySelector("#repo-`+id+` form[action$='/webhook-secret'] button").textContent`); !strings.HasPrefix(got, "Rotate secret") {
		t.Errorf("after generating, the button says %q, want Rotate secret", got)
	}

	// Delete, after confirming.
	p.do("back to the list", chromedp.Click(chromedp.CSS(`nav a[href="/ui/integrations"]`)))
	p.waitPath("/ui/integrations")
	p.do("click Delete", chromedp.Click(chromedp.CSS(`a[href="`+integrationPath+`/delete"]`)))
	p.waitPath(integrationPath + "/delete")
	p.shot("delete-confirm")
	p.do("confirm", chromedp.Click(chromedp.CSS("#confirm-delete")))
	p.waitPath("/ui/integrations?deleted=")
	if got := p.text("#page-notice"); !strings.HasPrefix(got, "Deleted the integration ") {
		t.Errorf("notice after deleting: %q", got)
	}
	if eval[bool](p, `document.querySelector('a[href="`+integrationPath+`"]') !== null`) {
		t.Error("the deleted integration is still listed")
	}
	p.shot("deleted")
}

func oauthFlow(t *testing.T, s *stack) {
	p := newPage(t, 1280, 900)
	signIn(p, s)
	p.do("open Connect GitLab", chromedp.Navigate(s.URL+"/ui/connect/gitlab"))
	p.waitPath("/ui/connect/gitlab")
	if !eval[bool](p, `document.querySelector('a[href="/ui/connect/gitlab?mode=oauth_app"]') !== null`) {
		p.fail("choose OAuth", fmt.Errorf("the gitlab plugin's provider info announces no oauth_app auth mode, so the form offers none"))
	}
	p.do("choose OAuth application", chromedp.Click(chromedp.CSS(`a[href="/ui/connect/gitlab?mode=oauth_app"]`)))
	p.waitPath("/ui/connect/gitlab?mode=oauth_app")

	// The page says what to register in GitLab; register exactly that.
	redirectURI := p.value("#redirect-uri")
	if redirectURI != s.URL+"/v1/integrations/gitlab/callback" {
		t.Fatalf("redirect URI shown %q, want %s", redirectURI, s.URL+"/v1/integrations/gitlab/callback")
	}
	scopes := eval[[]string](p, `[...document.querySelectorAll("#oauth-register code.scope")].map(n => n.textContent)`)
	if len(scopes) == 0 {
		t.Fatal("no scopes shown to register")
	}
	clientID, clientSecret := s.Sim.AddOAuthApp("Oore (browser test)", redirectURI, scopes, true)
	s.Sim.SetConsentPage(true)
	p.shot("connect-oauth-form")

	p.do("fill the OAuth form",
		chromedp.Clear(chromedp.CSS("#f-host_url")),
		chromedp.SendKeys(chromedp.CSS("#f-host_url"), s.Sim.URL),
		chromedp.SendKeys(chromedp.CSS("#f-client_id"), clientID),
		chromedp.SendKeys(chromedp.CSS("#f-client_secret"), clientSecret),
		chromedp.Click(chromedp.CSS("#connect-submit")),
	)
	p.waitFor("GitLab's consent page", fmt.Sprintf(`location.href.startsWith(%q) && document.querySelector("#authorize") !== null`, s.Sim.URL+"/oauth/authorize"))
	p.shot("gitlab-consent")

	p.do("authorize", chromedp.Click(chromedp.CSS("#authorize")))
	p.waitFor("back on the integration", `location.pathname.startsWith("/ui/integrations/") && document.querySelector("#page-notice") !== null`)
	if got := p.text("#page-notice"); got != "Connected to GitLab as @demo." {
		t.Errorf("notice after authorizing: %q", got)
	}
	if got := p.text("#integration-status"); !strings.HasPrefix(got, "active") {
		t.Errorf("status %q, want active", got)
	}
	p.shot("oauth-connected")

	path := strings.SplitN(strings.TrimPrefix(p.location(), s.URL), "?", 2)[0]
	p.do("open the repositories", chromedp.Navigate(s.URL+path+"/repositories"))
	p.waitPath(path + "/repositories")
	names := eval[[]string](p, `[...document.querySelectorAll(".repo-name")].map(n => n.textContent.trim())`)
	if !contains(names, "oore-demo/mobile/flutter-app") {
		t.Errorf("repositories after OAuth: %v", names)
	}
	p.shot("oauth-repositories")
}

func phoneWidth(t *testing.T, s *stack) {
	p := newPage(t, 390, 844)
	signIn(p, s)
	for _, path := range []string{"/ui/integrations", "/ui/connect/gitlab", "/ui/deliveries"} {
		p.do("open "+path, chromedp.Navigate(s.URL+path))
		p.waitPath(path)
		if overflow := eval[float64](p, `document.documentElement.scrollWidth - window.innerWidth`); overflow > 0 {
			t.Errorf("%s scrolls sideways by %.0f px at 390 px wide", path, overflow)
		}
		p.shot("phone" + strings.ReplaceAll(path, "/", "-"))
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
