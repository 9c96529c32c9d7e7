package gitlab

import (
	"context"
	"net/url"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// cloneUsername is the HTTP Basic user name for git over HTTPS. GitLab
// accepts any non-blank name with a personal access token and documents
// "oauth2" for OAuth tokens; one name for both keeps hosts simple.
const cloneUsername = "oauth2"

// maxFullNameLen bounds a project's full path (GitLab allows 255 per
// segment and 20 levels of groups).
const maxFullNameLen = 2048

// checkExternalID validates a GitLab project or hook ID: decimal digits.
func (v *violations) checkExternalID(field, id string, required bool) {
	if id == "" {
		if required {
			v.add(field, "is required")
		}
		return
	}
	if len(id) > 19 || strings.TrimLeft(id, "0123456789") != "" || strings.TrimLeft(id, "0") == "" {
		v.add(field, "must be a GitLab ID (a positive decimal number)")
	}
}

// checkFullName validates a project path such as "group/sub/project": path
// segments of letters, digits, '_', '-' and '.', none of them "." or "..".
func (v *violations) checkFullName(field, name string) {
	if name == "" {
		return
	}
	if len(name) > maxFullNameLen {
		v.add(field, "is too long for a GitLab project path")
		return
	}
	for _, seg := range strings.Split(strings.TrimSuffix(name, ".git"), "/") {
		if seg == "" || seg == "." || seg == ".." || strings.TrimLeft(seg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != "" {
			v.add(field, `must be a GitLab project path such as "group/subgroup/project"`)
			return
		}
	}
}

// GetCloneCredentials returns what git needs to fetch one repository over
// HTTPS: the clone URL on the connection's origin, user name "oauth2" and
// the access token as the password. With full_name the URL is built
// without asking GitLab; otherwise GET /projects/:id gives its path.
//
// The clone URL is always on the connection's origin: GitLab's
// http_url_to_repo follows its configured external_url, which may name
// another host (a proxy, an old name); the token is only ever handed out
// for the host the connection was validated against.
func (p *Provider) GetCloneCredentials(ctx context.Context, req *scmv1.GetCloneCredentialsRequest) (*scmv1.GetCloneCredentialsResponse, error) {
	var v violations
	v.checkExternalID("repository_external_id", req.GetRepositoryExternalId(), req.GetFullName() == "")
	v.checkFullName("full_name", req.GetFullName())
	c, err := p.connect(req.GetConnection(), connectionRequest{}, v)
	if err != nil {
		return nil, err
	}
	path := strings.TrimSuffix(req.GetFullName(), ".git")
	if path == "" {
		proj, resp, err := c.api.Projects.GetProject(req.GetRepositoryExternalId(), nil, gl.WithContext(ctx))
		if err != nil {
			return nil, c.failure(ctx, "read project "+req.GetRepositoryExternalId(), resp, err)
		}
		path = proj.PathWithNamespace
		if u, err := url.Parse(proj.HTTPURLToRepo); err == nil && u.Path != "" {
			path = strings.TrimSuffix(strings.TrimPrefix(u.Path, "/"), ".git")
		}
	}
	return &scmv1.GetCloneCredentialsResponse{
		CloneUrl:  c.origin + "/" + path + ".git",
		Username:  cloneUsername,
		Password:  c.token(),
		ExpiresAt: c.creds.GetExpiresAt(),
	}, nil
}
