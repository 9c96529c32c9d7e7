package conformance

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// projectCases: EnsureProjectWebhook, DeleteProjectWebhook, SetCommitStatus.
func projectCases() []testCase {
	hooks := []scmv1.Capability{scmv1.Capability_CAPABILITY_PROJECT_WEBHOOKS}
	status := []scmv1.Capability{scmv1.Capability_CAPABILITY_COMMIT_STATUS}
	return []testCase{
		{name: "project_webhooks/ensure-is-idempotent", needs: hooks, run: caseHookIdempotent},
		{name: "project_webhooks/bad-input", needs: hooks, run: caseHookBadInput},
		{name: "commit_status/set", needs: status, run: caseStatusSet},
		{name: "commit_status/bad-input", needs: status, run: caseStatusBadInput},
	}
}

// maintained is the connection's repository the account manages, or a skip.
func (c *C) maintained() *TokenConnection {
	tc := c.conn()
	if tc.Maintained == "" {
		c.Skipf("the backend's connection names no repository the account maintains (TokenConnection.Maintained)")
	}
	return tc
}

func hookURL(c *C, tc *TokenConnection) string {
	if tc.HookURL != "" {
		return tc.HookURL
	}
	return "https://oore-conformance.example.com/v1/webhooks/" + c.s.manifest.Name + "/" + randomHex(4)
}

// caseHookIdempotent: Ensure creates a webhook once; Ensure again (by URL,
// then by id) finds the same one; Delete removes it once and then answers
// deleted = false. The webhook is deleted when the case ends, whatever happens.
func caseHookIdempotent(c *C) {
	tc := c.maintained()
	secret := "hook-" + randomHex(16)
	c.s.secrets.add("a project webhook secret", secret)
	url := hookURL(c, tc)
	ensure := func(hookID string) (*scmv1.EnsureProjectWebhookResponse, error) {
		return c.s.client.EnsureProjectWebhook(c.ctx, &scmv1.EnsureProjectWebhookRequest{
			Connection: tc.Connection, RepositoryExternalId: tc.Maintained, Url: url, Secret: secret,
			Events: c.s.info.GetEventKinds(), HookId: hookID,
		})
	}
	first, err := ensure("")
	if !c.ok("EnsureProjectWebhook", err) {
		return
	}
	c.cleanMsg("EnsureProjectWebhook's answer", first)
	c.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), c.s.cfg.CaseTimeout)
		defer cancel()
		_, _ = c.s.client.DeleteProjectWebhook(ctx, &scmv1.DeleteProjectWebhookRequest{Connection: tc.Connection, RepositoryExternalId: tc.Maintained, HookId: first.GetHookId(), Url: url})
	})
	if first.GetHookId() == "" || !first.GetCreated() {
		c.Errorf("the first EnsureProjectWebhook answered hook id %q, created %v; want an id and created = true", first.GetHookId(), first.GetCreated())
	}
	for _, byID := range []string{"", first.GetHookId()} {
		again, err := ensure(byID)
		what := "EnsureProjectWebhook again by URL"
		if byID != "" {
			what = "EnsureProjectWebhook again by hook id"
		}
		if c.ok(what, err) && (again.GetHookId() != first.GetHookId() || again.GetCreated()) {
			c.Errorf("%s answered hook id %q, created %v; want %q, created = false", what, again.GetHookId(), again.GetCreated(), first.GetHookId())
		}
	}
	del := func() (*scmv1.DeleteProjectWebhookResponse, error) {
		return c.s.client.DeleteProjectWebhook(c.ctx, &scmv1.DeleteProjectWebhookRequest{Connection: tc.Connection, RepositoryExternalId: tc.Maintained, HookId: first.GetHookId(), Url: url})
	}
	if gone, err := del(); c.ok("DeleteProjectWebhook", err) && !gone.GetDeleted() {
		c.Errorf("DeleteProjectWebhook of an existing webhook answered deleted = false")
	}
	if gone, err := del(); c.ok("DeleteProjectWebhook of a webhook already gone", err) && gone.GetDeleted() {
		c.Errorf("DeleteProjectWebhook of a webhook already gone answered deleted = true")
	}
}

