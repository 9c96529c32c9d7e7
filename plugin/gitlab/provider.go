// Package gitlab is the GitLab SCM provider: everything GitLab-specific that
// an Oore host needs (URLs, scopes, token checks, OAuth endpoints, pagination,
// webhook headers and payloads, clone credentials), served over scm.v1.
//
// The provider keeps no state between calls: every request carries its
// connection (host URL, credentials, TLS settings), so one plugin process
// serves any number of hosts and integrations. It is not a GitLab client
// library: it uses gitlab.com/gitlab-org/api/client-go for that.
package gitlab

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// Name is the provider's route name: /v1/integrations/gitlab, /v1/webhooks/gitlab.
const Name = "gitlab"

// Version is the provider's version; it equals manifests/gitlab.json.
const Version = "0.1.0"

// Provider serves scm.v1 for GitLab.
type Provider struct {
	scmv1.UnimplementedProviderServiceServer
	log hclog.Logger

	// now is the clock (credential expiry classification).
	now func() time.Time
	// transports are the HTTP transports per TLS configuration: the only
	// thing kept between calls, and only to reuse connections.
	transports *transportCache
	// rateLimitWait is the most one RPC waits in total for GitLab's rate
	// limit to reset before it answers ResourceExhausted.
	rateLimitWait time.Duration
	// retryBackoff is the wait before re-sending a GET after a 5xx.
	retryBackoff func(attempt int) time.Duration
	// list tunes ListRepositories.
	list listConfig
}

// Option configures a Provider.
type Option func(*Provider)

// WithLogger sets the provider's logger (default: a null logger).
func WithLogger(l hclog.Logger) Option { return func(p *Provider) { p.log = l } }

// WithClock sets the provider's clock (default time.Now). Tests use it to
// classify credential expiry deterministically.
func WithClock(now func() time.Time) Option { return func(p *Provider) { p.now = now } }

// WithRateLimitWait sets the most one call waits in total for GitLab's rate
// limit to reset before answering ResourceExhausted (default 10s).
func WithRateLimitWait(d time.Duration) Option { return func(p *Provider) { p.rateLimitWait = d } }

// New returns a GitLab provider.
func New(opts ...Option) *Provider {
	p := &Provider{
		log:           hclog.NewNullLogger(),
		now:           time.Now,
		transports:    newTransportCache(maxCachedTransports),
		rateLimitWait: defaultRateLimitWait,
		retryBackoff:  defaultRetryBackoff,
		list:          defaultListConfig(),
	}
	envErr := p.listConfigFromEnv()
	for _, o := range opts {
		o(p)
	}
	if envErr != nil {
		p.log.Warn("ignoring an invalid environment variable", "error", envErr)
	}
	return p
}

// GetProviderInfo answers from constants; it equals the manifest.
func (p *Provider) GetProviderInfo(context.Context, *scmv1.GetProviderInfoRequest) (*scmv1.GetProviderInfoResponse, error) {
	return &scmv1.GetProviderInfoResponse{Info: Info()}, nil
}
