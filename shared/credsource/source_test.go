package credsource_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/oore-ci/oore-scm-gitlab/shared/credsource"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

const integration = "int-1"

func TestConcurrentCallersShareOneRefreshSavedBeforeUse(t *testing.T) {
	t.Parallel()
	const callers = 50
	store := newRecordingStore()
	seed(t, store, integration, oauthCreds("access-secret-0", "refresh-secret-0", 30*time.Second))
	prov := newRotatingProvider("refresh-secret-0")
	prov.release = make(chan struct{})
	src := credsource.New(store, prov.Refresh, credsource.WithClock(clock))

	// Hold the refresh until every caller has seen the expiring token: 50
	// first loads, plus the flight's load before and under the lock.
	go func() {
		eventually(t, "every caller to load", func() bool { return store.loads.Load() >= callers+2 })
		close(prov.release)
	}()
	results := concurrently(callers, func(int) (*scmv1.Credentials, error) {
		creds, err := src.Credentials(context.Background(), integration)
		if err == nil {
			store.got(creds)
		}
		return creds, err
	})

	for i, r := range results {
		if r.err != nil {
			t.Fatalf("caller %d: %v", i, r.err)
		}
		if r.creds.GetAccessToken() != "access-secret-1" || r.creds.GetRefreshToken() != "refresh-secret-1" {
			t.Fatalf("caller %d got access %q refresh %q, want the refreshed pair", i, r.creds.GetAccessToken(), r.creds.GetRefreshToken())
		}
		if r.creds.GetOauthClient().GetClientSecret() != "client-secret-value" {
			t.Errorf("caller %d: the OAuth client was not kept", i)
		}
	}
	if n := prov.calls.Load(); n != 1 {
		t.Errorf("refresh calls = %d, want 1", n)
	}
	if n := store.locks.Load(); n != 1 {
		t.Errorf("refresh lock acquisitions = %d, want 1 for a burst in one process", n)
	}
	stored := store.Stored(integration)
	if stored.GetAccessToken() != "access-secret-1" || stored.GetRefreshToken() != "refresh-secret-1" || stored.GetExpiresAt() != t0.Add(2*time.Hour).Unix() {
		t.Errorf("stored %v, want the refreshed credentials", stored)
	}
	log := store.log()
	saveAt := slices.Index(log, "save access-secret-1")
	if saveAt < 0 {
		t.Fatalf("no save recorded: %v", log)
	}
	for i, e := range log {
		if strings.HasPrefix(e, "got ") && i < saveAt {
			t.Fatalf("a caller got credentials (event %d) before they were saved (event %d): %v", i, saveAt, log)
		}
	}
	if got := countPrefix(log, "got "); got != callers {
		t.Errorf("%d callers recorded, want %d", got, callers)
	}
}

func TestACallerLateForARefreshSkipsTheLock(t *testing.T) {
	t.Parallel()
	// Caller B reads the expiring token, then a refresh by caller A runs and
	// saves before B asks for one: B must find the saved tokens without
	// taking the (possibly cross-process) lock again.
	type lateKey struct{}
	store := newRecordingStore()
	seed(t, store, integration, oauthCreds("access-secret-0", "refresh-secret-0", 30*time.Second))
	bLoaded, resumeB := make(chan struct{}), make(chan struct{})
	var once sync.Once
	store.afterLoad = func(ctx context.Context) {
		if ctx.Value(lateKey{}) != nil {
			once.Do(func() { close(bLoaded); <-resumeB })
		}
	}
	prov := newRotatingProvider("refresh-secret-0")
	src := credsource.New(store, prov.Refresh, credsource.WithClock(clock))

	bDone := make(chan result, 1)
	go func() {
		creds, err := src.Credentials(context.WithValue(context.Background(), lateKey{}, true), integration)
		bDone <- result{creds, err}
	}()
	<-bLoaded
	a, err := src.Credentials(context.Background(), integration)
	if err != nil || a.GetAccessToken() != "access-secret-1" {
		t.Fatalf("caller A: %v, %v", a, err)
	}
	close(resumeB)
	b := <-bDone
	if b.err != nil || b.creds.GetAccessToken() != "access-secret-1" {
		t.Fatalf("caller B: %v, %v", b.creds, b.err)
	}
	if n := prov.calls.Load(); n != 1 {
		t.Errorf("refresh calls = %d, want 1", n)
	}
	if n := store.lockAttempts.Load(); n != 1 {
		t.Errorf("lock attempts = %d, want 1", n)
	}
}

