package conformance

import (
	"context"
	"errors"
	"time"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// ErrUnsupported is what a Backend returns (wrapped or not) for a fixture it
// cannot provide, e.g. revoked credentials for local repositories, which
// have none. The cases that need the fixture are then skipped, and the
// report says why: a provider is only as conformant as its backend lets the
// suite check.
var ErrUnsupported = errors.New("the backend cannot provide this fixture")

// Backend is what a provider author implements over their own SCM
// simulator or test instance, so the suite can call the provider with real
// connections and check its answers against the truth. Every method may be
// called more than once and from several goroutines; a Backend should
// create its fixtures once and answer the same ones again. Fixtures that
// need cleaning up are the Backend's to clean when its owner closes it.
type Backend interface {
	// Connection is a working connection with a token (or, for local
	// providers, without one) and the repositories it can build.
	Connection(ctx context.Context) (*TokenConnection, error)

	// RejectedConnection is a connection to the same host whose credentials
	// the SCM refuses: a revoked or unknown token.
	RejectedConnection(ctx context.Context) (*scmv1.Connection, error)

	// Webhook is a repository and a genuine webhook delivery for it, with
	// the secret the host would verify it with.
	Webhook(ctx context.Context) (*Webhook, error)

	// OAuthApp is an OAuth application registered at the SCM, and a way to
	// approve an authorization request as a signed-in user.
	OAuthApp(ctx context.Context) (*OAuthApp, error)

	// LargeConnection is a connection that can see about n repositories (a
	// backend that can seed fewer returns what it can; its Repositories say
	// how many). The suite lists it to check that the plugin's memory stays
	// bounded.
	LargeConnection(ctx context.Context, n int) (*TokenConnection, error)
}

// SlowBackend is implemented by backends that can delay their answers, so
// the suite can check that a provider honours deadlines and cancellation:
// that it abandons its calls to the SCM when the host gives up.
type SlowBackend interface {
	Backend
	// SetLatency delays every API answer by d; 0 turns the delay off.
	SetLatency(d time.Duration)
	// InFlight is how many API requests the backend is answering right now.
	InFlight() int
}

// TokenConnection is a working connection and what the SCM knows about it.
type TokenConnection struct {
	// Connection is sent as is with every call.
	Connection *scmv1.Connection

	// Account is the account the connection acts as. Its Id and Username,
	// when set, must equal what ValidateConnection answers. Nil: not checked.
	Account *scmv1.Account

	// Repositories are what ListRepositories must stream for a request with
	// only this connection (default filters): compared by ExternalId, with
	// FullName checked when set. The order does not matter.
	Repositories []*scmv1.Repository

	// Maintained is the external id of a repository on which the account may
	// create webhooks and set commit statuses. Empty: those cases skip.
	Maintained string

	// CommitSHA is a commit of Maintained, for commit statuses.
	CommitSHA string

	// HookURL is where project webhooks the suite creates point. Empty: a
	// URL under https://oore-conformance.example.com.
	HookURL string
}

// Webhook is a genuine delivery and what the suite needs to tamper with it.
type Webhook struct {
	// RepositoryExternalID is the repository the delivery is about.
	RepositoryExternalID string

	// Secret is that repository's webhook secret, as the host stores it.
	Secret string

	// Delivery is a genuine delivery of an event the provider normalises
	// (a push), authenticated with Secret. Header names are lower case.
	Delivery *scmv1.WebhookDelivery

	// Kind is the event kind Delivery normalises to.
	Kind scmv1.EventKind

	// Forged is a delivery for the same repository authenticated with
	// another secret: what someone who does not know Secret can send.
	Forged *scmv1.WebhookDelivery

	// Unhandled is a genuine delivery, authenticated with Secret, of an event
	// the provider recognises but does not normalise (GitLab: a Note Hook).
	// Nil: that case skips.
	Unhandled *scmv1.WebhookDelivery

	// OtherRepositoryExternalID is another repository's external id, for the
	// case where the payload names a different repository than the host asks.
	OtherRepositoryExternalID string
}

// OAuthApp is an OAuth application registered at the SCM.
type OAuthApp struct {
	// HostURL is the SCM the application is registered at.
	HostURL string

	// TLS is sent with the connection, for SCMs behind a private CA.
	TLS *scmv1.TLSSettings

	// Client is the application: id, secret and registered redirect URI.
	Client *scmv1.OAuthClient

	// Scopes are requested in BeginOAuth; nil asks for the provider's defaults.
	Scopes []string

	// Authorize plays the user: it opens authorizeURL in the SCM as a
	// signed-in user who approves, and returns the code and state the SCM
	// sends to the redirect URI.
	Authorize func(ctx context.Context, authorizeURL string) (code, state string, err error)
}