// caseHookBadInput: missing or malformed fields are InvalidArgument.
func caseHookBadInput(c *C) {
	tc := c.maintained()
	secret := "hook-" + randomHex(16)
	c.s.secrets.add("a project webhook secret", secret)
	base := func() *scmv1.EnsureProjectWebhookRequest {
		return &scmv1.EnsureProjectWebhookRequest{Connection: tc.Connection, RepositoryExternalId: tc.Maintained, Url: hookURL(c, tc), Secret: secret, Events: c.s.info.GetEventKinds()}
	}
	variants := map[string]func(r *scmv1.EnsureProjectWebhookRequest){
		"no connection":           func(r *scmv1.EnsureProjectWebhookRequest) { r.Connection = nil },
		"no repository id":        func(r *scmv1.EnsureProjectWebhookRequest) { r.RepositoryExternalId = "" },
		"no URL":                  func(r *scmv1.EnsureProjectWebhookRequest) { r.Url = "" },
		"a URL that is not a URL": func(r *scmv1.EnsureProjectWebhookRequest) { r.Url = "not a url" },
		"a 1 MiB URL": func(r *scmv1.EnsureProjectWebhookRequest) {
			r.Url = "https://example.com/" + strings.Repeat("p", oversized)
		},
		"a URL with a bad IPv6 host": func(r *scmv1.EnsureProjectWebhookRequest) { r.Url = "https://[::1/hook" },
	}
	for name, mutate := range sortedMap(variants) {
		req := base()
		mutate(req)
		_, err := c.s.client.EnsureProjectWebhook(c.ctx, req)
		c.code("EnsureProjectWebhook with "+name, err, codes.InvalidArgument)
	}
	_, err := c.s.client.DeleteProjectWebhook(c.ctx, &scmv1.DeleteProjectWebhookRequest{Connection: tc.Connection, RepositoryExternalId: tc.Maintained})
	c.code("DeleteProjectWebhook with neither a hook id nor a URL", err, codes.InvalidArgument)
}

// caseStatusSet: a running, then a successful status is set on the commit.
func caseStatusSet(c *C) {
	tc := c.maintained()
	if tc.CommitSHA == "" {
		c.Skipf("the backend's connection names no commit (TokenConnection.CommitSHA)")
	}
	for _, st := range []scmv1.CommitState{scmv1.CommitState_COMMIT_STATE_RUNNING, scmv1.CommitState_COMMIT_STATE_SUCCESS} {
		resp, err := c.s.client.SetCommitStatus(c.ctx, &scmv1.SetCommitStatusRequest{
			Connection: tc.Connection, RepositoryExternalId: tc.Maintained, Sha: tc.CommitSHA, State: st,
			Context: "oore/conformance", Description: "conformance suite", TargetUrl: "https://oore-conformance.example.com/builds/1",
		})
		if c.ok("SetCommitStatus "+st.String(), err) {
			c.cleanMsg("SetCommitStatus' answer", resp)
			if resp.GetStatusId() == "" {
				c.Errorf("SetCommitStatus %s answered no status id", st)
			}
		}
	}
}

// caseStatusBadInput: missing or malformed fields are InvalidArgument.
func caseStatusBadInput(c *C) {
	tc := c.maintained()
	sha := tc.CommitSHA
	if sha == "" {
		sha = strings.Repeat("a", 40)
	}
	base := func() *scmv1.SetCommitStatusRequest {
		return &scmv1.SetCommitStatusRequest{Connection: tc.Connection, RepositoryExternalId: tc.Maintained, Sha: sha,
			State: scmv1.CommitState_COMMIT_STATE_PENDING, Context: "oore/conformance"}
	}
	variants := map[string]func(r *scmv1.SetCommitStatusRequest){
		"no connection":                func(r *scmv1.SetCommitStatusRequest) { r.Connection = nil },
		"no repository id":             func(r *scmv1.SetCommitStatusRequest) { r.RepositoryExternalId = "" },
		"no sha":                       func(r *scmv1.SetCommitStatusRequest) { r.Sha = "" },
		"a sha that is not hex":        func(r *scmv1.SetCommitStatusRequest) { r.Sha = "not-a-sha" },
		"no state":                     func(r *scmv1.SetCommitStatusRequest) { r.State = scmv1.CommitState_COMMIT_STATE_UNSPECIFIED },
		"a 1 MiB description":          func(r *scmv1.SetCommitStatusRequest) { r.Description = strings.Repeat("d", oversized) },
		"a target URL that is not one": func(r *scmv1.SetCommitStatusRequest) { r.TargetUrl = "not a url" },
	}
	for name, mutate := range sortedMap(variants) {
		req := base()
		mutate(req)
		_, err := c.s.client.SetCommitStatus(c.ctx, req)
		c.code("SetCommitStatus with "+name, err, codes.InvalidArgument)
	}
}
