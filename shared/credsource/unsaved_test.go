package credsource_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/shared/credsource"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// These tests cover a refresh the provider answered whose save failed: the
// provider has rotated the refresh token, so the new credentials are the
// only copy of the grant until the store takes them.

// assertStoredPair fails unless the store holds access and refresh.
func assertStoredPair(t *testing.T, store interface {
	Stored(string) *scmv1.Credentials
}, access, refresh string) {
	t.Helper()
	got := store.Stored(integration)
	if got.GetAccessToken() != access || got.GetRefreshToken() != refresh {
		t.Fatalf("stored access %q refresh %q, want %q %q", got.GetAccessToken(), got.GetRefreshToken(), access, refresh)
	}
}

func TestAFailedSaveKeepsTheRefreshedTokensUntilItLands(t *testing.T) {
	t.Parallel()
	const callers = 50
	store := newFlakyStore(credsource.NewMemoryStore())
	seed(t, store, integration, oauthCreds("access-secret-0", "refresh-secret-0", 30*time.Second))
	store.failNextSaves(-1)
	prov := newRotatingProvider("refresh-secret-0")
	prov.release = make(chan struct{})
	src := credsource.New(store, prov.Refresh, credsource.WithClock(clock), fastRetry)
	go func() {
		eventually(t, "every caller to load", func() bool { return store.loads.Load() >= callers+2 })
		close(prov.release)
	}()

	// Every caller works with the new token although the store refused it.
	results := concurrently(callers, func(int) (*scmv1.Credentials, error) {
		return src.Credentials(context.Background(), integration)
	})
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("caller %d: %v", i, r.err)
		}
		if r.creds.GetAccessToken() != "access-secret-1" || r.creds.GetOauthClient().GetClientSecret() != "client-secret-value" {
			t.Fatalf("caller %d got access %q (client secret kept: %t), want access-secret-1", i,
				r.creds.GetAccessToken(), r.creds.GetOauthClient().GetClientSecret() != "")
		}
	}
	assertStoredPair(t, store, "access-secret-0", "refresh-secret-0")
	if !credsource.Unsaved(src, integration) {
		t.Fatal("the source does not hold the unsaved credentials")
	}
	eventually(t, "the save to be retried", func() bool { return store.saveAttempts.Load() >= 4 })

	// While the save fails: later callers get the held token, a caller whose
	// old token was refused gets the new one, and nothing refreshes with the
	// spent refresh token.
	got, err := src.Credentials(context.Background(), integration)
	if err != nil || got.GetAccessToken() != "access-secret-1" {
		t.Fatalf("Credentials while unsaved = %v, %v", got, err)
	}
	got, err = src.ForceRefresh(context.Background(), integration, oauthCreds("access-secret-0", "refresh-secret-0", 30*time.Second))
	if err != nil || got.GetAccessToken() != "access-secret-1" {
		t.Fatalf("ForceRefresh(old token) while unsaved = %v, %v; want the held access-secret-1", got, err)
	}
	// The held token itself refused: not refreshed again before it is saved.
	_, err = src.ForceRefresh(context.Background(), integration, got)
	if !errors.Is(err, credsource.ErrCredentialsNotSaved) || errors.Is(err, credsource.ErrReconnectRequired) {
		t.Fatalf("ForceRefresh(held token) while unsaved = %v, want ErrCredentialsNotSaved", err)
	}
	assertNoSecret(t, err, "access-secret-0", "refresh-secret-0", "access-secret-1", "refresh-secret-1", "client-secret-value")
	if n := prov.calls.Load(); n != 1 {
		t.Fatalf("refresh calls = %d while unsaved, want 1", n)
	}

	// The store recovers: the retry lands the rotated pair, and the next
	// refresh uses it (the provider accepts only the newest refresh token).
	store.failNextSaves(0)
	eventually(t, "the retried save to land", func() bool {
		return store.Stored(integration).GetRefreshToken() == "refresh-secret-1"
	})
	assertStoredPair(t, store, "access-secret-1", "refresh-secret-1")
	eventually(t, "the source to let go of the saved credentials", func() bool { return !credsource.Unsaved(src, integration) })
	if _, marked := store.ReconnectReason(integration); marked {
		t.Fatal("marked for reconnection")
	}
	if stored := store.Stored(integration); stored.GetOauthClient().GetClientSecret() != "client-secret-value" {
		t.Errorf("the saved credentials lost the OAuth client")
	}
	got, err = src.ForceRefresh(context.Background(), integration, got)
	if err != nil || got.GetAccessToken() != "access-secret-2" {
		t.Fatalf("ForceRefresh after the save = %v, %v; want access-secret-2 (refreshed with the saved refresh token)", got, err)
	}
	if n := prov.calls.Load(); n != 2 {
		t.Errorf("refresh calls = %d, want 2", n)
	}
}

