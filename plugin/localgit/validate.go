package localgit

import (
	"context"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// ValidateConnection checks that host_url names a readable folder on this
// machine and answers its normalised file:// URL. The account is the
// machine itself: local repositories have no users.
func (p *Provider) ValidateConnection(_ context.Context, req *scmv1.ValidateConnectionRequest) (*scmv1.ValidateConnectionResponse, error) {
	root, err := openRoot(req.GetConnection())
	if err != nil {
		return nil, err
	}
	return &scmv1.ValidateConnectionResponse{
		HostUrl:      rootURL(root),
		Account:      &scmv1.Account{Id: "local", Username: "local", Name: "This machine"},
		Capabilities: capabilities(),
	}, nil
}
