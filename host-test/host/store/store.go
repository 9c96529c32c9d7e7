// Package store is the reference host's persistence: API tokens, integrations
// and their encrypted credentials, installations, repositories and their
// encrypted webhook secrets, one-time OAuth states, refresh locks, webhook
// deliveries with their build triggers, and audit events.
//
// Store is the one interface the host uses. The implementation in this
// package runs on database/sql with portable SQL (ON CONFLICT, RETURNING,
// LOWER(..) LIKE, Unix-second integers) so that SQLite (embedded, the
// default) and PostgreSQL differ only in their dialect and migrations. Every
// piece of state that more than one host process must agree on (one-time OAuth
// states, delivery dedupe, refresh locks) lives in the database, never in
// memory.
//
// Secrets never reach the database in clear: credentials, webhook secrets and
// OAuth verifiers are sealed with the host's keyring (AES-256-GCM, AAD bound
// to the row and purpose), and API tokens are stored as SHA-256 hashes.
package store

import (
	"context"
	"errors"
)

// Errors the store answers with.
var (
	// ErrNotFound: no row with that id (or it was deleted).
	ErrNotFound = errors.New("not found")
	// ErrActiveBuilds: the integration has a running build trigger; it cannot
	// be deleted until the build ends.
	ErrActiveBuilds = errors.New("integration has active builds")
	// ErrExpired: the OAuth state exists but expired; it was consumed anyway.
	ErrExpired = errors.New("expired")
	// ErrLockNotHeld: the refresh lock was not held by this holder any more
	// (it expired and another process took it). Nothing was written.
	ErrLockNotHeld = errors.New("refresh lock not held")
	// ErrConflict: a row with the same unique key exists.
	ErrConflict = errors.New("already exists")
)