func TestASaveThatRecoversSoonLandsUnderTheSameLock(t *testing.T) {
	t.Parallel()
	store := newFlakyStore(credsource.NewMemoryStore())
	seed(t, store, integration, oauthCreds("access-secret-0", "refresh-secret-0", 30*time.Second))
	store.failNextSaves(3)
	prov := newRotatingProvider("refresh-secret-0")
	src := credsource.New(store, prov.Refresh, credsource.WithClock(clock), fastRetry)

	got, err := src.Credentials(context.Background(), integration)
	if err != nil || got.GetAccessToken() != "access-secret-1" {
		t.Fatalf("Credentials = %v, %v", got, err)
	}
	eventually(t, "the retried save to land", func() bool { return !credsource.Unsaved(src, integration) })
	assertStoredPair(t, store, "access-secret-1", "refresh-secret-1")
	if n := store.saveAttempts.Load(); n != 1+4 { // the seed, 3 failures, the save
		t.Errorf("save attempts = %d, want 5", n)
	}
	// Retried while the refresh still held the lock: no other host could
	// refresh with the spent token in between.
	if n := store.lockAttempts.Load(); n != 1 {
		t.Errorf("lock attempts = %d, want 1", n)
	}
	if n := prov.calls.Load(); n != 1 {
		t.Errorf("refresh calls = %d, want 1", n)
	}
}

func TestUnsavedTokensPastTheirExpiryAreAClearError(t *testing.T) {
	t.Parallel()
	store := newFlakyStore(credsource.NewMemoryStore())
	seed(t, store, integration, oauthCreds("access-secret-0", "refresh-secret-0", 30*time.Second))
	store.failNextSaves(-1)
	prov := newRotatingProvider("refresh-secret-0")
	clk := newTestClock()
	src := credsource.New(store, prov.Refresh, credsource.WithClock(clk.Now), fastRetry)

	if got, err := src.Credentials(context.Background(), integration); err != nil || got.GetAccessToken() != "access-secret-1" {
		t.Fatalf("Credentials = %v, %v", got, err)
	}
	// Within the skew of its expiry the held token is still handed out: it
	// cannot be refreshed early.
	clk.advance(2*time.Hour - 30*time.Second)
	if got, err := src.Credentials(context.Background(), integration); err != nil || got.GetAccessToken() != "access-secret-1" {
		t.Fatalf("Credentials 30 s before the held token expires = %v, %v", got, err)
	}
	// The store fails for longer than the token lives.
	clk.advance(time.Minute)
	for _, call := range []func() error{
		func() error { _, err := src.Credentials(context.Background(), integration); return err },
		func() error {
			_, err := src.ForceRefresh(context.Background(), integration, oauthCreds("access-secret-1", "", 0))
			return err
		},
	} {
		err := call()
		if !errors.Is(err, credsource.ErrCredentialsNotSaved) {
			t.Fatalf("err = %v, want ErrCredentialsNotSaved", err)
		}
		if errors.Is(err, credsource.ErrReconnectRequired) {
			t.Fatalf("err = %v asks for reconnection although the grant is fine", err)
		}
		if !strings.Contains(err.Error(), integration) || !strings.Contains(err.Error(), "No space left on device") {
			t.Errorf("err %q names neither the integration nor the store's failure", err)
		}
		assertNoSecret(t, err, "access-secret-0", "refresh-secret-0", "access-secret-1", "refresh-secret-1", "client-secret-value")
	}
	if _, marked := store.ReconnectReason(integration); marked {
		t.Fatal("marked for reconnection")
	}
	if n := prov.calls.Load(); n != 1 {
		t.Fatalf("refresh calls = %d, want 1", n)
	}

	// Once the save lands, the expired token is refreshed with the kept
	// refresh token, which the provider still accepts.
	store.failNextSaves(0)
	eventually(t, "the retried save to land", func() bool { return !credsource.Unsaved(src, integration) })
	got, err := src.Credentials(context.Background(), integration)
	if err != nil || got.GetAccessToken() != "access-secret-2" {
		t.Fatalf("Credentials after the save = %v, %v; want access-secret-2", got, err)
	}
	assertStoredPair(t, store, "access-secret-2", "refresh-secret-2")
}

