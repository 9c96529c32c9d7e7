package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go"
	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// hookSigningTokenPrefix marks a GitLab webhook signing token: deliveries are
// signed (webhook-signature, Standard Webhooks) instead of carrying the
// secret in X-Gitlab-Token.
const hookSigningTokenPrefix = "whsec_"

// hookName is the name GitLab shows for the hooks Oore manages.
const hookName = "Oore CI"

// maxHookPages bounds the hook listing (GitLab.com allows 100 hooks per
// project; 20 pages of 100 is far beyond any instance's limit).
const maxHookPages = 20

// hookOptions is the body of POST and PUT /projects/:id/hooks. client-go's
// options lack signing_token, so the provider sends its own. Every event
// flag is explicit: GitLab turns push_events on when it is left out.
type hookOptions struct {
	URL                       string  `json:"url"`
	Name                      string  `json:"name"`
	Description               string  `json:"description"`
	Token                     *string `json:"token,omitempty"`
	SigningToken              *string `json:"signing_token,omitempty"`
	PushEvents                bool    `json:"push_events"`
	PushEventsBranchFilter    string  `json:"push_events_branch_filter"`
	TagPushEvents             bool    `json:"tag_push_events"`
	MergeRequestsEvents       bool    `json:"merge_requests_events"`
	IssuesEvents              bool    `json:"issues_events"`
	ConfidentialIssuesEvents  bool    `json:"confidential_issues_events"`
	NoteEvents                bool    `json:"note_events"`
	ConfidentialNoteEvents    bool    `json:"confidential_note_events"`
	JobEvents                 bool    `json:"job_events"`
	PipelineEvents            bool    `json:"pipeline_events"`
	WikiPageEvents            bool    `json:"wiki_page_events"`
	DeploymentEvents          bool    `json:"deployment_events"`
	ReleasesEvents            bool    `json:"releases_events"`
	FeatureFlagEvents         bool    `json:"feature_flag_events"`
	ResourceAccessTokenEvents bool    `json:"resource_access_token_events"`
	EnableSSLVerification     bool    `json:"enable_ssl_verification"`
}

// newHookOptions builds the hook from a request. A "whsec_" secret becomes
// the signing token (and any plain token is cleared); another secret is the
// plain X-Gitlab-Token.
func newHookOptions(req *scmv1.EnsureProjectWebhookRequest, events []scmv1.EventKind) *hookOptions {
	o := &hookOptions{
		URL:                   req.GetUrl(),
		Name:                  hookName,
		Description:           "Managed by Oore CI: builds on push, tag push and merge request events.",
		EnableSSLVerification: !req.GetInsecureSkipTlsVerify(),
	}
	secret := req.GetSecret()
	if strings.HasPrefix(secret, hookSigningTokenPrefix) {
		empty := ""
		o.SigningToken, o.Token = &secret, &empty
	} else {
		o.Token = &secret
	}
	for _, e := range events {
		switch e {
		case scmv1.EventKind_EVENT_KIND_PUSH:
			o.PushEvents = true
		case scmv1.EventKind_EVENT_KIND_TAG_PUSH:
			o.TagPushEvents = true
		case scmv1.EventKind_EVENT_KIND_MERGE_REQUEST:
			o.MergeRequestsEvents = true
		}
	}
	return o
}

// checkHookURL validates the URL GitLab delivers to.
func (v *violations) checkHookURL(field, raw string, required bool) {
	if raw == "" {
		if required {
			v.add(field, "is required")
		}
		return
	}
	if len(raw) > maxURLLen {
		v.add(field, fmt.Sprintf("must be at most %d characters", maxURLLen))
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "":
		v.add(field, "must be an absolute http(s) URL, e.g. https://ci.example.com/v1/webhooks/gitlab")
	case u.User != nil:
		v.add(field, "must not contain a user name or password")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		v.add(field, "must not have a fragment (#...)")
	}
}

