package clone

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestOAuthCloneRefreshesFirst: with an OAuth integration whose access
// tokens live 30 seconds (less than the host's refresh margin), every
// proxied request goes through the host's credential source, which refreshes
// the token (rotating it at GitLab) before the plugin hands it out. The
// clone works with the fresh tokens; the runner never sees one.
func TestOAuthCloneRefreshesFirst(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	clientID, clientSecret := s.sim.AddOAuthApp("oore-clone-e2e", s.base+"/v1/integrations/gitlab/callback",
		[]string{"api", "read_api", "read_user", "read_repository"}, true)
	s.sim.SetAccessTokenLifetime(30 * time.Second)
	integration := s.connectOAuth(clientID, clientSecret)
	app := s.demo.FlutterApp
	s.hookUp(integration, app)
	delivery, sha := s.push(app, "main")
	j := s.newJob(delivery, nil)

	refreshes := s.sim.TokenRequests("refresh_token")
	r := newRunner(t, "OORE_JOB_TOKEN="+j.Token)
	r.mustGit(append(credentialHelper(), "clone", "--quiet", "--no-checkout", j.CloneURL, "src")...)
	r.mustGit("-C", "src", "checkout", "--quiet", "--detach", sha)
	if head := r.mustGit("-C", "src", "rev-parse", "HEAD"); head != sha {
		t.Fatalf("HEAD = %s, want %s", head, sha)
	}
	if n := s.sim.TokenRequests("refresh_token") - refreshes; n < 1 {
		t.Fatalf("the clone used the OAuth token without refreshing it (%d refreshes); it expires in 30s", n)
	}
	if strings.Contains(s.logs.String(), clientSecret) {
		t.Fatal("the host's log holds the OAuth client secret")
	}
	if hits := filesContaining(t, r.dir, clientSecret); len(hits) > 0 {
		t.Fatalf("the OAuth client secret is in the clone: %v", hits)
	}
}

// connectOAuth starts an oauth_app integration and completes GitLab's
// authorization as a browser would (the simulator consents at once).
func (s *stack) connectOAuth(clientID, clientSecret string) string {
	s.t.Helper()
	r := s.api("POST", "/v1/integrations/gitlab/start", s.owner, map[string]any{
		"host_url": s.sim.URL, "auth_mode": "oauth_app", "client_id": clientID, "client_secret": clientSecret})
	if r.Status != http.StatusOK {
		s.t.Fatalf("start oauth_app: %d %s", r.Status, r.Body)
	}
	var started struct {
		Integration struct{ ID string } `json:"integration"`
	}
	r.Decode(s.t, &started)
	id := started.Integration.ID
	r = s.api("POST", "/v1/integrations/gitlab/authorize", s.owner, map[string]any{"integration_id": id, "redirect_url": s.base + "/"})
	if r.Status != http.StatusOK {
		s.t.Fatalf("authorize: %d %s", r.Status, r.Body)
	}
	var out struct {
		AuthorizeURL string `json:"authorize_url"`
	}
	r.Decode(s.t, &out)
	next := out.AuthorizeURL
	for hop := 0; hop < 2; hop++ { // GitLab's authorize → the host's callback → redirect_url
		req, err := http.NewRequest("GET", next, nil)
		if err != nil {
			s.t.Fatal(err)
		}
		res := s.send(req)
		if res.Status/100 != 3 {
			s.t.Fatalf("GET %s: %d %s", next, res.Status, res.Body)
		}
		next = res.Header.Get("Location")
	}
	u, err := url.Parse(next)
	if err != nil || u.Query().Get("gitlab") != "success" {
		s.t.Fatalf("the OAuth flow ended at %q", next)
	}
	return id
}
