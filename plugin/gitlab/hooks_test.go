package gitlab_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

const hookURL = "http://127.0.0.1:8787/v1/webhooks/gitlab"

var (
	pushAndMR = []scmv1.EventKind{scmv1.EventKind_EVENT_KIND_PUSH, scmv1.EventKind_EVENT_KIND_MERGE_REQUEST}
	allEvents = []scmv1.EventKind{scmv1.EventKind_EVENT_KIND_PUSH, scmv1.EventKind_EVENT_KIND_TAG_PUSH, scmv1.EventKind_EVENT_KIND_MERGE_REQUEST}
)

func ensureReq(hostURL, token string, project int64, secret string, events []scmv1.EventKind) *scmv1.EnsureProjectWebhookRequest {
	return &scmv1.EnsureProjectWebhookRequest{
		Connection: patConn(hostURL, token), RepositoryExternalId: strconv.FormatInt(project, 10),
		Url: hookURL, Secret: secret, Events: events,
	}
}

// onlyHook returns the project's single hook, failing when there are more.
func onlyHook(t *testing.T, sim *gitlabsim.Server, project int64) gitlabsim.ProjectHook {
	t.Helper()
	hooks := sim.Hooks(project)
	if len(hooks) != 1 {
		t.Fatalf("project %d has %d hooks, want 1", project, len(hooks))
	}
	return hooks[0]
}

// otherEventsOff reports which events beyond push, tag push and merge
// request a hook would deliver.
func otherEventsOn(h gitlabsim.ProjectHook) []string {
	var on []string
	for name, v := range map[string]bool{
		"note": h.NoteEvents, "confidential_note": h.ConfidentialNoteEvents, "issues": h.IssuesEvents,
		"confidential_issues": h.ConfidentialIssuesEvents, "job": h.JobEvents, "pipeline": h.PipelineEvents,
		"wiki_page": h.WikiPageEvents, "deployment": h.DeploymentEvents, "releases": h.ReleasesEvents,
		"feature_flag": h.FeatureFlagEvents, "resource_access_token": h.ResourceAccessTokenEvents,
	} {
		if v {
			on = append(on, name)
		}
	}
	return on
}