func TestWhenToRefresh(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		creds   *scmv1.Credentials
		opts    []credsource.Option
		refresh bool
	}{
		"far from expiry":             {creds: oauthCreds("access-secret-0", "refresh-secret-0", time.Hour)},
		"just outside the skew":       {creds: oauthCreds("access-secret-0", "refresh-secret-0", 61*time.Second)},
		"exactly at the skew":         {creds: oauthCreds("access-secret-0", "refresh-secret-0", 60*time.Second), refresh: true},
		"within the skew":             {creds: oauthCreds("access-secret-0", "refresh-secret-0", 59*time.Second), refresh: true},
		"already expired":             {creds: oauthCreds("access-secret-0", "refresh-secret-0", -time.Hour), refresh: true},
		"wider skew":                  {creds: oauthCreds("access-secret-0", "refresh-secret-0", 90*time.Second), opts: []credsource.Option{credsource.WithSkew(2 * time.Minute)}, refresh: true},
		"zero skew, not yet expired":  {creds: oauthCreds("access-secret-0", "refresh-secret-0", time.Second), opts: []credsource.Option{credsource.WithSkew(0)}},
		"unknown expiry":              {creds: withoutExpiry(oauthCreds("access-secret-0", "refresh-secret-0", 0))},
		"personal token past expiry":  {creds: &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, AccessToken: "glpat-secret", ExpiresAt: t0.Add(-time.Hour).Unix()}},
		"personal token without date": {creds: &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, AccessToken: "glpat-secret"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := newRecordingStore()
			seed(t, store, integration, tc.creds)
			prov := newRotatingProvider("refresh-secret-0")
			src := credsource.New(store, prov.Refresh, append([]credsource.Option{credsource.WithClock(clock)}, tc.opts...)...)

			got, err := src.Credentials(context.Background(), integration)
			if err != nil {
				t.Fatalf("Credentials: %v", err)
			}
			refreshed := prov.calls.Load() == 1
			if refreshed != tc.refresh {
				t.Fatalf("refreshed = %v, want %v", refreshed, tc.refresh)
			}
			if !tc.refresh && !proto.Equal(got, tc.creds) {
				t.Errorf("got %v, want the stored credentials untouched", got)
			}
			if tc.refresh && got.GetAccessToken() != "access-secret-1" {
				t.Errorf("got access %q, want the refreshed one", got.GetAccessToken())
			}
			if !tc.refresh && store.locks.Load() != 0 {
				t.Errorf("the refresh lock was taken although nothing needed refreshing")
			}
		})
	}
}

