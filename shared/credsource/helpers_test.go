package credsource_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/oore-ci/oore-scm-gitlab/shared/credsource"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// t0 is the fixed "now" of the unit tests.
var t0 = time.Unix(1_800_000_000, 0)

func clock() time.Time { return t0 }

// oauthCreds are stored OAuth credentials expiring in expiresIn from t0.
func oauthCreds(access, refresh string, expiresIn time.Duration) *scmv1.Credentials {
	return &scmv1.Credentials{
		AuthMode:     scmv1.AuthMode_AUTH_MODE_OAUTH_APP,
		AccessToken:  access,
		RefreshToken: refresh,
		ExpiresAt:    t0.Add(expiresIn).Unix(),
		OauthClient:  &scmv1.OAuthClient{ClientId: "client-id", ClientSecret: "client-secret-value", RedirectUri: "http://127.0.0.1:8787/cb"},
	}
}

// rotatingProvider stands in for the plugin in unit tests: like GitLab, it
// accepts only the newest refresh token and rotates it on every refresh.
type rotatingProvider struct {
	calls atomic.Int64
	// release, when set, holds every refresh until it is closed.
	release chan struct{}
	// started is closed when the first refresh begins (when set).
	started chan struct{}
	once    sync.Once

	mu       sync.Mutex
	valid    string // the refresh token the provider accepts
	n        int
	failure  error // returned instead of rotating, when set
	failOnce error // returned by the next refresh only, when set
	answer   func(in *scmv1.Credentials) *scmv1.Credentials
}

func newRotatingProvider(validRefresh string) *rotatingProvider {
	return &rotatingProvider{valid: validRefresh}
}

func (p *rotatingProvider) Refresh(ctx context.Context, in *scmv1.Credentials) (*scmv1.Credentials, error) {
	p.calls.Add(1)
	if p.started != nil {
		p.once.Do(func() { close(p.started) })
	}
	if p.release != nil {
		select {
		case <-p.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failure != nil {
		return nil, p.failure
	}
	if err := p.failOnce; err != nil {
		p.failOnce = nil
		return nil, err
	}
	if p.answer != nil {
		return p.answer(in), nil
	}
	if in.GetRefreshToken() != p.valid {
		return nil, scmerr.New(codes.FailedPrecondition, scmerr.ReasonInvalidGrant, "the refresh token is invalid, used or expired; reconnect the integration")
	}
	p.n++
	p.valid = fmt.Sprintf("refresh-secret-%d", p.n)
	return &scmv1.Credentials{
		AuthMode:     scmv1.AuthMode_AUTH_MODE_OAUTH_APP,
		AccessToken:  fmt.Sprintf("access-secret-%d", p.n),
		RefreshToken: p.valid,
		ExpiresAt:    t0.Add(2 * time.Hour).Unix(),
		// Like the GitLab plugin, the answer names the client without its secret.
		OauthClient: &scmv1.OAuthClient{ClientId: in.GetOauthClient().GetClientId(), RedirectUri: in.GetOauthClient().GetRedirectUri()},
	}, nil
}

// withoutExpiry is creds with an unknown expiry.
func withoutExpiry(creds *scmv1.Credentials) *scmv1.Credentials {
	creds.ExpiresAt = 0
	return creds
}

// recordingStore is a MemoryStore that counts calls and logs, in order,
// every save and (through got) every credential a caller received.
type recordingStore struct {
	*credsource.MemoryStore

	loads, lockAttempts, locks, saves, marks atomic.Int64
	// commitErr, when set, is returned by WithRefreshLock after fn
	// succeeded, like a database whose commit failed.
	commitErr error
	// afterLoad, when set, runs after every Load (set it before use).
	afterLoad func(ctx context.Context)

	mu     sync.Mutex
	events []string
}

func newRecordingStore() *recordingStore {
	return &recordingStore{MemoryStore: credsource.NewMemoryStore()}
}

func (r *recordingStore) record(event string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event)
}

func (r *recordingStore) log() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

// got records that a caller received creds.
func (r *recordingStore) got(creds *scmv1.Credentials) { r.record("got " + creds.GetAccessToken()) }

func (r *recordingStore) Load(ctx context.Context, id string) (*scmv1.Credentials, error) {
	r.loads.Add(1)
	creds, err := r.MemoryStore.Load(ctx, id)
	if r.afterLoad != nil {
		r.afterLoad(ctx)
	}
	return creds, err
}

func (r *recordingStore) WithRefreshLock(ctx context.Context, id string, fn func(context.Context) error) error {
	r.lockAttempts.Add(1)
	return r.MemoryStore.WithRefreshLock(ctx, id, func(ctx context.Context) error {
		r.locks.Add(1)
		if err := fn(ctx); err != nil {
			return err
		}
		return r.commitErr
	})
}

func (r *recordingStore) Save(ctx context.Context, id string, creds *scmv1.Credentials) error {
	r.saves.Add(1)
	if err := r.MemoryStore.Save(ctx, id, creds); err != nil {
		return err
	}
	r.record("save " + creds.GetAccessToken())
	return nil
}

func (r *recordingStore) MarkReconnect(ctx context.Context, id, reason string) error {
	r.marks.Add(1)
	return r.MemoryStore.MarkReconnect(ctx, id, reason)
}

// seed stores creds for id.
func seed(t *testing.T, s credsource.Store, id string, creds *scmv1.Credentials) {
	t.Helper()
	if err := s.Save(context.Background(), id, creds); err != nil {
		t.Fatalf("seed %s: %v", id, err)
	}
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// result is one caller's answer.
type result struct {
	creds *scmv1.Credentials
	err   error
}

// concurrently runs n calls of fn at once and returns their answers.
func concurrently(n int, fn func(i int) (*scmv1.Credentials, error)) []result {
	out := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i].creds, out[i].err = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// assertNoSecret fails when err's text holds any of the secrets.
func assertNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q holds a secret", err)
		}
	}
}

