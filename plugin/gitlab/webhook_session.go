package gitlab

import (
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/webhooksession"
)

// WebhookSession serves identify, verify and receive calls over one
// long-lived stream: shared/webhooksession does it over IdentifyWebhook and
// VerifyWebhook, with the secrets the session holds for receive.
func (p *Provider) WebhookSession(stream scmv1.ProviderService_WebhookSessionServer) error {
	return webhooksession.Serve(stream, p, p.log)
}
