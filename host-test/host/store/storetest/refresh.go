package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/shared/credsource"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// testRefreshLockOneHolder: of many holders on several hosts racing for an
// integration's refresh lock, exactly one gets it.
func testRefreshLockOneHolder(t *testing.T, e *env) {
	hosts := e.hosts(t, 3)
	oauthIntegration(t, hosts[0], "i1", startTime+30)
	n := raceForLease(t, hosts, func(h *store.SQL, holder string) (bool, error) {
		return h.AcquireRefreshLock(ctx(t), "i1", holder, 30)
	})
	if n != 1 {
		t.Fatalf("%d holders got the refresh lock, want 1", n)
	}
}

// testRefreshLockLease: a lock is a lease. Its holder may extend it; another
// holder takes it only after it expires, and then the first one can no
// longer save.
func testRefreshLockLease(t *testing.T, e *env) {
	a, b := e.host(t), e.host(t)
	oauthIntegration(t, a, "i1", startTime+30)
	if ok, err := a.AcquireRefreshLock(ctx(t), "i1", "A", 30); err != nil || !ok {
		t.Fatalf("A acquire = %v, %v", ok, err)
	}
	if ok, _ := b.AcquireRefreshLock(ctx(t), "i1", "B", 30); ok {
		t.Fatal("B took a held lock")
	}
	e.advance(20 * time.Second)
	if ok, _ := a.AcquireRefreshLock(ctx(t), "i1", "A", 30); !ok {
		t.Fatal("A could not extend its lease")
	}
	e.advance(20 * time.Second)
	if ok, _ := b.AcquireRefreshLock(ctx(t), "i1", "B", 30); ok {
		t.Fatal("B took a lease A had extended")
	}
	e.advance(11 * time.Second)
	if ok, _ := b.AcquireRefreshLock(ctx(t), "i1", "B", 30); !ok {
		t.Fatal("B could not take an expired lease")
	}
	if err := a.SaveRefreshedCredentials(ctx(t), "i1", "A", store.Credentials{AccessToken: "at-a", RefreshToken: "rt-a"}); !errors.Is(err, store.ErrLockNotHeld) {
		t.Fatalf("A saved after losing its lease: %v", err)
	}
	if err := a.ReleaseRefreshLock(ctx(t), "i1", "A"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.AcquireRefreshLock(ctx(t), "i1", "C", 30); ok {
		t.Fatal("A's release freed B's lease")
	}
	if err := b.SaveRefreshedCredentials(ctx(t), "i1", "B", store.Credentials{AccessToken: "at-b", RefreshToken: "rt-b", ExpiresAt: startTime + 7200}); err != nil {
		t.Fatal(err)
	}
	creds, _, err := a.LoadCredentials(ctx(t), "i1")
	if err != nil || creds.AccessToken != "at-b" || creds.RefreshToken != "rt-b" || creds.ExpiresAt != startTime+7200 {
		t.Fatalf("credentials after B's refresh: %v", err)
	}
	if in, _ := a.GetIntegration(ctx(t), "i1"); in.TokenExpiresAt != startTime+7200 {
		t.Fatalf("token_expires_at = %d", in.TokenExpiresAt)
	}
	if err := b.ReleaseRefreshLock(ctx(t), "i1", "B"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.AcquireRefreshLock(ctx(t), "i1", "C", 30); !ok {
		t.Fatal("released lock could not be taken")
	}
}

// testCredentialStoreExclusion: the refresh lock the host's credential
// source uses excludes across hosts: read-modify-write cycles of many
// callers on three hosts lose no update.
func testCredentialStoreExclusion(t *testing.T, e *env) {
	hosts := e.hosts(t, 3)
	oauthIntegration(t, hosts[0], "i1", startTime+7200)
	const callers = 24
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		cs := store.NewCredentialStore(hosts[i%3], 0)
		wg.Go(func() {
			err := cs.WithRefreshLock(ctx(t), "i1", func(ctx context.Context) error {
				c, err := cs.Load(ctx, "i1")
				if err != nil {
					return err
				}
				n, err := strconv.Atoi(strings.TrimPrefix(c.GetAccessToken(), "at-"))
				if err != nil {
					return err
				}
				next := fmt.Sprintf("at-%d", n+1)
				return cs.Save(ctx, "i1", &scmv1.Credentials{AccessToken: next, RefreshToken: "rt-" + next, ExpiresAt: c.GetExpiresAt(), OauthClient: c.GetOauthClient()})
			})
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	creds, _, err := hosts[1].LoadCredentials(ctx(t), "i1")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("at-%d", callers); creds.AccessToken != want || creds.ClientSecret != "gloas-client-secret" {
		t.Fatalf("after %d locked increments the token is %s (want %s): the lock let two hosts in at once", callers, creds.AccessToken, want)
	}
}

// testOneRefreshAcrossHosts: callers on three hosts ask for credentials whose
// access token is about to expire; the provider sees one refresh and every
// caller gets the new token.
func testOneRefreshAcrossHosts(t *testing.T, e *env) {
	hosts := e.hosts(t, 3)
	oauthIntegration(t, hosts[0], "i1", startTime+30) // inside the 60 s skew
	var calls atomic.Int32
	refresh := func(ctx context.Context, c *scmv1.Credentials) (*scmv1.Credentials, error) {
		calls.Add(1)
		if c.GetRefreshToken() != "rt-0" {
			return nil, fmt.Errorf("refresh with a used refresh token %q", c.GetRefreshToken())
		}
		return &scmv1.Credentials{AccessToken: "at-1", RefreshToken: "rt-1", ExpiresAt: startTime + 7200}, nil
	}
	const callers = 30
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		src := credsource.New(store.NewCredentialStore(hosts[i%3], 0), refresh, credsource.WithClock(e.clock))
		wg.Go(func() {
			c, err := src.Credentials(ctx(t), "i1")
			if err != nil {
				errs <- err
				return
			}
			if c.GetAccessToken() != "at-1" {
				errs <- fmt.Errorf("caller %d got access token %q, want the refreshed one", i, c.GetAccessToken())
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d refreshes reached the provider, want 1", n)
	}
	creds, _, err := hosts[2].LoadCredentials(ctx(t), "i1")
	if err != nil || creds.RefreshToken != "rt-1" || creds.ClientID != "cid" {
		t.Fatalf("stored after refresh: refresh token rotated %v, client kept %v, %v", creds.RefreshToken == "rt-1", creds.ClientID == "cid", err)
	}
}

// raceForLease has 24 holders on the given hosts try to take one lease at
// once through acquire, and returns how many got it.
func raceForLease(t *testing.T, hosts []*store.SQL, acquire func(h *store.SQL, holder string) (bool, error)) int {
	t.Helper()
	const racers = 24
	var wg sync.WaitGroup
	var winners atomic.Int32
	errs := make(chan error, racers)
	for i := range racers {
		wg.Go(func() {
			ok, err := acquire(hosts[i%len(hosts)], fmt.Sprintf("holder-%d", i))
			if err != nil {
				errs <- err
				return
			}
			if ok {
				winners.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return int(winners.Load())
}