func TestRefusedGrantMarksReconnectOnceAndEveryWaiterIsTold(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		failure error
		reason  scmerr.Reason
	}{
		"invalid grant": {
			failure: scmerr.New(codes.FailedPrecondition, scmerr.ReasonInvalidGrant, "the refresh token is invalid, used or expired"),
			reason:  scmerr.ReasonInvalidGrant,
		},
		"invalid client": {
			failure: scmerr.New(codes.Unauthenticated, scmerr.ReasonInvalidClient, "the OAuth client id or secret was refused"),
			reason:  scmerr.ReasonInvalidClient,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const callers = 50
			store := newRecordingStore()
			before := oauthCreds("access-secret-0", "refresh-secret-0", 30*time.Second)
			seed(t, store, integration, before)
			prov := newRotatingProvider("refresh-secret-0")
			prov.failure = tc.failure
			prov.release = make(chan struct{})
			src := credsource.New(store, prov.Refresh, credsource.WithClock(clock))
			go func() {
				eventually(t, "every caller to load", func() bool { return store.loads.Load() >= callers+2 })
				close(prov.release)
			}()

			results := concurrently(callers, func(int) (*scmv1.Credentials, error) {
				return src.Credentials(context.Background(), integration)
			})
			withReason := 0
			for i, r := range results {
				if !errors.Is(r.err, credsource.ErrReconnectRequired) {
					t.Fatalf("caller %d: err = %v, want ErrReconnectRequired", i, r.err)
				}
				// Callers that joined the refresh also get the provider's
				// reason; one that came after it learns from the store.
				if scmerr.Is(r.err, tc.reason) {
					withReason++
				}
				assertNoSecret(t, r.err, "access-secret-0", "refresh-secret-0", "client-secret-value")
			}
			if withReason == 0 {
				t.Errorf("no caller got the provider's reason %s", tc.reason)
			}
			if n := prov.calls.Load(); n != 1 {
				t.Errorf("refresh calls = %d, want 1", n)
			}
			if n := store.marks.Load(); n != 1 {
				t.Errorf("MarkReconnect calls = %d, want 1", n)
			}
			if _, marked := store.ReconnectReason(integration); !marked {
				t.Errorf("integration not marked for reconnection")
			}
			if n := store.saves.Load(); n != 1 { // the seed
				t.Errorf("saves = %d, want only the seed", n)
			}
			if got := store.Stored(integration); !proto.Equal(got, before) {
				t.Errorf("stored credentials changed to %v", got)
			}

			// Later calls fail fast: no second refresh, no retry loop.
			_, err := src.Credentials(context.Background(), integration)
			if !errors.Is(err, credsource.ErrReconnectRequired) {
				t.Fatalf("later call: %v, want ErrReconnectRequired", err)
			}
			_, err = src.ForceRefresh(context.Background(), integration, before)
			if !errors.Is(err, credsource.ErrReconnectRequired) {
				t.Fatalf("later force refresh: %v, want ErrReconnectRequired", err)
			}
			if n := prov.calls.Load(); n != 1 {
				t.Errorf("refresh calls after the refusal = %d, want still 1", n)
			}
		})
	}
}

func TestRefreshAnswersThatAreNeverSaved(t *testing.T) {
	t.Parallel()
	tests := map[string]func(in *scmv1.Credentials) *scmv1.Credentials{
		"no credentials": func(*scmv1.Credentials) *scmv1.Credentials { return nil },
		"no refresh token": func(*scmv1.Credentials) *scmv1.Credentials {
			return &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_OAUTH_APP, AccessToken: "access-secret-1", ExpiresAt: t0.Add(2 * time.Hour).Unix()}
		},
		"the same refresh token": func(in *scmv1.Credentials) *scmv1.Credentials {
			return &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_OAUTH_APP, AccessToken: "access-secret-1", RefreshToken: in.GetRefreshToken(), ExpiresAt: t0.Add(2 * time.Hour).Unix()}
		},
		"no access token": func(*scmv1.Credentials) *scmv1.Credentials {
			return &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_OAUTH_APP, RefreshToken: "refresh-secret-1", ExpiresAt: t0.Add(2 * time.Hour).Unix()}
		},
		"not oauth credentials": func(*scmv1.Credentials) *scmv1.Credentials {
			return &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, AccessToken: "access-secret-1", RefreshToken: "refresh-secret-1"}
		},
	}
	for name, answer := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := newRecordingStore()
			before := oauthCreds("access-secret-0", "refresh-secret-0", 30*time.Second)
			seed(t, store, integration, before)
			prov := newRotatingProvider("refresh-secret-0")
			prov.answer = answer
			src := credsource.New(store, prov.Refresh, credsource.WithClock(clock))

			creds, err := src.Credentials(context.Background(), integration)
			if !errors.Is(err, credsource.ErrReconnectRequired) || creds != nil {
				t.Fatalf("Credentials = %v, %v; want ErrReconnectRequired", creds, err)
			}
			assertNoSecret(t, err, "access-secret-0", "refresh-secret-0", "access-secret-1", "refresh-secret-1")
			if n := store.saves.Load(); n != 1 {
				t.Errorf("saves = %d, want only the seed: the answer must not be saved", n)
			}
			if got := store.Stored(integration); !proto.Equal(got, before) {
				t.Errorf("stored credentials changed to %v", got)
			}
			if _, marked := store.ReconnectReason(integration); !marked {
				t.Errorf("integration not marked for reconnection")
			}
		})
	}
}