// txStore is a MemoryStore that behaves like a database transaction around
// the refresh lock: Save and MarkReconnect called inside fn take effect only
// when fn returns nil (commit), and are dropped when it fails (rollback).
type txStore struct {
	*credsource.MemoryStore
	// failCommits, when set, is how many commits fail next: what fn wrote
	// is rolled back and WithRefreshLock returns the commit's error.
	failCommits *atomic.Int64
}

type txKey struct{}

type tx struct{ ops []func() error }

func (s txStore) WithRefreshLock(ctx context.Context, id string, fn func(context.Context) error) error {
	return s.MemoryStore.WithRefreshLock(ctx, id, func(ctx context.Context) error {
		t := &tx{}
		if err := fn(context.WithValue(ctx, txKey{}, t)); err != nil {
			return err // rolled back
		}
		if s.failCommits != nil && s.failCommits.Add(-1) >= 0 {
			return errors.New("commit: could not serialize access due to concurrent update")
		}
		for _, op := range t.ops {
			if err := op(); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s txStore) Save(ctx context.Context, id string, creds *scmv1.Credentials) error {
	if t, ok := ctx.Value(txKey{}).(*tx); ok {
		c := proto.CloneOf(creds)
		t.ops = append(t.ops, func() error { return s.MemoryStore.Save(context.Background(), id, c) })
		return nil
	}
	return s.MemoryStore.Save(ctx, id, creds)
}

func (s txStore) MarkReconnect(ctx context.Context, id, reason string) error {
	if t, ok := ctx.Value(txKey{}).(*tx); ok {
		t.ops = append(t.ops, func() error { return s.MemoryStore.MarkReconnect(context.Background(), id, reason) })
		return nil
	}
	return s.MemoryStore.MarkReconnect(ctx, id, reason)
}

// flakyStore is a recordingStore whose Save fails, like a database that is
// briefly unreachable or out of disk, for the next failSaves calls (all of
// them while failSaves is negative). Everything else works.
type flakyStore struct {
	*recordingStore

	saveAttempts atomic.Int64
	mu           sync.Mutex
	failSaves    int
}

// errDiskFull is the flaky store's save error.
var errDiskFull = errors.New("could not extend file: No space left on device")

func newFlakyStore(under *credsource.MemoryStore) *flakyStore {
	return &flakyStore{recordingStore: &recordingStore{MemoryStore: under}}
}

// failNextSaves makes the next n saves fail (every save until told otherwise
// when n is negative; none when 0).
func (f *flakyStore) failNextSaves(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failSaves = n
}

func (f *flakyStore) Save(ctx context.Context, id string, creds *scmv1.Credentials) error {
	f.saveAttempts.Add(1)
	f.mu.Lock()
	fail := f.failSaves != 0
	if f.failSaves > 0 {
		f.failSaves--
	}
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("update integration %s: %w", id, errDiskFull)
	}
	return f.recordingStore.Save(ctx, id, creds)
}

// testClock is a clock tests move.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: t0} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fastRetry makes a Source retry failed saves within milliseconds.
var fastRetry = credsource.WithSaveRetry(time.Millisecond, 10*time.Millisecond)