// hookEvents validates the requested events; none means every event the
// provider normalises (push, tag push, merge request).
func (v *violations) hookEvents(events []scmv1.EventKind) []scmv1.EventKind {
	if len(events) == 0 {
		return []scmv1.EventKind{scmv1.EventKind_EVENT_KIND_PUSH, scmv1.EventKind_EVENT_KIND_TAG_PUSH, scmv1.EventKind_EVENT_KIND_MERGE_REQUEST}
	}
	for _, e := range events {
		switch e {
		case scmv1.EventKind_EVENT_KIND_PUSH, scmv1.EventKind_EVENT_KIND_TAG_PUSH, scmv1.EventKind_EVENT_KIND_MERGE_REQUEST:
		default:
			v.add("events", "may only hold push, tag_push and merge_request")
			return nil
		}
	}
	return events
}

// hookFailure maps a failed hook call: a missing api scope is
// FailedPrecondition (reconnect with api), a 403 otherwise is the role
// (Maintainer manages hooks), and a refused URL is HOOK_URL_REFUSED.
func (c *connection) hookFailure(ctx context.Context, op, project string, resp *gl.Response, err error) error {
	a, ok := answerOf(resp, err)
	if !ok {
		return c.failure(ctx, op, resp, err)
	}
	where := op + " on " + c.origin
	switch {
	case a.status == http.StatusForbidden:
		if _, scope := a.insufficientScope(); scope {
			return scopeMissing(codes.FailedPrecondition, where, ScopeAPI)
		}
		return scmerr.New(codes.PermissionDenied, scmerr.ReasonRoleMissing,
			fmt.Sprintf("Maintainer role required on project %s to manage webhooks (%s)", project, where),
			scmerr.WithMetadata("required_role", "maintainer"))
	case a.status == http.StatusUnprocessableEntity || a.status == http.StatusBadRequest:
		text := strings.ToLower(a.text())
		if strings.Contains(text, "url is blocked") || strings.Contains(text, "invalid url") || strings.Contains(text, "url is invalid") {
			return scmerr.New(codes.FailedPrecondition, scmerr.ReasonHookURLRefused, c.redact(fmt.Sprintf(
				"%s: GitLab refused the webhook URL (%s). Self-managed GitLab blocks webhook URLs on the local network (localhost, 127.0.0.1, private addresses) "+
					"unless an administrator enables \"Allow requests to the local network from webhooks and integrations\" "+
					"(Admin > Settings > Network > Outbound requests) or adds the host to its allowlist; or give Oore a public URL",
				where, a.statusText())))
		}
	}
	return c.failure(ctx, op, resp, err)
}