func TestNoStoredRefreshTokenMeansReconnect(t *testing.T) {
	t.Parallel()
	store := newRecordingStore()
	seed(t, store, integration, oauthCreds("access-secret-0", "", 30*time.Second))
	prov := newRotatingProvider("refresh-secret-0")
	src := credsource.New(store, prov.Refresh, credsource.WithClock(clock))

	_, err := src.Credentials(context.Background(), integration)
	if !errors.Is(err, credsource.ErrReconnectRequired) {
		t.Fatalf("err = %v, want ErrReconnectRequired", err)
	}
	if n := prov.calls.Load(); n != 0 {
		t.Errorf("refresh calls = %d, want 0", n)
	}
	if reason, _ := store.ReconnectReason(integration); !strings.Contains(reason, "no refresh token") {
		t.Errorf("reconnect reason = %q", reason)
	}
}

func TestTransientRefreshFailure(t *testing.T) {
	t.Parallel()
	unreachable := scmerr.New(codes.Unavailable, scmerr.ReasonUnreachable, "gitlab.example.com could not be reached")
	tests := map[string]struct {
		expiresIn time.Duration
		force     bool
		wantErr   bool
	}{
		"still valid: the current token is used": {expiresIn: 30 * time.Second},
		"expired: the error is returned":         {expiresIn: -time.Second, wantErr: true},
		"forced: the error is returned":          {expiresIn: time.Hour, force: true, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := newRecordingStore()
			before := oauthCreds("access-secret-0", "refresh-secret-0", tc.expiresIn)
			seed(t, store, integration, before)
			prov := newRotatingProvider("refresh-secret-0")
			prov.failure = unreachable
			src := credsource.New(store, prov.Refresh, credsource.WithClock(clock))

			var creds *scmv1.Credentials
			var err error
			if tc.force {
				creds, err = src.ForceRefresh(context.Background(), integration, before)
			} else {
				creds, err = src.Credentials(context.Background(), integration)
			}
			if tc.wantErr {
				if err == nil || !scmerr.Is(err, scmerr.ReasonUnreachable) {
					t.Fatalf("err = %v, want the provider's UNREACHABLE error", err)
				}
				if errors.Is(err, credsource.ErrReconnectRequired) {
					t.Errorf("a transient failure asked for reconnection")
				}
				if !strings.Contains(err.Error(), integration) {
					t.Errorf("err %q does not name the integration", err)
				}
				assertNoSecret(t, err, "access-secret-0", "refresh-secret-0", "client-secret-value")
			} else {
				if err != nil {
					t.Fatalf("Credentials: %v", err)
				}
				if !proto.Equal(creds, before) {
					t.Errorf("got %v, want the current credentials", creds)
				}
			}
			if _, marked := store.ReconnectReason(integration); marked {
				t.Errorf("a transient failure marked the integration for reconnection")
			}
			if n := prov.calls.Load(); n != 1 {
				t.Errorf("refresh calls = %d, want 1 (no retry loop)", n)
			}
		})
	}
}

func TestForceRefreshDoesNotReplaceATokenTwice(t *testing.T) {
	t.Parallel()
	const callers = 20
	store := newRecordingStore()
	stale := oauthCreds("access-secret-0", "refresh-secret-0", time.Hour) // the store thinks it is fresh
	seed(t, store, integration, stale)
	prov := newRotatingProvider("refresh-secret-0")
	src := credsource.New(store, prov.Refresh, credsource.WithClock(clock))

	results := concurrently(callers, func(int) (*scmv1.Credentials, error) {
		return src.ForceRefresh(context.Background(), integration, stale)
	})
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("caller %d: %v", i, r.err)
		}
		if r.creds.GetAccessToken() != "access-secret-1" {
			t.Fatalf("caller %d got %q, want access-secret-1", i, r.creds.GetAccessToken())
		}
	}
	if n := prov.calls.Load(); n != 1 {
		t.Errorf("refresh calls = %d, want 1", n)
	}

	// A caller that still holds the stale token later: already replaced.
	got, err := src.ForceRefresh(context.Background(), integration, stale)
	if err != nil || got.GetAccessToken() != "access-secret-1" {
		t.Fatalf("ForceRefresh(stale) = %v, %v; want the stored access-secret-1", got, err)
	}
	if n := prov.calls.Load(); n != 1 {
		t.Errorf("refresh calls = %d, want still 1", n)
	}

	// The current token rejected in turn is refreshed again.
	got, err = src.ForceRefresh(context.Background(), integration, got)
	if err != nil || got.GetAccessToken() != "access-secret-2" {
		t.Fatalf("ForceRefresh(current) = %v, %v; want access-secret-2", got, err)
	}
}

