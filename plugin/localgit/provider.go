// Package localgit is a read-only SCM provider over git repositories on the
// host's own file system (Oore's auth mode local_path). It is the smallest
// provider that passes host-test's conformance suite, and the example that
// docs/writing-a-provider.md walks through.
//
// A connection's host_url is a file:// URL of a folder (the root), for
// example file:///srv/git. Every git repository under the root is a
// repository of the connection: a folder holding .git (a working copy) or a
// bare repository (HEAD, objects/ and refs/). A repository's external id is
// its path relative to the root ("team/app" or "mirrors/lib.git"); its clone
// URL is a file:// URL with an empty username and password.
//
// It is not a git implementation: it only recognises repositories by their
// layout and reads HEAD for the default branch. It keeps no state between
// calls; webhooks, OAuth and commit statuses are not served (Unimplemented).
package localgit

import (
	"context"

	"github.com/hashicorp/go-hclog"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// Name is the provider's route name: /v1/integrations/localgit.
const Name = "localgit"

// Version is the provider's version; it equals manifests/localgit.json.
const Version = "0.1.0"

// Provider serves scm.v1 for local git repositories.
type Provider struct {
	scmv1.UnimplementedProviderServiceServer
	log hclog.Logger
}

// Option configures a Provider.
type Option func(*Provider)

// WithLogger sets the provider's logger (default: a null logger).
func WithLogger(l hclog.Logger) Option { return func(p *Provider) { p.log = l } }

// New returns a local git provider.
func New(opts ...Option) *Provider {
	p := &Provider{log: hclog.NewNullLogger()}
	for _, o := range opts {
		o(p)
	}
	return p
}

// GetProviderInfo answers from constants; it equals the manifest.
func (p *Provider) GetProviderInfo(context.Context, *scmv1.GetProviderInfoRequest) (*scmv1.GetProviderInfoResponse, error) {
	return &scmv1.GetProviderInfoResponse{Info: Info()}, nil
}
