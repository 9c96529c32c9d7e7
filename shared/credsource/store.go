package credsource

import (
	"context"
	"errors"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// Errors a Source or a Store answers with. Each says what fixes its cause.
var (
	// ErrReconnectRequired: the integration's grant is gone (the provider
	// refused the refresh token or the OAuth client, or answered without a new
	// refresh token). Only the user can fix it, by connecting again. Oore
	// answers 409 gitlab_reconnect_required.
	ErrReconnectRequired = errors.New("the integration must be reconnected: its OAuth grant is no longer usable")
	// ErrNotRefreshable: the credentials cannot be refreshed (a personal
	// token). The user must replace the token.
	ErrNotRefreshable = errors.New("the credentials cannot be refreshed; replace the token")
	// ErrUnknownIntegration: the store holds no credentials for the
	// integration. Connect it first.
	ErrUnknownIntegration = errors.New("no credentials are stored for the integration")
	// ErrCredentialsNotSaved: the provider issued new credentials but the
	// store keeps refusing them, and the Source can no longer hand out the
	// access token it holds (it expired, or the provider refused it). The
	// grant is intact and kept in memory while the Source retries the save:
	// fix the store (database reachable, disk space); do not reconnect.
	ErrCredentialsNotSaved = errors.New("the refreshed credentials could not be saved yet; they are kept and the save is retried: fix the store")
)

// Store is what a host implements over its database. Every method may be
// called concurrently, for the same integration too.
type Store interface {
	// Load returns the integration's current credentials, decrypted. When the
	// integration is marked for reconnection it returns an error wrapping
	// ErrReconnectRequired (and may return nil credentials); an unknown
	// integration is an error wrapping ErrUnknownIntegration.
	//
	// A flag in the error rather than a second result keeps one rule for the
	// caller: any error means "no usable credentials".
	Load(ctx context.Context, integrationID string) (*scmv1.Credentials, error)

	// WithRefreshLock runs fn while holding the integration's refresh lock,
	// and returns fn's error. The lock must hold across every process that
	// shares the store (a row lock held by a transaction, an advisory lock);
	// waiting for it must end when ctx is done. Inside fn the Source loads the
	// credentials again (another host may have refreshed meanwhile), and calls
	// Save or MarkReconnect, always with the context fn was given, so a store
	// may carry its transaction in that context. fn returns an error only
	// when one of those store calls failed (a refused refresh that was marked
	// for reconnection returns nil), so a store may roll back when fn fails
	// and must commit what fn wrote when it succeeds. A commit error must be
	// returned: the Source hands out new credentials only after
	// WithRefreshLock returned nil.
	WithRefreshLock(ctx context.Context, integrationID string, fn func(ctx context.Context) error) error

	// Save stores new credentials atomically: access token, refresh token and
	// expiry in one transaction. It also clears a reconnection mark.
	//
	// When it fails (or WithRefreshLock reports a failed commit) after a
	// refresh, the Source keeps the new credentials and calls Save again,
	// each time inside a WithRefreshLock and after a Load, until it
	// succeeds; so an error that may have been committed after all (a lost
	// commit acknowledgement) is harmless.
	Save(ctx context.Context, integrationID string, creds *scmv1.Credentials) error

	// MarkReconnect flags the integration as needing the user to reconnect.
	// reason says why, in words for a person; it never holds a secret.
	MarkReconnect(ctx context.Context, integrationID string, reason string) error
}

// RefreshFunc trades creds (with their refresh token and OAuth client) for
// new credentials, e.g. by calling the plugin's RefreshCredentials with the
// integration's host URL and TLS settings. It is called at most once per
// refresh and never retried by the Source. It must return the provider's
// error as is (an scm.v1 status), so a refused grant is recognised by its
// reason.
type RefreshFunc func(ctx context.Context, creds *scmv1.Credentials) (*scmv1.Credentials, error)
