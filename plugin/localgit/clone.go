package localgit

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// GetCloneCredentials answers the repository's file:// URL. git needs no
// username or password to read from disk, so both are empty.
func (p *Provider) GetCloneCredentials(_ context.Context, req *scmv1.GetCloneCredentialsRequest) (*scmv1.GetCloneCredentialsResponse, error) {
	if err := scmerr.Validate(scmerr.Check{Field: "repository_external_id", Value: req.GetRepositoryExternalId(), Tag: fmt.Sprintf("required,max=%d", maxURLLength)}); err != nil {
		return nil, err
	}
	root, err := openRoot(req.GetConnection())
	if err != nil {
		return nil, err
	}
	repo, ok, err := lookup(root, req.GetRepositoryExternalId())
	if err != nil {
		return nil, scmerr.InvalidArgument(scmerr.FieldViolation{Field: "repository_external_id", Description: err.Error()})
	}
	if !ok {
		return nil, scmerr.Newf(codes.NotFound, scmerr.ReasonNotFound, "no git repository %q under %s", req.GetRepositoryExternalId(), root)
	}
	return &scmv1.GetCloneCredentialsResponse{CloneUrl: rootURL(repo.dir)}, nil
}