// Store is everything the host keeps. All methods are safe for concurrent
// use, and every method that changes more than one row does so in one
// transaction.
type Store interface {
	// CreateAPIToken stores a new token (its hash only). ErrConflict when the
	// hash or id exists.
	CreateAPIToken(ctx context.Context, t APIToken) error
	// EnsureAPIToken stores t unless a token with its hash exists (bootstrap).
	EnsureAPIToken(ctx context.Context, t APIToken) error
	// APITokenByHash finds a token by the SHA-256 of its secret.
	APITokenByHash(ctx context.Context, hash []byte) (APIToken, error)

	// CreateIntegration stores a new integration with its credentials.
	CreateIntegration(ctx context.Context, in Integration, creds Credentials) error
	// GetIntegration reads one integration (never its credentials).
	GetIntegration(ctx context.Context, id string) (Integration, error)
	// ListIntegrations pages through integrations.
	ListIntegrations(ctx context.Context, q IntegrationQuery) (IntegrationPage, error)
	// IntegrationCounts counts an integration's installations and repositories.
	IntegrationCounts(ctx context.Context, id string) (installations, repositories int64, err error)
	// ConnectIntegration records the account and credentials an integration
	// acts with and turns it active: after a token check or an OAuth callback.
	ConnectIntegration(ctx context.Context, id string, c Connection) error
	// SetIntegrationStatus changes the status (e.g. "error" after a rejected
	// token check, "active" after a good one) and records why.
	SetIntegrationStatus(ctx context.Context, id, status, reason string) error
	// SetTokenExpiresAt records when the access token expires (Unix
	// seconds, 0 = never), as a credentials check found it: a personal
	// token's expiry can change at the provider after it was connected.
	SetTokenExpiresAt(ctx context.Context, id string, expiresAt int64) error
	// LoadCredentials decrypts an integration's credentials. version grows
	// with every change, so a refresher can tell another one's work from stale data.
	LoadCredentials(ctx context.Context, id string) (creds Credentials, version int64, err error)
	// DeleteIntegration removes an integration, its credentials, installations,
	// repositories, webhook secrets, OAuth states and refresh lock in one
	// transaction. ErrActiveBuilds while one of its build triggers runs.
	DeleteIntegration(ctx context.Context, id string) error

	// AcquireRefreshLock takes the integration's refresh lock for holder
	// until ttlSeconds from now, unless another holder has it and it has not
	// expired. It reports whether holder now has it.
	AcquireRefreshLock(ctx context.Context, integrationID, holder string, ttlSeconds int64) (bool, error)
	// ReleaseRefreshLock gives the lock up (no-op when holder does not have it).
	ReleaseRefreshLock(ctx context.Context, integrationID, holder string) error
	// SaveRefreshedCredentials stores both new tokens in one statement, checked
	// in the same transaction that holder still holds the lock, and clears a
	// reconnection mark. ErrLockNotHeld when holder lost the lock meanwhile
	// (nothing is written then). The lock stays held.
	SaveRefreshedCredentials(ctx context.Context, integrationID, holder string, creds Credentials) error
	// MarkReconnectRequired flags the integration (status "error",
	// reconnect_required, reason) after a refresh failed for good.
	MarkReconnectRequired(ctx context.Context, integrationID, reason string) error

	// UpsertInstallation creates or updates the installation with the same
	// (integration, external id) and returns it.
	UpsertInstallation(ctx context.Context, in Installation) (Installation, error)
	// ListInstallations lists an integration's installations.
	ListInstallations(ctx context.Context, integrationID string) ([]Installation, error)
	// BeginRepositorySync starts a sync and returns its generation.
	BeginRepositorySync(ctx context.Context, integrationID string) (int64, error)
	// UpsertRepositories writes one batch of a sync in one transaction.
	UpsertRepositories(ctx context.Context, integrationID, installationID string, generation int64, repos []Repository) error
	// FinishRepositorySync removes the integration's repositories that the
	// sync of this generation (and no later one) did not see.
	FinishRepositorySync(ctx context.Context, integrationID string, generation int64) (removed int64, err error)
	// ListRepositories pages through repositories, of one integration or all.
	ListRepositories(ctx context.Context, q RepositoryQuery) ([]Repository, int64, error)
	// GetRepository reads one repository.
	GetRepository(ctx context.Context, id string) (Repository, error)
	// SetWebhookSecret stores (encrypted) a repository's new webhook secret;
	// the previous one stops working at once.
	SetWebhookSecret(ctx context.Context, repositoryID, secret string, rotatedAt int64) error
	// WebhookTargets finds the repositories of a provider with that external
	// id that have a webhook secret, with the secret decrypted.
	WebhookTargets(ctx context.Context, provider, externalID string) ([]WebhookTarget, error)

	// CreateOAuthState stores a pending authorization.
	CreateOAuthState(ctx context.Context, st OAuthState) error
	// ConsumeOAuthState deletes and returns the state: it works once.
	// ErrNotFound when unknown or already used, ErrExpired when too old.
	ConsumeOAuthState(ctx context.Context, id string) (OAuthState, error)

	// RecordDelivery stores an authenticated delivery and its build triggers
	// in one transaction, unless the integration already has a delivery with
	// the same delivery id: then nothing is written and duplicate is true. It
	// moves the integration's last_webhook_at only when that is at least
	// LastWebhookStaleness behind, so deliveries of one integration do not
	// queue on its row; ErrNotFound when the integration is gone.
	RecordDelivery(ctx context.Context, d Delivery, triggers []BuildTrigger) (duplicate bool, err error)
	// ListDeliveries pages through deliveries, newest first, with their triggers.
	ListDeliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, int64, error)
	// CountDeliveries counts stored deliveries (tests, metrics).
	CountDeliveries(ctx context.Context) (int64, error)
	// SetBuildTriggerStatus changes a trigger's status ("queued", "running", ...).
	SetBuildTriggerStatus(ctx context.Context, id, status string) error

	// RecordAudit appends an audit event.
	RecordAudit(ctx context.Context, e AuditEvent) error

	// Ping checks the database answers.
	Ping(ctx context.Context) error
	// Close closes the database.
	Close() error
}
