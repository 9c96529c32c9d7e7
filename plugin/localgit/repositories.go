package localgit

import (
	"fmt"
	"path"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// Page sizes: the default, and the most a host may ask for.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// ListRepositories streams every repository under the connection's root in
// path order, a page per message, while it walks: memory stays bounded by
// one page whatever the number of repositories. Cancelling the stream stops
// the walk.
func (p *Provider) ListRepositories(req *scmv1.ListRepositoriesRequest, stream grpc.ServerStreamingServer[scmv1.ListRepositoriesResponse]) error {
	ctx := stream.Context()
	if err := scmerr.Validate(scmerr.Check{Field: "search", Value: req.GetSearch(), Tag: "max=256"}); err != nil {
		return err
	}
	root, err := openRoot(req.GetConnection())
	if err != nil {
		return err
	}
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	began, listed := time.Now(), 0
	search := strings.ToLower(req.GetSearch())
	page := make([]*scmv1.Repository, 0, size)
	flush := func() error {
		if len(page) == 0 {
			return nil
		}
		if err := stream.Send(&scmv1.ListRepositoriesResponse{Repositories: page}); err != nil {
			return err
		}
		page = make([]*scmv1.Repository, 0, size)
		return nil
	}
	err = walk(ctx, root, func(r repository) error {
		if search != "" && !strings.Contains(strings.ToLower(r.fullName()), search) {
			return nil
		}
		page = append(page, toRepository(r))
		listed++
		if len(page) == size {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	switch {
	case err == nil:
		p.log.Debug("listed repositories", "root", root, "count", listed, "took", time.Since(began))
		return nil
	case ctx.Err() != nil:
		// The host cancelled or its deadline passed: say which.
		return status.FromContextError(ctx.Err()).Err()
	default:
		if _, isStatus := status.FromError(err); isStatus {
			return err // a failed Send already carries its status
		}
		return scmerr.New(codes.Unavailable, scmerr.ReasonUnreachable, fmt.Sprintf("list repositories under %s: %v", root, err))
	}
}

// toRepository describes a local repository in the contract's terms. Local
// repositories are private to the machine, and its user may do anything.
func toRepository(r repository) *scmv1.Repository {
	full := r.fullName()
	ns, name := path.Split(full)
	return &scmv1.Repository{
		ExternalId:    r.id,
		FullName:      full,
		Name:          name,
		Namespace:     strings.TrimSuffix(ns, "/"),
		DefaultBranch: r.defaultBranch(),
		Private:       true,
		Visibility:    "private",
		CloneUrl:      rootURL(r.dir),
		AccessLevel:   scmv1.AccessLevel_ACCESS_LEVEL_ADMIN,
	}
}