func TestForceRefreshThatJoinedAFlightKeepingTheStaleToken(t *testing.T) {
	t.Parallel()
	// Caller X refreshes early; the provider fails for a while, so X's
	// flight keeps the still-valid token. Caller Y, whose request was just
	// refused with that token, joined X's flight: it must not get the refused
	// token back, but refresh on its own terms.
	store := newRecordingStore()
	stale := oauthCreds("access-secret-0", "refresh-secret-0", 30*time.Second)
	seed(t, store, integration, stale)
	prov := newRotatingProvider("refresh-secret-0")
	prov.failOnce = scmerr.New(codes.Unavailable, scmerr.ReasonUnreachable, "gitlab.example.com could not be reached")
	prov.release = make(chan struct{})
	prov.started = make(chan struct{})
	src := credsource.New(store, prov.Refresh, credsource.WithClock(clock))

	xDone := make(chan result, 1)
	go func() {
		creds, err := src.Credentials(context.Background(), integration)
		xDone <- result{creds, err}
	}()
	<-prov.started
	yDone := make(chan result, 1)
	go func() {
		creds, err := src.ForceRefresh(context.Background(), integration, stale)
		yDone <- result{creds, err}
	}()
	// Y waits on X's flight before the provider answers.
	eventually(t, "Y to join X's refresh", func() bool { return credsource.Joiners(src, integration) == 1 })
	close(prov.release)

	x := <-xDone
	if x.err != nil || x.creds.GetAccessToken() != "access-secret-0" {
		t.Fatalf("caller X = %v, %v; want the still-valid current token", x.creds, x.err)
	}
	y := <-yDone
	if y.err != nil || y.creds.GetAccessToken() != "access-secret-1" {
		t.Fatalf("caller Y = %v, %v; want a new token", y.creds, y.err)
	}
	if n := prov.calls.Load(); n != 2 {
		t.Errorf("refresh calls = %d, want 2 (X's failed one, Y's)", n)
	}
}

func TestPersonalTokensPassThrough(t *testing.T) {
	t.Parallel()
	store := newRecordingStore()
	pat := &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, AccessToken: "glpat-secret", ExpiresAt: t0.Add(-time.Hour).Unix()}
	seed(t, store, integration, pat)
	prov := newRotatingProvider("")
	src := credsource.New(store, prov.Refresh, credsource.WithClock(clock))

	got, err := src.Credentials(context.Background(), integration)
	if err != nil || !proto.Equal(got, pat) {
		t.Fatalf("Credentials = %v, %v; want the personal token as stored", got, err)
	}
	_, err = src.ForceRefresh(context.Background(), integration, pat)
	if !errors.Is(err, credsource.ErrNotRefreshable) {
		t.Fatalf("ForceRefresh(personal token) = %v, want ErrNotRefreshable", err)
	}
	assertNoSecret(t, err, "glpat-secret")
	if n := prov.calls.Load() + store.locks.Load() + store.marks.Load(); n != 0 {
		t.Errorf("a personal token caused %d refreshes, locks or marks", n)
	}
}

func TestForceRefreshOfAnIntegrationNowOnAPersonalToken(t *testing.T) {
	t.Parallel()
	// The user replaced the OAuth grant by a personal token meanwhile.
	store := newRecordingStore()
	seed(t, store, integration, &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, AccessToken: "glpat-secret"})
	prov := newRotatingProvider("refresh-secret-0")
	src := credsource.New(store, prov.Refresh, credsource.WithClock(clock))

	_, err := src.ForceRefresh(context.Background(), integration, oauthCreds("access-secret-0", "refresh-secret-0", time.Hour))
	if !errors.Is(err, credsource.ErrNotRefreshable) {
		t.Fatalf("err = %v, want ErrNotRefreshable", err)
	}
	if n := prov.calls.Load(); n != 0 {
		t.Errorf("refresh calls = %d, want 0", n)
	}
}