func TestEnsureProjectWebhook(t *testing.T) {
	t.Parallel()
	sim, demo := demoSim(t)
	plugin := gitlabPlugin(t)
	ctx := context.Background()
	app := demo.FlutterApp.ID

	// Create.
	first, err := plugin.EnsureProjectWebhook(ctx, ensureReq(sim.URL, demo.Token, app, "plain-secret-1", pushAndMR))
	if err != nil {
		t.Fatal(err)
	}
	h := onlyHook(t, sim, app)
	if !first.GetCreated() || first.GetHookId() != strconv.FormatInt(h.ID, 10) {
		t.Fatalf("got %v, hook %d", first, h.ID)
	}
	if h.URL != hookURL || h.Token != "plain-secret-1" || h.SigningToken != "" || !h.PushEvents || !h.MergeRequestsEvents || h.TagPushEvents ||
		!h.EnableSSLVerification || len(otherEventsOn(h)) > 0 {
		t.Fatalf("hook %+v", h)
	}
	if strings.Contains(first.String(), "plain-secret-1") {
		t.Fatal("the response holds the secret")
	}

	// Again, with other settings: updated in place, not duplicated.
	req := ensureReq(sim.URL, demo.Token, app, "plain-secret-2", allEvents)
	req.InsecureSkipTlsVerify = true
	second, err := plugin.EnsureProjectWebhook(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	h = onlyHook(t, sim, app)
	if second.GetCreated() || second.GetHookId() != first.GetHookId() {
		t.Fatalf("second call: %v (first %v)", second, first)
	}
	if h.Token != "plain-secret-2" || !h.TagPushEvents || h.EnableSSLVerification {
		t.Fatalf("hook not updated: %+v", h)
	}

	// A signing token ("whsec_...") replaces the plain token.
	signing := gitlabsim.NewSigningToken()
	if _, err := plugin.EnsureProjectWebhook(ctx, ensureReq(sim.URL, demo.Token, app, signing, allEvents)); err != nil {
		t.Fatal(err)
	}
	if h = onlyHook(t, sim, app); h.SigningToken != signing || h.Token != "" {
		t.Fatalf("signing token not set: token %q, signing %q", h.Token, h.SigningToken)
	}

	// By hook_id: the stored hook is updated even when the URL moved.
	moved := ensureReq(sim.URL, demo.Token, app, "plain-secret-3", allEvents)
	moved.Url = "https://ci.example.com/v1/webhooks/gitlab"
	moved.HookId = first.GetHookId()
	third, err := plugin.EnsureProjectWebhook(ctx, moved)
	if err != nil {
		t.Fatal(err)
	}
	if h = onlyHook(t, sim, app); third.GetCreated() || third.GetHookId() != first.GetHookId() || h.URL != moved.Url || h.Token != "plain-secret-3" {
		t.Fatalf("update by id: %v, hook %+v", third, h)
	}
	// A stale hook_id falls back to the URL, here creating a new hook.
	stale := ensureReq(sim.URL, demo.Token, demo.Playground.ID, "plain-secret-4", nil)
	stale.HookId = "987654"
	fresh, err := plugin.EnsureProjectWebhook(ctx, stale)
	if err != nil || !fresh.GetCreated() {
		t.Fatalf("stale hook id: %v, %v", fresh, err)
	}
	if h = onlyHook(t, sim, demo.Playground.ID); !h.PushEvents || !h.TagPushEvents || !h.MergeRequestsEvents {
		t.Fatalf("no events asked: want push, tag push and merge request; got %+v", h)
	}
}

func TestEnsureProjectWebhookTurnsOtherEventsOff(t *testing.T) {
	t.Parallel()
	sim, demo := demoSim(t)
	// A hook someone made by hand for the same URL, delivering everything.
	if _, err := sim.AddHook(demo.Website.ID, gitlabsim.ProjectHook{URL: hookURL, PushEvents: true, NoteEvents: true, PipelineEvents: true,
		JobEvents: true, IssuesEvents: true, ReleasesEvents: true, WikiPageEvents: true, PushEventsBranchFilter: "main"}); err != nil {
		t.Fatal(err)
	}
	resp, err := gitlabPlugin(t).EnsureProjectWebhook(context.Background(), ensureReq(sim.URL, demo.Token, demo.Website.ID, "s3cret", pushAndMR))
	if err != nil || resp.GetCreated() {
		t.Fatalf("got %v, %v; want the existing hook updated", resp, err)
	}
	h := onlyHook(t, sim, demo.Website.ID)
	if on := otherEventsOn(h); len(on) > 0 || h.PushEventsBranchFilter != "" {
		t.Fatalf("still delivers %v (branch filter %q)", on, h.PushEventsBranchFilter)
	}
}

func TestEnsureProjectWebhookRefusals(t *testing.T) {
	t.Parallel()
	sim, demo := demoSim(t)
	plugin := gitlabPlugin(t)
	ctx := context.Background()
	blocked, blockedDemo := demoSim(t)
	blocked.SetAllowLocalRequests(false)

	tests := map[string]struct {
		req    *scmv1.EnsureProjectWebhookRequest
		code   codes.Code
		reason scmerr.Reason
		meta   map[string]string
		says   string
	}{
		"Reporter": {
			req:  ensureReq(sim.URL, demo.Token, demo.DesignSystem.ID, "s3cret", nil),
			code: codes.PermissionDenied, reason: scmerr.ReasonRoleMissing, meta: map[string]string{"required_role": "maintainer"},
			says: "Maintainer role required on project " + strconv.FormatInt(demo.DesignSystem.ID, 10),
		},
		"Developer": {
			req:  ensureReq(sim.URL, demo.OtherToken, demo.FlutterApp.ID, "s3cret", nil),
			code: codes.PermissionDenied, reason: scmerr.ReasonRoleMissing, meta: map[string]string{"required_role": "maintainer"},
			says: "Maintainer role required",
		},
		"read_api token": {
			req:  ensureReq(sim.URL, demo.ReadOnlyToken, demo.FlutterApp.ID, "s3cret", nil),
			code: codes.FailedPrecondition, reason: scmerr.ReasonScopeMissing, meta: map[string]string{"missing_scopes": "api"},
			says: "scope api",
		},
		"local URL blocked by GitLab": {
			req:  ensureReq(blocked.URL, blockedDemo.Token, blockedDemo.FlutterApp.ID, "s3cret", nil),
			code: codes.FailedPrecondition, reason: scmerr.ReasonHookURLRefused,
			says: "Allow requests to the local network from webhooks and integrations",
		},
		"unknown project": {
			req:  ensureReq(sim.URL, demo.Token, 999999, "s3cret", nil),
			code: codes.NotFound, reason: scmerr.ReasonNotFound,
		},
		"no secret": {
			req:  ensureReq(sim.URL, demo.Token, demo.FlutterApp.ID, "", nil),
			code: codes.InvalidArgument, reason: scmerr.ReasonInvalidInput, says: "secret",
		},
		"other events": {
			req:  ensureReq(sim.URL, demo.Token, demo.FlutterApp.ID, "s3cret", []scmv1.EventKind{scmv1.EventKind_EVENT_KIND_OTHER}),
			code: codes.InvalidArgument, reason: scmerr.ReasonInvalidInput, says: "events",
		},
		"bad URL": {
			req: func() *scmv1.EnsureProjectWebhookRequest {
				r := ensureReq(sim.URL, demo.Token, demo.FlutterApp.ID, "s3cret", nil)
				r.Url = "ftp://ci.example.com/hook"
				return r
			}(),
			code: codes.InvalidArgument, reason: scmerr.ReasonInvalidInput, says: "url",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := plugin.EnsureProjectWebhook(ctx, tc.req)
			d := wantErr(t, err, tc.code, tc.reason, "s3cret", tc.req.GetConnection().GetCredentials().GetAccessToken())
			for k, v := range tc.meta {
				if d.Metadata[k] != v {
					t.Errorf("metadata %s = %q, want %q", k, d.Metadata[k], v)
				}
			}
			if !strings.Contains(d.Message, tc.says) {
				t.Errorf("message %q does not say %q", d.Message, tc.says)
			}
		})
	}
	for _, p := range []int64{demo.DesignSystem.ID, demo.FlutterApp.ID, blockedDemo.FlutterApp.ID} {
		if n := len(sim.Hooks(p)) + len(blocked.Hooks(p)); n != 0 {
			t.Fatalf("a refused call left %d hooks on project %d", n, p)
		}
	}
}

