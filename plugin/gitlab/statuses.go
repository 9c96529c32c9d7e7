package gitlab

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	gl "gitlab.com/gitlab-org/api/client-go"
	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// commitStates maps the contract's states onto GitLab's commit status states.
var commitStates = map[scmv1.CommitState]gl.BuildStateValue{
	scmv1.CommitState_COMMIT_STATE_PENDING:  gl.Pending,
	scmv1.CommitState_COMMIT_STATE_RUNNING:  gl.Running,
	scmv1.CommitState_COMMIT_STATE_SUCCESS:  gl.Success,
	scmv1.CommitState_COMMIT_STATE_FAILED:   gl.Failed,
	scmv1.CommitState_COMMIT_STATE_CANCELED: gl.Canceled,
}

// Bounds of a commit status (GitLab keeps names and refs to 255 characters).
const (
	maxStatusNameLen = 255
	maxRefLen        = 255
)

// statusFailure maps a refused status: GitLab answers 400 to a state change
// its state machine does not allow (e.g. running after running), which is
// INVALID_TRANSITION and must not be retried; 403 is the scope or the role
// (Developer reports statuses).
func (c *connection) statusFailure(ctx context.Context, op, project string, resp *gl.Response, err error) error {
	a, ok := answerOf(resp, err)
	if !ok {
		return c.failure(ctx, op, resp, err)
	}
	where := op + " on " + c.origin
	switch a.status {
	case http.StatusBadRequest:
		return scmerr.New(codes.FailedPrecondition, scmerr.ReasonInvalidTransition,
			c.redact(fmt.Sprintf("%s: GitLab refused the state change (%s); report the next state of the build instead", where, a.statusText())))
	case http.StatusForbidden:
		if _, scope := a.insufficientScope(); scope {
			return scopeMissing(codes.FailedPrecondition, where, ScopeAPI)
		}
		return scmerr.New(codes.PermissionDenied, scmerr.ReasonRoleMissing,
			fmt.Sprintf("Developer role required on project %s to report commit statuses (%s)", project, where),
			scmerr.WithMetadata("required_role", "developer"))
	}
	return c.failure(ctx, op, resp, err)
}

// SetCommitStatus reports a build's state on a commit: POST
// /projects/:id/statuses/:sha with the state, name (the request's context),
// description, target URL and ref. GitLab updates the newest pending or
// running status of that name and ref, or starts a new one.
func (p *Provider) SetCommitStatus(ctx context.Context, req *scmv1.SetCommitStatusRequest) (*scmv1.SetCommitStatusResponse, error) {
	var v violations
	v.checkExternalID("repository_external_id", req.GetRepositoryExternalId(), true)
	v.check("sha", req.GetSha(), "required,hexadecimal,min=7,max=64")
	state, ok := commitStates[req.GetState()]
	if !ok {
		v.add("state", "must be pending, running, success, failed or canceled")
	}
	v.check("context", req.GetContext(), fmt.Sprintf("required,max=%d", maxStatusNameLen))
	v.check("description", req.GetDescription(), fmt.Sprintf("max=%d", maxTextLen))
	v.check("ref", req.GetRef(), fmt.Sprintf("max=%d", maxRefLen))
	if u := req.GetTargetUrl(); u != "" {
		v.checkHookURL("target_url", u, false)
	}
	c, err := p.connect(req.GetConnection(), connectionRequest{}, v)
	if err != nil {
		return nil, err
	}
	opt := &gl.SetCommitStatusOptions{State: state, Name: gl.Ptr(req.GetContext())}
	if d := req.GetDescription(); d != "" {
		opt.Description = gl.Ptr(d)
	}
	if u := req.GetTargetUrl(); u != "" {
		opt.TargetURL = gl.Ptr(u)
	}
	if r := req.GetRef(); r != "" {
		opt.Ref = gl.Ptr(r)
	}
	project := req.GetRepositoryExternalId()
	st, resp, err := c.api.Commits.SetCommitStatus(project, req.GetSha(), opt, gl.WithContext(ctx))
	if err != nil {
		return nil, c.statusFailure(ctx, "set the "+string(state)+" status of commit "+req.GetSha()+" in project "+project, project, resp, err)
	}
	return &scmv1.SetCommitStatusResponse{StatusId: strconv.FormatInt(st.ID, 10)}, nil
}
