package multihost

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// refreshSkew is how long before its expiry a host refreshes an access token
// (shared/credsource.DefaultSkew).
const refreshSkew = 60 * time.Second

// TestOneRefreshForConcurrentCallsOnThreeHosts: 60 API calls that need the
// OAuth access token (repository syncs), spread over three hosts, arrive
// while the token expires. Exactly one refresh reaches the simulator and every call succeeds
// with the refreshed token.
func TestOneRefreshForConcurrentCallsOnThreeHosts(t *testing.T) {
	t.Parallel()
	c := newPostgresCluster(t, 3)
	// The token the callback gets lives a little longer than the refresh
	// skew, so connecting (and its repository sync) does not refresh it;
	// then the hosts' clocks reach the skew and GitLab's clock its expiry.
	lifetime := refreshSkew + 10*time.Second
	c.sim.SetAccessTokenLifetime(lifetime)
	id := c.startOAuthApp(c.hosts[0])
	if status, loc, body := c.callback(c.hosts[2], c.authorize(c.hosts[1], id)); status != http.StatusSeeOther || loc != successLocation(id) {
		t.Fatalf("callback: %d to %q\n%.300s", status, loc, body)
	}
	if n := c.sim.TokenRequests("refresh_token"); n != 0 {
		t.Fatalf("%d refreshes while connecting; the machine is too slow for a %s token lifetime", n, lifetime)
	}
	c.sim.SetAccessTokenLifetime(2 * time.Hour) // what the refresh will get

	var expiresAt int64
	if err := c.db().QueryRow(`SELECT token_expires_at FROM integrations WHERE id = $1`, id).Scan(&expiresAt); err != nil || expiresAt == 0 {
		t.Fatalf("token_expires_at = %d, %v", expiresAt, err)
	}
	// Wait (wall clock: the hosts' clocks are real) until every host sees
	// the token inside the refresh skew, then expire it at GitLab too.
	time.Sleep(time.Until(time.Unix(expiresAt, 0).Add(-refreshSkew + time.Second)))
	c.sim.AdvanceTime(lifetime + time.Second)

	const calls = 60
	var wg sync.WaitGroup
	var failed atomic.Int32
	start := make(chan struct{})
	for i := range calls {
		wg.Go(func() {
			<-start
			h := c.host(i)
			// A repository sync lists the projects with the token (Oore's
			// token check is for personal tokens only).
			r := c.do(h, "POST", "/v1/integrations/"+id+"/installations", map[string]any{})
			if r.Status != http.StatusOK {
				if failed.Add(1) <= 5 {
					t.Errorf("call %d on %s: %d %s", i, h.Name, r.Status, r.Body)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if n := c.sim.TokenRequests("refresh_token"); n != 1 {
		t.Fatalf("%d refreshes reached the simulator, want exactly 1", n)
	}
	if failed.Load() != 0 {
		t.Fatalf("%d of %d calls failed", failed.Load(), calls)
	}
	var after int64
	if err := c.db().QueryRow(`SELECT token_expires_at FROM integrations WHERE id = $1`, id).Scan(&after); err != nil || after < expiresAt+int64(time.Hour/time.Second) {
		t.Fatalf("token_expires_at after the refresh = %d (was %d), %v", after, expiresAt, err)
	}
}