func TestAFailedCommitKeepsTheRefreshedTokens(t *testing.T) {
	t.Parallel()
	var failCommits atomic.Int64
	store := txStore{MemoryStore: credsource.NewMemoryStore(), failCommits: &failCommits}
	seed(t, store, integration, oauthCreds("access-secret-0", "refresh-secret-0", 10*time.Second))
	failCommits.Store(3)
	prov := newRotatingProvider("refresh-secret-0")
	src := credsource.New(store, prov.Refresh, credsource.WithClock(clock), fastRetry)

	got, err := src.Credentials(context.Background(), integration)
	if err != nil || got.GetAccessToken() != "access-secret-1" {
		t.Fatalf("Credentials = %v, %v; want the refreshed token although the commit failed", got, err)
	}
	eventually(t, "a retried commit", func() bool { return !credsource.Unsaved(src, integration) })
	assertStoredPair(t, store, "access-secret-1", "refresh-secret-1")
	if n := failCommits.Load(); n != -1 {
		t.Errorf("commits after the failed ones = %d, want 1", -n)
	}
	if n := prov.calls.Load(); n != 1 {
		t.Errorf("refresh calls = %d, want 1", n)
	}
}

func TestAnotherHostWaitsWhileTheSaveIsRetried(t *testing.T) {
	t.Parallel()
	// Two hosts over one database. Host A refreshed; its save fails for a
	// while. Host B's token is due too: it must wait for A's lock and then
	// use A's tokens, not refresh with the spent refresh token (the provider
	// would refuse it and B would mark the integration for reconnection).
	shared := credsource.NewMemoryStore()
	storeA := newFlakyStore(shared)
	storeB := &recordingStore{MemoryStore: shared}
	seed(t, shared, integration, oauthCreds("access-secret-0", "refresh-secret-0", 30*time.Second))
	storeA.failNextSaves(-1)
	prov := newRotatingProvider("refresh-secret-0")
	hostA := credsource.New(storeA, prov.Refresh, credsource.WithClock(clock), fastRetry)
	hostB := credsource.New(storeB, prov.Refresh, credsource.WithClock(clock), fastRetry)

	a, err := hostA.Credentials(context.Background(), integration)
	if err != nil || a.GetAccessToken() != "access-secret-1" {
		t.Fatalf("host A = %v, %v", a, err)
	}
	bDone := make(chan result, 1)
	go func() {
		creds, err := hostB.Credentials(context.Background(), integration)
		bDone <- result{creds, err}
	}()
	eventually(t, "host B to wait for the refresh lock", func() bool { return storeB.lockAttempts.Load() == 1 })
	select {
	case b := <-bDone:
		t.Fatalf("host B answered %v, %v while host A held the lock", b.creds, b.err)
	case <-time.After(50 * time.Millisecond):
	}
	storeA.failNextSaves(0)
	b := <-bDone
	if b.err != nil || b.creds.GetAccessToken() != "access-secret-1" {
		t.Fatalf("host B = %v, %v; want host A's access-secret-1", b.creds, b.err)
	}
	assertStoredPair(t, shared, "access-secret-1", "refresh-secret-1")
	if n := prov.calls.Load(); n != 1 {
		t.Errorf("refresh calls = %d, want 1 (host B must not refresh with the spent token)", n)
	}
	if n := storeA.marks.Load() + storeB.marks.Load(); n != 0 {
		t.Errorf("MarkReconnect calls = %d, want 0", n)
	}
}

