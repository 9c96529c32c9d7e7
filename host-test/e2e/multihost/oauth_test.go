package multihost

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
)

// frontendURL is where the browser returns after a successful callback (on
// the public URL's origin, which every host allows by default).
const frontendURL = publicURL + "/settings/integrations"

// startOAuthApp creates an OAuth integration on host h for an application of
// the simulator registered with the load balancer's callback URL.
func (c *cluster) startOAuthApp(h *e2ekit.Host) string {
	c.t.Helper()
	clientID, clientSecret := c.sim.AddOAuthApp("oore-lb", publicURL+callbackPath, []string{"api", "read_api", "read_user", "read_repository"}, true)
	r := c.do(h, "POST", "/v1/integrations/gitlab/start", map[string]any{"host_url": c.sim.URL, "auth_mode": "oauth_app",
		"client_id": clientID, "client_secret": clientSecret})
	if r.Status != http.StatusOK {
		c.t.Fatalf("start oauth_app on %s: %d %s", h.Name, r.Status, r.Body)
	}
	var out struct {
		Integration struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"integration"`
	}
	r.Decode(c.t, &out)
	if out.Integration.Status != "inactive" {
		c.t.Fatalf("OAuth integration before its callback is %q, want inactive", out.Integration.Status)
	}
	return out.Integration.ID
}

// authorize asks host h for the authorize URL and lets the simulator's
// signed-in user (demo) grant it. It returns the callback the browser would
// follow: the path and query on the load balancer.
func (c *cluster) authorize(h *e2ekit.Host, integrationID string) string {
	c.t.Helper()
	r := c.do(h, "POST", "/v1/integrations/gitlab/authorize", map[string]any{"integration_id": integrationID, "redirect_url": frontendURL})
	if r.Status != http.StatusOK {
		c.t.Fatalf("authorize on %s: %d %s", h.Name, r.Status, r.Body)
	}
	var out struct {
		AuthorizeURL string `json:"authorize_url"`
	}
	r.Decode(c.t, &out)
	if !strings.HasPrefix(out.AuthorizeURL, c.sim.URL+"/oauth/authorize?") {
		c.t.Fatalf("authorize_url %q is not the simulator's", out.AuthorizeURL)
	}
	res, err := c.client.Get(out.AuthorizeURL)
	if err != nil {
		c.t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || loc.Scheme+"://"+loc.Host != publicURL || loc.Path != callbackPath || loc.Query().Get("code") == "" {
		c.t.Fatalf("the simulator answered the authorization with %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.RequestURI()
}

// callback is the browser landing on host h.
func (c *cluster) callback(h *e2ekit.Host, requestURI string) (status int, location, body string) {
	res, err := c.client.Get(h.URL + requestURI)
	if err != nil {
		c.t.Errorf("callback on %s: %v", h.Name, err)
		return 0, "", ""
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(raw)
}

func successLocation(integrationID string) string {
	return frontendURL + "?" + url.Values{"gitlab": {"success"}, "integration_id": {integrationID}}.Encode()
}

// TestOAuthCallbackOnAnotherHost: the authorization starts on host A, the
// browser comes back to host B, which completes it; the same callback
// replayed on host C is refused, and the code is exchanged once.
func TestOAuthCallbackOnAnotherHost(t *testing.T) {
	t.Parallel()
	c := newPostgresCluster(t, 3)
	a, b, hc := c.hosts[0], c.hosts[1], c.hosts[2]
	id := c.startOAuthApp(a)
	cb := c.authorize(a, id)

	status, loc, body := c.callback(b, cb)
	if status != http.StatusSeeOther || loc != successLocation(id) {
		t.Fatalf("callback on host B: %d to %q\n%.500s", status, loc, body)
	}
	status, loc, body = c.callback(hc, cb)
	if status == http.StatusSeeOther || !strings.Contains(body, "already used") {
		t.Fatalf("the same callback replayed on host C: %d to %q\n%.500s", status, loc, body)
	}
	if n := c.sim.TokenRequests("authorization_code"); n != 1 {
		t.Fatalf("the simulator exchanged %d codes, want 1", n)
	}
	for _, h := range c.hosts {
		r := c.do(h, "GET", "/v1/integrations/"+id, nil)
		var out struct {
			Integration struct {
				Status          string `json:"status"`
				AccountUsername string `json:"account_username"`
			} `json:"integration"`
			RepositoryCount int `json:"repository_count"`
		}
		r.Decode(t, &out)
		if out.Integration.Status != "active" || out.Integration.AccountUsername != "demo" || out.RepositoryCount < 3 {
			t.Fatalf("integration on %s after the callback: %s", h.Name, r.Body)
		}
	}
}

// TestOAuthCallbackRace: the same callback reaches every host at once (a
// browser retry behind a load balancer): exactly one completes it.
func TestOAuthCallbackRace(t *testing.T) {
	t.Parallel()
	c := newPostgresCluster(t, 3)
	id := c.startOAuthApp(c.hosts[0])
	cb := c.authorize(c.hosts[1], id)
	const copies = 3 // per host
	var wg sync.WaitGroup
	results := make(chan string, copies*len(c.hosts))
	for i := range copies * len(c.hosts) {
		wg.Go(func() {
			status, loc, body := c.callback(c.host(i), cb)
			switch {
			case status == http.StatusSeeOther && loc == successLocation(id):
				results <- "completed"
			case status != http.StatusSeeOther && strings.Contains(body, "already used"):
				results <- "refused"
			default:
				results <- "unexpected " + http.StatusText(status) + " " + loc
			}
		})
	}
	wg.Wait()
	close(results)
	got := map[string]int{}
	for r := range results {
		got[r]++
	}
	if got["completed"] != 1 || got["refused"] != copies*len(c.hosts)-1 {
		t.Fatalf("callbacks: %v; want 1 completed and the rest refused as already used", got)
	}
	if n := c.sim.TokenRequests("authorization_code"); n != 1 {
		t.Fatalf("the simulator exchanged %d codes, want 1", n)
	}
}
