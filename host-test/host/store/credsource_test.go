package store_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/shared/credsource"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// twoHosts opens the same database twice, as two host processes would.
func twoHosts(t *testing.T, now func() time.Time) (*store.SQL, *store.SQL) {
	t.Helper()
	dir := t.TempDir()
	kr, _ := secrets.New(bytes.Repeat([]byte{9}, 32))
	var out []*store.SQL
	for range 2 {
		s, err := store.OpenSQLite(context.Background(), dir, kr, store.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out[0], out[1]
}

func oauthIntegration(t *testing.T, s store.Store, expiresAt int64) {
	t.Helper()
	in := store.Integration{ID: "i1", Provider: "gitlab", HostURL: "https://gitlab.example.com", AuthMode: "oauth_app", Status: store.StatusActive, CreatedBy: "t"}
	err := s.CreateIntegration(context.Background(), in, store.Credentials{AccessToken: "at-0", RefreshToken: "rt-0", ExpiresAt: expiresAt,
		ClientID: "cid", ClientSecret: "gloas-x", RedirectURI: "http://127.0.0.1:8787/v1/integrations/gitlab/callback"})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCredentialStoreOneRefreshAcrossProcesses(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	a, b := twoHosts(t, func() time.Time { return now })
	oauthIntegration(t, a, now.Add(30*time.Second).Unix()) // inside the 60 s skew

	var calls atomic.Int32
	release := make(chan struct{})
	refresh := func(ctx context.Context, c *scmv1.Credentials) (*scmv1.Credentials, error) {
		calls.Add(1)
		if c.GetRefreshToken() != "rt-0" || c.GetOauthClient().GetClientSecret() != "gloas-x" {
			t.Errorf("refresh got %v", c)
		}
		<-release
		return &scmv1.Credentials{AccessToken: "at-1", RefreshToken: "rt-1", ExpiresAt: now.Add(2 * time.Hour).Unix()}, nil
	}
	srcA := credsource.New(store.NewCredentialStore(a, 0), refresh, credsource.WithClock(func() time.Time { return now }))
	srcB := credsource.New(store.NewCredentialStore(b, 0), refresh, credsource.WithClock(func() time.Time { return now }))

	var wg sync.WaitGroup
	results := make(chan *scmv1.Credentials, 20)
	for i := range 20 {
		src := srcA
		if i%2 == 1 {
			src = srcB
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := src.Credentials(context.Background(), "i1")
			if err != nil {
				t.Error(err)
				return
			}
			results <- c
		}()
	}
	// Both processes' flights are waiting: one holds the lease, one polls.
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(results)
	for c := range results {
		if c.GetAccessToken() != "at-1" {
			t.Fatalf("a caller got %q, want the refreshed token", c.GetAccessToken())
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("refresh called %d times across two processes, want 1", n)
	}
	stored, _, _ := b.LoadCredentials(context.Background(), "i1")
	if stored.RefreshToken != "rt-1" || stored.ClientSecret != "gloas-x" {
		t.Fatalf("stored after refresh: refresh %q, client secret kept %v", stored.RefreshToken, stored.ClientSecret == "gloas-x")
	}
}

func TestCredentialStoreRefusedGrantMarksReconnect(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	a, _ := twoHosts(t, func() time.Time { return now })
	oauthIntegration(t, a, now.Add(-time.Minute).Unix())
	var calls atomic.Int32
	refresh := func(ctx context.Context, c *scmv1.Credentials) (*scmv1.Credentials, error) {
		calls.Add(1)
		return nil, scmerr.New(codes.FailedPrecondition, scmerr.ReasonInvalidGrant, "invalid_grant")
	}
	src := credsource.New(store.NewCredentialStore(a, 0), refresh, credsource.WithClock(func() time.Time { return now }))
	for range 3 {
		if _, err := src.Credentials(context.Background(), "i1"); !errors.Is(err, credsource.ErrReconnectRequired) {
			t.Fatalf("Credentials = %v, want ErrReconnectRequired", err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("a refused grant was tried %d times", calls.Load())
	}
	in, _ := a.GetIntegration(context.Background(), "i1")
	if !in.ReconnectRequired || in.Status != store.StatusError || in.StatusReason == "" {
		t.Fatalf("integration after refused refresh: %+v", in)
	}
	if _, err := store.NewCredentialStore(a, 0).Load(context.Background(), "nope"); !errors.Is(err, credsource.ErrUnknownIntegration) {
		t.Fatalf("unknown integration: %v", err)
	}
}

func TestCredentialStoreSaveNeedsTheLock(t *testing.T) {
	t.Parallel()
	a, _ := twoHosts(t, time.Now)
	oauthIntegration(t, a, 0)
	cs := store.NewCredentialStore(a, 0)
	if err := cs.Save(context.Background(), "i1", &scmv1.Credentials{AccessToken: "x"}); err == nil {
		t.Fatal("Save outside WithRefreshLock succeeded")
	}
	err := cs.WithRefreshLock(context.Background(), "i1", func(ctx context.Context) error {
		return cs.Save(ctx, "i1", &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_OAUTH_APP, AccessToken: "y", RefreshToken: "z"})
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cs.Load(context.Background(), "i1")
	if err != nil || got.GetAccessToken() != "y" || got.GetAuthMode() != scmv1.AuthMode_AUTH_MODE_OAUTH_APP {
		t.Fatalf("Load = %v, %v", got, err)
	}
	// A context that ends while the lock is held elsewhere stops the wait.
	held := make(chan struct{})
	done := make(chan struct{})
	go func() {
		_ = cs.WithRefreshLock(context.Background(), "i1", func(ctx context.Context) error {
			close(held)
			<-done
			return nil
		})
	}()
	<-held
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := cs.WithRefreshLock(ctx, "i1", func(context.Context) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for a held lock = %v, want DeadlineExceeded", err)
	}
	close(done)
}