// findHooks lists the project's hooks and returns those with this URL.
func (c *connection) findHooks(ctx context.Context, project, hookURL string) ([]*gl.ProjectHook, error) {
	var found []*gl.ProjectHook
	opt := &gl.ListProjectHooksOptions{ListOptions: gl.ListOptions{PerPage: 100, Page: 1}}
	for range maxHookPages {
		hooks, resp, err := c.api.Projects.ListProjectHooks(project, opt, gl.WithContext(ctx))
		if err != nil {
			return nil, c.hookFailure(ctx, "list the webhooks of project "+project, project, resp, err)
		}
		for _, h := range hooks {
			if h.URL == hookURL {
				found = append(found, h)
			}
		}
		if resp.NextPage == 0 || len(hooks) == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	return found, nil
}

// hookExists reports whether the project has a hook with this ID.
func (c *connection) hookExists(ctx context.Context, project string, id int64) (bool, error) {
	_, resp, err := c.api.Projects.GetProjectHook(project, id, gl.WithContext(ctx))
	switch {
	case err == nil:
		return true, nil
	case statusOf(resp, err) == http.StatusNotFound:
		return false, nil
	}
	return false, c.hookFailure(ctx, "read webhook "+strconv.FormatInt(id, 10)+" of project "+project, project, resp, err)
}

// sendHook POSTs (id 0) or PUTs a hook and returns its ID.
func (c *connection) sendHook(ctx context.Context, project string, id int64, o *hookOptions) (int64, error) {
	method, path, op := http.MethodPost, "projects/"+gl.PathEscape(project)+"/hooks", "create a webhook on project "+project
	if id != 0 {
		method, path, op = http.MethodPut, path+"/"+strconv.FormatInt(id, 10), "update webhook "+strconv.FormatInt(id, 10)+" of project "+project
	}
	req, err := c.api.NewRequest(method, path, o, []gl.RequestOptionFunc{gl.WithContext(ctx)})
	if err != nil {
		return 0, scmerr.Newf(codes.Internal, scmerr.ReasonInternal, "%s on %s: build request: %v", op, c.origin, err)
	}
	var hook gl.ProjectHook
	resp, err := c.api.Do(req, &hook)
	if err != nil {
		return 0, c.hookFailure(ctx, op, project, resp, err)
	}
	if hook.ID == 0 {
		hook.ID = id
	}
	return hook.ID, nil
}

// EnsureProjectWebhook creates the project's hook for the host, or updates
// it in place: the hook with hook_id when it still exists, else the one
// with the same URL. Needs the api scope and the Maintainer role.
func (p *Provider) EnsureProjectWebhook(ctx context.Context, req *scmv1.EnsureProjectWebhookRequest) (*scmv1.EnsureProjectWebhookResponse, error) {
	var v violations
	v.checkExternalID("repository_external_id", req.GetRepositoryExternalId(), true)
	v.checkHookURL("url", req.GetUrl(), true)
	if s := req.GetSecret(); s == "" {
		v.add("secret", "is required: GitLab sends it with each delivery so the host can tell real ones")
	} else if len(s) > maxSecretLen {
		v.add("secret", fmt.Sprintf("must be at most %d characters", maxSecretLen))
	} else {
		v.checkToken("secret", s, true)
	}
	v.checkExternalID("hook_id", req.GetHookId(), false)
	events := v.hookEvents(req.GetEvents())
	c, err := p.connect(req.GetConnection(), connectionRequest{}, v)
	if err != nil {
		return nil, err
	}
	project := req.GetRepositoryExternalId()
	opts := newHookOptions(req, events)

	var id int64
	if req.GetHookId() != "" {
		known, _ := strconv.ParseInt(req.GetHookId(), 10, 64)
		exists, err := c.hookExists(ctx, project, known)
		if err != nil {
			return nil, err
		}
		if exists {
			id = known
		}
	}
	if id == 0 {
		same, err := c.findHooks(ctx, project, req.GetUrl())
		if err != nil {
			return nil, err
		}
		if len(same) > 0 {
			id = same[0].ID
		}
	}
	got, err := c.sendHook(ctx, project, id, opts)
	if err != nil {
		return nil, err
	}
	return &scmv1.EnsureProjectWebhookResponse{HookId: strconv.FormatInt(got, 10), Created: id == 0}, nil
}

// DeleteProjectWebhook removes the host's hook: by hook_id, else every
// hook with the URL. A hook that is already gone is success (deleted=false).
func (p *Provider) DeleteProjectWebhook(ctx context.Context, req *scmv1.DeleteProjectWebhookRequest) (*scmv1.DeleteProjectWebhookResponse, error) {
	var v violations
	v.checkExternalID("repository_external_id", req.GetRepositoryExternalId(), true)
	v.checkExternalID("hook_id", req.GetHookId(), false)
	v.checkHookURL("url", req.GetUrl(), false)
	if req.GetHookId() == "" && req.GetUrl() == "" {
		v.add("hook_id", "is required when url is empty")
	}
	c, err := p.connect(req.GetConnection(), connectionRequest{}, v)
	if err != nil {
		return nil, err
	}
	project := req.GetRepositoryExternalId()
	var ids []int64
	if req.GetHookId() != "" {
		id, _ := strconv.ParseInt(req.GetHookId(), 10, 64)
		ids = append(ids, id)
	} else {
		same, err := c.findHooks(ctx, project, req.GetUrl())
		if err != nil {
			return nil, err
		}
		for _, h := range same {
			ids = append(ids, h.ID)
		}
	}
	deleted := false
	for _, id := range ids {
		resp, err := c.api.Projects.DeleteProjectHook(project, id, gl.WithContext(ctx))
		switch {
		case err == nil:
			deleted = true
		case errors.Is(err, gl.ErrNotFound) || statusOf(resp, err) == http.StatusNotFound:
			// Already gone (or the project is): nothing to do.
		default:
			return nil, c.hookFailure(ctx, "delete webhook "+strconv.FormatInt(id, 10)+" of project "+project, project, resp, err)
		}
	}
	return &scmv1.DeleteProjectWebhookResponse{Deleted: deleted}, nil
}
