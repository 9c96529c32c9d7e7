package credsource_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/oore-ci/oore-scm-gitlab/shared/credsource"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

func TestMemoryStoreKeepsCopies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := credsource.NewMemoryStore()
	in := oauthCreds("access-secret-0", "refresh-secret-0", time.Hour)
	if err := store.Save(ctx, integration, in); err != nil {
		t.Fatal(err)
	}
	in.AccessToken = "changed after save"
	out, err := store.Load(ctx, integration)
	if err != nil {
		t.Fatal(err)
	}
	if out.GetAccessToken() != "access-secret-0" {
		t.Fatalf("Load = %q: a caller's message is shared with the store", out.GetAccessToken())
	}
	out.RefreshToken = "changed after load"
	if again, _ := store.Load(ctx, integration); again.GetRefreshToken() != "refresh-secret-0" {
		t.Fatalf("a loaded message is shared with the store")
	}
}

func TestMemoryStoreReconnectMark(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := credsource.NewMemoryStore()
	creds := oauthCreds("access-secret-0", "refresh-secret-0", time.Hour)
	if err := store.Save(ctx, integration, creds); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkReconnect(ctx, integration, "the provider refused the refresh token"); err != nil {
		t.Fatal(err)
	}
	_, err := store.Load(ctx, integration)
	if !errors.Is(err, credsource.ErrReconnectRequired) || !strings.Contains(err.Error(), "refused the refresh token") {
		t.Fatalf("Load of a marked integration = %v, want ErrReconnectRequired with the reason", err)
	}
	if reason, marked := store.ReconnectReason(integration); !marked || reason != "the provider refused the refresh token" {
		t.Fatalf("ReconnectReason = %q, %v", reason, marked)
	}
	if got := store.Stored(integration); !proto.Equal(got, creds) {
		t.Fatalf("Stored = %v, want the credentials kept while marked", got)
	}

	// Connecting again saves new credentials and clears the mark.
	if err := store.Save(ctx, integration, oauthCreds("access-secret-9", "refresh-secret-9", time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := store.Load(ctx, integration); err != nil || got.GetAccessToken() != "access-secret-9" {
		t.Fatalf("Load after reconnecting = %v, %v", got, err)
	}
	if _, marked := store.ReconnectReason(integration); marked {
		t.Fatalf("still marked after a save")
	}
}

func TestMemoryStoreUnknownIntegration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := credsource.NewMemoryStore()
	tests := map[string]func() error{
		"load": func() error { _, err := store.Load(ctx, "nope"); return err },
		"lock": func() error {
			return store.WithRefreshLock(ctx, "nope", func(context.Context) error { return nil })
		},
		"mark": func() error { return store.MarkReconnect(ctx, "nope", "why") },
	}
	for name, call := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := call(); !errors.Is(err, credsource.ErrUnknownIntegration) {
				t.Fatalf("err = %v, want ErrUnknownIntegration", err)
			}
		})
	}
	if store.Stored("nope") != nil {
		t.Errorf("Stored of an unknown integration is not nil")
	}
	if err := store.Save(ctx, "nope", nil); err == nil {
		t.Errorf("saving nil credentials succeeded")
	}
}

func TestMemoryStoreLockIsExclusiveAndHonoursTheContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := credsource.NewMemoryStore()
	for _, id := range []string{"a", "b"} {
		if err := store.Save(ctx, id, &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, AccessToken: "glpat-" + id}); err != nil {
			t.Fatal(err)
		}
	}
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- store.WithRefreshLock(ctx, "a", func(context.Context) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held

	// Another integration's lock is independent.
	if err := store.WithRefreshLock(ctx, "b", func(context.Context) error { return nil }); err != nil {
		t.Fatalf("lock b while a is held: %v", err)
	}
	// Waiting for a held lock ends with the context, and fn never runs.
	wctx, cancel := context.WithCancel(ctx)
	waitErr := make(chan error, 1)
	ran := false
	go func() {
		waitErr <- store.WithRefreshLock(wctx, "a", func(context.Context) error { ran = true; return nil })
	}()
	cancel()
	if err := <-waitErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("wait for a held lock = %v, want Canceled", err)
	}
	if ran {
		t.Fatalf("fn ran without the lock")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Released: the lock can be taken again, and fn's error comes back.
	boom := errors.New("boom")
	if err := store.WithRefreshLock(ctx, "a", func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("WithRefreshLock = %v, want fn's error", err)
	}
}