func TestTwoSourcesSharingAStoreRefreshOnce(t *testing.T) {
	t.Parallel()
	const callersPerHost = 25
	store := newRecordingStore()
	seed(t, store, integration, oauthCreds("access-secret-0", "refresh-secret-0", 30*time.Second))
	prov := newRotatingProvider("refresh-secret-0")
	prov.release = make(chan struct{})
	hostA := credsource.New(store, prov.Refresh, credsource.WithClock(clock))
	hostB := credsource.New(store, prov.Refresh, credsource.WithClock(clock))

	// Release the refresh only once both hosts' flights wait on the lock, so
	// the second host must find the tokens the first one saved.
	go func() {
		eventually(t, "both hosts to ask for the lock", func() bool { return store.lockAttempts.Load() >= 2 })
		close(prov.release)
	}()
	hosts := []*credsource.Source{hostA, hostB}
	results := concurrently(2*callersPerHost, func(i int) (*scmv1.Credentials, error) {
		return hosts[i%2].Credentials(context.Background(), integration)
	})
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("caller %d: %v", i, r.err)
		}
		if r.creds.GetAccessToken() != "access-secret-1" {
			t.Fatalf("caller %d got %q, want access-secret-1", i, r.creds.GetAccessToken())
		}
	}
	if n := prov.calls.Load(); n != 1 {
		t.Errorf("refresh calls = %d, want 1 across both hosts", n)
	}
	if n := store.locks.Load(); n != 2 {
		t.Errorf("lock acquisitions = %d, want 2 (one per host)", n)
	}
}

func TestWaitersReturnWhenTheirContextEnds(t *testing.T) {
	t.Parallel()
	store := newRecordingStore()
	seed(t, store, integration, oauthCreds("access-secret-0", "refresh-secret-0", 30*time.Second))
	prov := newRotatingProvider("refresh-secret-0")
	prov.release = make(chan struct{})
	prov.started = make(chan struct{})
	src := credsource.New(store, prov.Refresh, credsource.WithClock(clock))

	// The caller that started the refresh and one that joined it both give up.
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := src.Credentials(leaderCtx, integration)
		leaderErr <- err
	}()
	<-prov.started
	joinCtx, cancelJoin := context.WithCancel(context.Background())
	joinErr := make(chan error, 1)
	go func() {
		_, err := src.Credentials(joinCtx, integration)
		joinErr <- err
	}()
	eventually(t, "the second caller to join the refresh", func() bool { return credsource.Joiners(src, integration) == 1 })
	cancelJoin()
	select {
	case err := <-joinErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("joined waiter: err = %v, want Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cancelled waiter did not return while the refresh was still running")
	}
	cancelLeader()
	select {
	case err := <-leaderErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("leader: err = %v, want Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cancelled leader did not return")
	}

	// The refresh goes on without them and its answer is saved.
	close(prov.release)
	eventually(t, "the refreshed tokens to be saved", func() bool {
		return store.Stored(integration).GetAccessToken() == "access-secret-1"
	})
	got, err := src.Credentials(context.Background(), integration)
	if err != nil || got.GetAccessToken() != "access-secret-1" {
		t.Fatalf("Credentials after the refresh = %v, %v", got, err)
	}
	if n := prov.calls.Load(); n != 1 {
		t.Errorf("refresh calls = %d, want 1", n)
	}
}

func TestRefreshTimeoutBoundsAStuckRefresh(t *testing.T) {
	t.Parallel()
	store := newRecordingStore()
	seed(t, store, integration, oauthCreds("access-secret-0", "refresh-secret-0", -time.Second))
	prov := newRotatingProvider("refresh-secret-0")
	prov.release = make(chan struct{}) // never released
	src := credsource.New(store, prov.Refresh, credsource.WithClock(clock), credsource.WithRefreshTimeout(50*time.Millisecond))

	_, err := src.Credentials(context.Background(), integration)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the refresh timeout", err)
	}
	if _, marked := store.ReconnectReason(integration); marked {
		t.Errorf("a timed-out refresh marked the integration for reconnection")
	}
}

func TestRefreshLockWaitEndsWithTheRefreshTimeout(t *testing.T) {
	t.Parallel()
	store := newRecordingStore()
	seed(t, store, integration, oauthCreds("access-secret-0", "refresh-secret-0", -time.Second))
	prov := newRotatingProvider("refresh-secret-0")
	src := credsource.New(store, prov.Refresh, credsource.WithClock(clock), credsource.WithRefreshTimeout(50*time.Millisecond))

	// Another host holds the lock and never lets go.
	held := make(chan struct{})
	hold := make(chan struct{})
	defer close(hold)
	go func() {
		_ = store.MemoryStore.WithRefreshLock(context.Background(), integration, func(context.Context) error {
			close(held)
			<-hold
			return nil
		})
	}()
	<-held
	_, err := src.Credentials(context.Background(), integration)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if n := prov.calls.Load(); n != 0 {
		t.Errorf("refreshed without the lock")
	}
}