func TestAReconnectionMarkSetInAGapIsClearedByTheSave(t *testing.T) {
	t.Parallel()
	// The remaining window: host A's save keeps failing past its refresh
	// timeout, so A lets go of the lock between two attempts, and host B,
	// waiting for it, gets it first. B sees the spent tokens, the provider
	// refuses them and B marks the integration for reconnection. A's next
	// save that lands clears the mark, and every host uses A's tokens.
	shared := credsource.NewMemoryStore()
	storeA := newFlakyStore(shared)
	storeB := &recordingStore{MemoryStore: shared}
	seed(t, shared, integration, oauthCreds("access-secret-0", "refresh-secret-0", 30*time.Second))
	storeA.failNextSaves(-1)
	prov := newRotatingProvider("refresh-secret-0")
	hostA := credsource.New(storeA, prov.Refresh, credsource.WithClock(clock), fastRetry, credsource.WithRefreshTimeout(100*time.Millisecond))
	hostB := credsource.New(storeB, prov.Refresh, credsource.WithClock(clock))

	if a, err := hostA.Credentials(context.Background(), integration); err != nil || a.GetAccessToken() != "access-secret-1" {
		t.Fatalf("host A = %v, %v", a, err)
	}
	_, errB := hostB.Credentials(context.Background(), integration)
	t.Logf("host B in the gap: %v", errB)
	if n := prov.calls.Load(); n != 2 || storeB.marks.Load() != 1 {
		t.Fatalf("refresh calls = %d, host B's marks = %d; the test did not reach the gap", n, storeB.marks.Load())
	}
	// Host A still prefers its unsaved tokens to the store's mark.
	if a, err := hostA.Credentials(context.Background(), integration); err != nil || a.GetAccessToken() != "access-secret-1" {
		t.Fatalf("host A after B's mark = %v, %v", a, err)
	}

	storeA.failNextSaves(0)
	eventually(t, "host A's save to land", func() bool { return !credsource.Unsaved(hostA, integration) })
	if reason, marked := shared.ReconnectReason(integration); marked {
		t.Fatalf("still marked for reconnection (%s) after host A saved", reason)
	}
	assertStoredPair(t, shared, "access-secret-1", "refresh-secret-1")
	b, err := hostB.Credentials(context.Background(), integration)
	if err != nil || b.GetAccessToken() != "access-secret-1" {
		t.Fatalf("host B after the save = %v, %v", b, err)
	}
	if n := prov.calls.Load(); n != 2 {
		t.Errorf("refresh calls = %d, want 2", n)
	}
}

func TestUnsavedTokensGiveWayToCredentialsStoredMeanwhile(t *testing.T) {
	t.Parallel()
	// While the save fails, the user reconnects the integration (the host
	// stores the new grant's tokens). The unsaved tokens of the old grant
	// must not overwrite them.
	store := newFlakyStore(credsource.NewMemoryStore())
	seed(t, store, integration, oauthCreds("access-secret-0", "refresh-secret-0", 30*time.Second))
	store.failNextSaves(-1)
	prov := newRotatingProvider("refresh-secret-0")
	src := credsource.New(store, prov.Refresh, credsource.WithClock(clock), fastRetry)
	if got, err := src.Credentials(context.Background(), integration); err != nil || got.GetAccessToken() != "access-secret-1" {
		t.Fatalf("Credentials = %v, %v", got, err)
	}

	reconnected := oauthCreds("access-secret-9", "refresh-secret-9", 2*time.Hour)
	seed(t, store.MemoryStore, integration, reconnected)
	eventually(t, "the unsaved tokens to be dropped", func() bool { return !credsource.Unsaved(src, integration) })
	got, err := src.Credentials(context.Background(), integration)
	if err != nil || got.GetAccessToken() != "access-secret-9" {
		t.Fatalf("Credentials = %v, %v; want the reconnected access-secret-9", got, err)
	}
	assertStoredPair(t, store, "access-secret-9", "refresh-secret-9")
}
