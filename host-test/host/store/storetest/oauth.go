package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// testOAuthStateOnce: a state created on one host is consumed exactly once,
// however many hosts race for it.
func testOAuthStateOnce(t *testing.T, e *env) {
	hosts := e.hosts(t, 3)
	oauthIntegration(t, hosts[0], "i1", 0)
	exp := e.clock().Add(10 * time.Minute).Unix()
	const states = 5
	for i := range states {
		st := store.OAuthState{ID: stateID(i), IntegrationID: "i1", RedirectURL: "https://ci.example.com/after", Verifier: "verifier-" + stateID(i), ExpiresAt: exp}
		if err := hosts[i%3].CreateOAuthState(ctx(t), st); err != nil {
			t.Fatal(err)
		}
	}
	const racers = 8 // per state
	var wg sync.WaitGroup
	var won [states]atomic.Int32
	errs := make(chan error, states*racers)
	for i := range states {
		for r := range racers {
			wg.Go(func() {
				st, err := hosts[(i+r)%3].ConsumeOAuthState(ctx(t), stateID(i))
				switch {
				case err == nil:
					if st.Verifier != "verifier-"+stateID(i) || st.IntegrationID != "i1" || st.RedirectURL != "https://ci.example.com/after" || st.ExpiresAt != exp {
						errs <- errors.New("consumed state differs from the stored one")
					}
					won[i].Add(1)
				case !errors.Is(err, store.ErrNotFound):
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range states {
		if n := won[i].Load(); n != 1 {
			t.Errorf("state %d consumed %d times, want once", i, n)
		}
	}
	if n := count(t, hosts[0], `SELECT COUNT(*) FROM oauth_states`); n != 0 {
		t.Fatalf("%d states left after all were consumed", n)
	}
}

func stateID(i int) string { return "state-" + string(rune('a'+i)) }

// testOAuthStateExpiry: an expired state is refused (and gone), creating a
// state clears expired ones, and a state is bound to its row.
func testOAuthStateExpiry(t *testing.T, e *env) {
	a, b := e.host(t), e.host(t)
	oauthIntegration(t, a, "i1", 0)
	exp := e.clock().Add(10 * time.Minute).Unix()
	for _, id := range []string{"old", "older"} {
		if err := a.CreateOAuthState(ctx(t), store.OAuthState{ID: id, IntegrationID: "i1", RedirectURL: "https://x/", Verifier: "v", ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.CreateOAuthState(ctx(t), store.OAuthState{ID: "old", IntegrationID: "i1", RedirectURL: "https://x/", Verifier: "v", ExpiresAt: exp}); err == nil {
		t.Fatal("a second state with the same id was stored")
	}
	e.advance(10*time.Minute + time.Second)
	if _, err := b.ConsumeOAuthState(ctx(t), "old"); !errors.Is(err, store.ErrExpired) {
		t.Fatalf("expired state: %v, want ErrExpired", err)
	}
	if _, err := a.ConsumeOAuthState(ctx(t), "old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired state used twice: %v, want ErrNotFound", err)
	}
	if err := b.CreateOAuthState(ctx(t), store.OAuthState{ID: "new", IntegrationID: "i1", RedirectURL: "https://x/", Verifier: "v2", ExpiresAt: e.clock().Add(10 * time.Minute).Unix()}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, a, `SELECT COUNT(*) FROM oauth_states`); n != 1 {
		t.Fatalf("%d states stored; the expired one should have been dropped", n)
	}
	if _, err := a.ConsumeOAuthState(ctx(t), "older"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("dropped state: %v", err)
	}
	if st, err := a.ConsumeOAuthState(ctx(t), "new"); err != nil || st.Verifier != "v2" {
		t.Fatalf("fresh state = %+v, %v", st, err)
	}
}