func TestDeleteProjectWebhook(t *testing.T) {
	t.Parallel()
	sim, demo := demoSim(t)
	plugin := gitlabPlugin(t)
	ctx := context.Background()
	app := strconv.FormatInt(demo.FlutterApp.ID, 10)
	del := func(hookID, url string) (*scmv1.DeleteProjectWebhookResponse, error) {
		return plugin.DeleteProjectWebhook(ctx, &scmv1.DeleteProjectWebhookRequest{
			Connection: patConn(sim.URL, demo.Token), RepositoryExternalId: app, HookId: hookID, Url: url,
		})
	}

	created, err := plugin.EnsureProjectWebhook(ctx, ensureReq(sim.URL, demo.Token, demo.FlutterApp.ID, "s3cret", nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := del(created.GetHookId(), ""); err != nil || !resp.GetDeleted() || len(sim.Hooks(demo.FlutterApp.ID)) != 0 {
		t.Fatalf("delete by id: %v, %v", resp, err)
	}
	if resp, err := del(created.GetHookId(), ""); err != nil || resp.GetDeleted() {
		t.Fatalf("deleting again: %v, %v; want success with deleted=false", resp, err)
	}

	if _, err := plugin.EnsureProjectWebhook(ctx, ensureReq(sim.URL, demo.Token, demo.FlutterApp.ID, "s3cret", nil)); err != nil {
		t.Fatal(err)
	}
	if resp, err := del("", hookURL); err != nil || !resp.GetDeleted() || len(sim.Hooks(demo.FlutterApp.ID)) != 0 {
		t.Fatalf("delete by URL: %v, %v", resp, err)
	}
	if resp, err := del("", hookURL); err != nil || resp.GetDeleted() {
		t.Fatalf("deleting by URL again: %v, %v", resp, err)
	}

	_, err = del("", "")
	wantErr(t, err, codes.InvalidArgument, scmerr.ReasonInvalidInput)
	_, err = plugin.DeleteProjectWebhook(ctx, &scmv1.DeleteProjectWebhookRequest{
		Connection: patConn(sim.URL, demo.Token), RepositoryExternalId: strconv.FormatInt(demo.DesignSystem.ID, 10), Url: hookURL,
	})
	wantErr(t, err, codes.PermissionDenied, scmerr.ReasonRoleMissing, demo.Token)
}