func TestAPanickingRefreshIsAnError(t *testing.T) {
	t.Parallel()
	store := newRecordingStore()
	seed(t, store, integration, oauthCreds("access-secret-0", "refresh-secret-0", -time.Second))
	src := credsource.New(store, func(context.Context, *scmv1.Credentials) (*scmv1.Credentials, error) {
		panic("access-secret-0 leaked into a panic")
	}, credsource.WithClock(clock))

	_, err := src.Credentials(context.Background(), integration)
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("err = %v, want a panic error", err)
	}
	assertNoSecret(t, err, "access-secret-0")
	if _, marked := store.ReconnectReason(integration); marked {
		t.Errorf("a panic marked the integration for reconnection")
	}
}

func TestUnknownIntegration(t *testing.T) {
	t.Parallel()
	src := credsource.New(credsource.NewMemoryStore(), newRotatingProvider("").Refresh)
	_, err := src.Credentials(context.Background(), "nope")
	if !errors.Is(err, credsource.ErrUnknownIntegration) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("err = %v, want ErrUnknownIntegration naming the integration", err)
	}
}

func TestCallersGetTheirOwnCopy(t *testing.T) {
	t.Parallel()
	store := newRecordingStore()
	seed(t, store, integration, oauthCreds("access-secret-0", "refresh-secret-0", -time.Second))
	prov := newRotatingProvider("refresh-secret-0")
	prov.release = make(chan struct{})
	src := credsource.New(store, prov.Refresh, credsource.WithClock(clock))
	go func() {
		eventually(t, "both callers to load", func() bool { return store.loads.Load() >= 4 })
		close(prov.release)
	}()
	results := concurrently(2, func(int) (*scmv1.Credentials, error) {
		return src.Credentials(context.Background(), integration)
	})
	if results[0].err != nil || results[1].err != nil {
		t.Fatalf("errors: %v, %v", results[0].err, results[1].err)
	}
	results[0].creds.AccessToken = "changed"
	if results[1].creds.GetAccessToken() != "access-secret-1" {
		t.Errorf("one caller's change reached another caller")
	}
	if store.Stored(integration).GetAccessToken() != "access-secret-1" {
		t.Errorf("a caller's change reached the store")
	}
}

func countPrefix(log []string, prefix string) int {
	n := 0
	for _, e := range log {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

func TestATransactionalStoreCommitsWhatTheRefreshDecided(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		failure    error
		wantAccess string
		wantMarked bool
	}{
		"refreshed: the new tokens are committed": {wantAccess: "access-secret-1"},
		"refused: the reconnection mark is committed": {
			failure:    scmerr.New(codes.FailedPrecondition, scmerr.ReasonInvalidGrant, "the refresh token is invalid"),
			wantAccess: "access-secret-0",
			wantMarked: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := txStore{MemoryStore: credsource.NewMemoryStore()}
			seed(t, store, integration, oauthCreds("access-secret-0", "refresh-secret-0", 30*time.Second))
			prov := newRotatingProvider("refresh-secret-0")
			prov.failure = tc.failure
			src := credsource.New(store, prov.Refresh, credsource.WithClock(clock))

			got, err := src.Credentials(context.Background(), integration)
			if tc.wantMarked != errors.Is(err, credsource.ErrReconnectRequired) {
				t.Fatalf("Credentials = %v, %v", got, err)
			}
			if !tc.wantMarked && got.GetAccessToken() != tc.wantAccess {
				t.Fatalf("got %q, want %q", got.GetAccessToken(), tc.wantAccess)
			}
			if a := store.Stored(integration).GetAccessToken(); a != tc.wantAccess {
				t.Errorf("stored access %q, want %q", a, tc.wantAccess)
			}
			if _, marked := store.ReconnectReason(integration); marked != tc.wantMarked {
				t.Errorf("marked = %v, want %v", marked, tc.wantMarked)
			}
		})
	}
}
