package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/shared/credsource"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

// CredentialStore is a Store seen as a credsource.Store: the host's
// credential source (OAuth refresh) reads and writes integrations through it.
// Its refresh lock is a lease row in the database (refresh_locks), so it
// holds across every host process that shares the database without holding
// a write transaction open during the provider call.
type CredentialStore struct {
	s Store
	// lease is how long a lock holder may keep the lock before another
	// process may take it (a holder that died frees it this way).
	lease time.Duration
	// pollMin and pollMax bound the wait between attempts to take a held lock.
	pollMin, pollMax time.Duration
}

var _ credsource.Store = (*CredentialStore)(nil)

// NewCredentialStore adapts s. lease must outlast one refresh (the source's
// refresh timeout, 30 s by default); zero means 90 s.
func NewCredentialStore(s Store, lease time.Duration) *CredentialStore {
	if lease <= 0 {
		lease = 90 * time.Second
	}
	return &CredentialStore{s: s, lease: lease, pollMin: 5 * time.Millisecond, pollMax: 200 * time.Millisecond}
}

type holderKey struct{}

// Load returns the integration's credentials as scm.v1 credentials.
func (c *CredentialStore) Load(ctx context.Context, integrationID string) (*scmv1.Credentials, error) {
	in, err := c.s.GetIntegration(ctx, integrationID)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("load credentials of integration %s: %w", integrationID, credsource.ErrUnknownIntegration)
	}
	if err != nil {
		return nil, err
	}
	if in.ReconnectRequired {
		return nil, fmt.Errorf("load credentials of integration %s (%s): %w", integrationID, in.StatusReason, credsource.ErrReconnectRequired)
	}
	creds, _, err := c.s.LoadCredentials(ctx, integrationID)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("load credentials of integration %s: %w", integrationID, credsource.ErrUnknownIntegration)
	}
	if err != nil {
		return nil, err
	}
	mode, _ := manifest.ParseAuthMode(in.AuthMode)
	return ToProto(mode, creds), nil
}

// WithRefreshLock takes the integration's lease, runs fn, and gives it up.
func (c *CredentialStore) WithRefreshLock(ctx context.Context, integrationID string, fn func(ctx context.Context) error) error {
	holder := secrets.RandomToken("lock-", 12)
	wait := c.pollMin
	for {
		ok, err := c.s.AcquireRefreshLock(ctx, integrationID, holder, int64(c.lease/time.Second))
		if err != nil {
			return err
		}
		if ok {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for the refresh lock of integration %s: %w", integrationID, ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, c.pollMax)
	}
	defer func() {
		// Release even when ctx ended: the lease must not outlive fn needlessly.
		_ = c.s.ReleaseRefreshLock(context.WithoutCancel(ctx), integrationID, holder)
	}()
	return fn(context.WithValue(ctx, holderKey{}, holder))
}

// Save stores refreshed credentials; it must run inside WithRefreshLock.
func (c *CredentialStore) Save(ctx context.Context, integrationID string, creds *scmv1.Credentials) error {
	holder, _ := ctx.Value(holderKey{}).(string)
	if holder == "" {
		return fmt.Errorf("save credentials of integration %s: called outside its refresh lock", integrationID)
	}
	return c.s.SaveRefreshedCredentials(ctx, integrationID, holder, FromProto(creds))
}

// MarkReconnect flags the integration for reconnection.
func (c *CredentialStore) MarkReconnect(ctx context.Context, integrationID string, reason string) error {
	return c.s.MarkReconnectRequired(ctx, integrationID, reason)
}

// ToProto turns stored credentials into scm.v1 credentials.
func ToProto(mode scmv1.AuthMode, c Credentials) *scmv1.Credentials {
	out := &scmv1.Credentials{AuthMode: mode, AccessToken: c.AccessToken, ExpiresAt: c.ExpiresAt, RefreshToken: c.RefreshToken}
	if c.ClientID != "" || c.ClientSecret != "" || c.RedirectURI != "" {
		out.OauthClient = &scmv1.OAuthClient{ClientId: c.ClientID, ClientSecret: c.ClientSecret, RedirectUri: c.RedirectURI}
	}
	return out
}

// FromProto turns scm.v1 credentials into stored credentials.
func FromProto(c *scmv1.Credentials) Credentials {
	return Credentials{
		AccessToken:  c.GetAccessToken(),
		RefreshToken: c.GetRefreshToken(),
		ExpiresAt:    c.GetExpiresAt(),
		ClientID:     c.GetOauthClient().GetClientId(),
		ClientSecret: c.GetOauthClient().GetClientSecret(),
		RedirectURI:  c.GetOauthClient().GetRedirectUri(),
	}
}
