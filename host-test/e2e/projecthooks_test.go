package e2e

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host"
)

// The host registers its own webhook on a GitLab project (the real plugin,
// the simulator standing in for GitLab), the simulator pushes to it, and the
// host reports the build's commit status back.

// projectWebhook is the host's answer to a registration.
type projectWebhook struct {
	RepositoryID string `json:"repository_id"`
	HookID       string `json:"hook_id"`
	WebhookURL   string `json:"webhook_url"`
	Created      bool   `json:"created"`
	SecretType   string `json:"secret_type"`
}

// registerHook registers the host's webhook on a repository and checks the
// answer names the hook and never the secret.
func (e *env) registerHook(repositoryID, query string) projectWebhook {
	e.t.Helper()
	r := e.do("POST", "/v1/integration-repositories/"+repositoryID+"/gitlab-webhook"+query, e.owner, nil)
	if r.Status != 200 {
		e.t.Fatalf("register webhook: %d %s", r.Status, r.Body)
	}
	var out projectWebhook
	r.Decode(e.t, &out)
	if out.RepositoryID != repositoryID || out.HookID == "" || out.WebhookURL != e.base+"/v1/webhooks/gitlab" {
		e.t.Fatalf("register webhook answered %s", r.Body)
	}
	if strings.Contains(string(r.Body), "secret\":\"") || strings.Contains(string(r.Body), "whsec_") {
		e.t.Fatalf("register webhook answer holds a secret: %s", r.Body)
	}
	return out
}

// onlyHook is the project's single hook in the simulator.
func (e *env) onlyHook(projectID int64) gitlabsim.ProjectHook {
	e.t.Helper()
	hooks := e.sim.Hooks(projectID)
	if len(hooks) != 1 {
		e.t.Fatalf("project %d has %d hooks in the simulator, want 1: %+v", projectID, len(hooks), hooks)
	}
	return hooks[0]
}

// triggerPush makes GitLab push to every hook of the project and checks
// that each delivery was accepted.
func (e *env) triggerPush(projectID int64, branch string, wantStatus int) {
	e.t.Helper()
	res, err := e.sim.TriggerPush(context.Background(), projectID, branch)
	if err != nil {
		e.t.Fatalf("trigger push: %v", err)
	}
	if len(res) == 0 {
		e.t.Fatal("the push reached no hook")
	}
	for _, r := range res {
		if r.Status != wantStatus {
			e.t.Fatalf("push delivered to hook %d: %d %s, want %d", r.HookID, r.Status, r.Body, wantStatus)
		}
	}
}

// statusDelivery is a delivery as /v1/webhook-deliveries lists it, with
// the host's id and its builds' status.
type statusDelivery struct {
	ID         string `json:"id"`
	DeliveryID string `json:"delivery_id"`
	Builds     []struct {
		ID     string `json:"id"`
		Branch string `json:"branch"`
		SHA    string `json:"sha"`
		Status string `json:"status"`
	} `json:"builds"`
}

// newestDelivery is the newest delivery the host stored.
func (e *env) newestDelivery() statusDelivery {
	e.t.Helper()
	r := e.do("GET", "/v1/webhook-deliveries?limit=1", e.owner, nil)
	var out struct {
		Deliveries []statusDelivery `json:"deliveries"`
	}
	r.Decode(e.t, &out)
	if r.Status != 200 || len(out.Deliveries) != 1 {
		e.t.Fatalf("deliveries: %d %s", r.Status, r.Body)
	}
	return out.Deliveries[0]
}

// setStatus reports a build's state through the host.
func (e *env) setStatus(deliveryID string, body any) response {
	e.t.Helper()
	return e.do("POST", "/v1/webhook-deliveries/"+deliveryID+"/status", e.owner, body)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// hclogTo is a debug logger writing to w.
func hclogTo(w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: w, Level: hclog.Debug})
}

// TestProjectWebhookLifecycle: register → the simulator's push is accepted
// with the registered secret and triggers a build → its commit status goes
// pending → running → success on GitLab (running twice is refused) → a
// second registration updates the same hook with a new secret (the old one
// stops working; a signing token works too) → DELETE removes the hook →
// deleting the integration removes the hooks it registered. No secret
// reaches an answer, the database or the log.
func TestProjectWebhookLifecycle(t *testing.T) {
	t.Parallel()
	logs := &e2ekit.Logs{}
	cfg := hostConfig()
	cfg.Logger = hclogTo(logs)
	e := startInProcess(t, cfg)
	id := e.startPAT()
	app := e.repository(id, "oore-demo/mobile/flutter-app")
	project := e.demo.FlutterApp.ID

	reg := e.registerHook(app.ID, "")
	if !reg.Created || reg.SecretType != "token" {
		t.Fatalf("first registration: %+v, want created with a token", reg)
	}
	hook := e.onlyHook(project)
	if hook.URL != e.base+"/v1/webhooks/gitlab" || hook.Token == "" || hook.SigningToken != "" || !hook.PushEvents || !hook.TagPushEvents ||
		!hook.MergeRequestsEvents || hook.NoteEvents || hook.PipelineEvents || !hook.EnableSSLVerification {
		t.Fatalf("hook in the simulator: %+v", hook)
	}
	if got := itoa(hook.ID); got != reg.HookID {
		t.Fatalf("hook_id %q, the simulator's hook is %s", reg.HookID, got)
	}
	firstSecret := hook.Token

	e.triggerPush(project, "main", 200)
	head, err := e.sim.BranchHead(project, "main")
	if err != nil {
		t.Fatal(err)
	}
	d := e.newestDelivery()
	if len(d.Builds) != 1 || d.Builds[0].SHA != head || d.Builds[0].Branch != "main" || d.Builds[0].Status != "queued" {
		t.Fatalf("the pushed delivery: %+v, want one queued build of main at %s", d, head)
	}

	states := []struct {
		body       map[string]any
		wantStatus int
		wantCode   string
		wantBuild  string
	}{
		{map[string]any{"state": "pending", "description": "queued on mac-1", "target_url": "https://ci.example.com/builds/1"}, 200, "", "queued"},
		{map[string]any{"state": "running", "trigger_id": d.Builds[0].ID}, 200, "", "running"},
		{map[string]any{"state": "running"}, 409, "gitlab_invalid_transition", "running"},
		{map[string]any{"state": "pending"}, 409, "gitlab_invalid_transition", "running"},
		{map[string]any{"state": "success", "description": "built in 3m"}, 200, "", "done"},
	}
	statusIDs := map[string]bool{}
	for _, s := range states {
		r := e.setStatus(d.ID, s.body)
		if r.Status != s.wantStatus || (s.wantCode != "" && r.ErrorCode() != s.wantCode) {
			t.Fatalf("status %v: %d %s, want %d %s", s.body, r.Status, r.Body, s.wantStatus, s.wantCode)
		}
		if r.Status == 200 {
			var out struct {
				OK       bool   `json:"ok"`
				StatusID string `json:"status_id"`
				SHA      string `json:"sha"`
				Ref      string `json:"ref"`
				Context  string `json:"context"`
			}
			r.Decode(t, &out)
			if !out.OK || out.StatusID == "" || out.SHA != head || out.Ref != "main" || out.Context != "oore/build" {
				t.Fatalf("status %v answered %s", s.body, r.Body)
			}
			statusIDs[out.StatusID] = true
		}
		if got := e.newestDelivery().Builds[0].Status; got != s.wantBuild {
			t.Fatalf("after %v the build is %q, want %q", s.body, got, s.wantBuild)
		}
	}
	sts := e.sim.Statuses(project, head)
	if len(sts) != 1 || len(statusIDs) != 1 {
		t.Fatalf("statuses in the simulator: %+v (ids answered %v), want one status moved along", sts, statusIDs)
	}
	if st := sts[0]; st.Status != "success" || st.Name != "oore/build" || st.Ref != "main" || st.Description != "built in 3m" ||
		st.TargetURL != "https://ci.example.com/builds/1" || !statusIDs[itoa(st.ID)] || st.FinishedAt == nil {
		t.Fatalf("status in the simulator: %+v", st)
	}

	// Idempotent: the same hook, a new secret; the old one stops working.
	again := e.registerHook(app.ID, "")
	if again.Created || again.HookID != reg.HookID {
		t.Fatalf("second registration: %+v, want the same hook %s updated", again, reg.HookID)
	}
	hook = e.onlyHook(project)
	if hook.Token == "" || hook.Token == firstSecret {
		t.Fatal("the second registration did not give the hook a new secret")
	}
	if res := e.send(gitlabsim.WebhookSpec{ProjectID: project, Kind: "push", SecretToken: firstSecret}); res.Status != 401 {
		t.Fatalf("the replaced secret: %d %s, want 401", res.Status, res.Body)
	}
	e.triggerPush(project, "main", 200)
	secondSecret := hook.Token

	signed := e.registerHook(app.ID, "?type=signing_token")
	hook = e.onlyHook(project)
	if signed.Created || signed.HookID != reg.HookID || signed.SecretType != "signing_token" ||
		!strings.HasPrefix(hook.SigningToken, "whsec_") || hook.Token != "" {
		t.Fatalf("signing-token registration: %+v, hook %+v", signed, hook)
	}
	e.triggerPush(project, "feature/signed", 200)
	if d := e.newestDelivery(); len(d.Builds) != 1 || d.Builds[0].Branch != "feature/signed" {
		t.Fatalf("the signed push: %+v", d)
	}
	signingToken := hook.SigningToken

	// DELETE removes the hook at GitLab and forgets it; a second DELETE
	// finds nothing to remove.
	r := e.do("DELETE", "/v1/integration-repositories/"+app.ID+"/gitlab-webhook", e.owner, nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"deleted":true`) || !strings.Contains(string(r.Body), `"hook_id":"`+reg.HookID+`"`) {
		t.Fatalf("delete webhook: %d %s", r.Status, r.Body)
	}
	if hooks := e.sim.Hooks(project); len(hooks) != 0 || e.rows("project_hooks") != 0 {
		t.Fatalf("after DELETE: %d hooks in the simulator, %d remembered", len(hooks), e.rows("project_hooks"))
	}
	if r := e.do("DELETE", "/v1/integration-repositories/"+app.ID+"/gitlab-webhook", e.owner, nil); r.Status != 200 || !strings.Contains(string(r.Body), `"deleted":false`) {
		t.Fatalf("second delete: %d %s", r.Status, r.Body)
	}

	// Deleting the integration removes every hook it registered.
	website := e.repository(id, "oore-demo/website")
	e.registerHook(app.ID, "")
	e.registerHook(website.ID, "")
	lastSecret := e.onlyHook(project).Token
	e.onlyHook(e.demo.Website.ID)
	r = e.do("DELETE", "/v1/integrations/"+id, e.owner, nil)
	var deleted struct {
		OK              bool `json:"ok"`
		ProjectWebhooks struct {
			Removed int   `json:"removed"`
			Failed  []any `json:"failed"`
		} `json:"project_webhooks"`
	}
	r.Decode(t, &deleted)
	if r.Status != 200 || !deleted.OK || deleted.ProjectWebhooks.Removed != 2 || len(deleted.ProjectWebhooks.Failed) != 0 {
		t.Fatalf("delete integration: %d %s, want ok and 2 hooks removed", r.Status, r.Body)
	}
	if a, w := len(e.sim.Hooks(project)), len(e.sim.Hooks(e.demo.Website.ID)); a != 0 || w != 0 || e.rows("project_hooks") != 0 {
		t.Fatalf("after deleting the integration: %d and %d hooks in the simulator, %d remembered", a, w, e.rows("project_hooks"))
	}

	used := map[string]string{"first secret": firstSecret, "second secret": secondSecret, "signing token": signingToken,
		"last secret": lastSecret, "GitLab token": e.demo.Token, "owner API token": e.owner}
	for name, raw := range databaseFiles(t, e.dataDir) {
		assertNoSecretIn(t, name, raw, used)
	}
	assertNoSecretIn(t, "the host's log", logs.Bytes(), used)
	if !strings.Contains(string(logs.Bytes()), "project webhook registered") {
		t.Error("the host logged no registration")
	}
}

// TestProjectWebhookRefusals: GitLab's refusals reach the caller as clear
// errors, and nothing is stored (the old secret keeps working): a local
// hook URL GitLab blocks (422 naming the admin setting and --public-url),
// a Developer-only project (403 naming Maintainer), a read_api token (403
// naming api); bad input is 400 naming the field; developer tokens may not
// call any of it.
func TestProjectWebhookRefusals(t *testing.T) {
	t.Parallel()
	e := startInProcess(t, hostConfig())
	devProject := e.sim.AddProject(gitlabsim.ProjectSpec{Namespace: "oore-demo", Path: "developer-only",
		Members: map[int64]int{e.demo.User.ID: gitlabsim.DeveloperAccess}})
	id := e.startPAT()
	app := e.repository(id, "oore-demo/mobile/flutter-app")
	dev := e.repository(id, "oore-demo/developer-only")
	project := e.demo.FlutterApp.ID

	// What a refusal must leave as it was: the hooks at GitLab and their
	// secrets, and the host's records.
	type snapshot struct {
		hooks                                          string
		remembered, secrets, audits, triggers, running int
	}
	snap := func() snapshot {
		var hooks []string
		for _, p := range []int64{project, devProject.ID} {
			for _, h := range e.sim.Hooks(p) {
				hooks = append(hooks, itoa(h.ID)+"="+h.Token+h.SigningToken)
			}
		}
		return snapshot{strings.Join(hooks, ","), e.rows("project_hooks"), e.rows("repositories WHERE webhook_secret IS NOT NULL"),
			e.rows("audit_events"), e.rows("build_triggers"), e.rows("build_triggers WHERE status <> 'queued'")}
	}
	refuse := func(name, method, path string, body any, wantStatus int, wantCode string, wantInError ...string) {
		t.Helper()
		before := snap()
		r := e.do(method, path, e.owner, body)
		if r.Status != wantStatus || r.ErrorCode() != wantCode {
			t.Fatalf("%s: %d %s, want %d %s", name, r.Status, r.Body, wantStatus, wantCode)
		}
		for _, s := range wantInError {
			if !strings.Contains(string(r.Body), s) {
				t.Errorf("%s: the error %s does not say %q", name, r.Body, s)
			}
		}
		if after := snap(); after != before {
			t.Fatalf("%s changed something: %+v → %+v", name, before, after)
		}
	}

	// Bad input: 400 naming the field, before GitLab is asked.
	requests := len(e.sim.RequestLog())
	refuse("type", "POST", "/v1/integration-repositories/"+app.ID+"/gitlab-webhook?type=hmac", nil, 400, "invalid_input", `"details":"type"`)
	refuse("unknown repository", "POST", "/v1/integration-repositories/nope/gitlab-webhook", nil, 404, "not_found")
	refuse("unknown repository (delete)", "DELETE", "/v1/integration-repositories/nope/gitlab-webhook", nil, 404, "not_found")
	if n := len(e.sim.RequestLog()); n != requests {
		t.Fatalf("bad input reached GitLab (%d requests)", n-requests)
	}

	// GitLab blocks local URLs unless an administrator allows them.
	e.sim.SetAllowLocalRequests(false)
	refuse("local URL", "POST", "/v1/integration-repositories/"+app.ID+"/gitlab-webhook", nil, 422, "gitlab_hook_url_refused",
		"Allow requests to the local network from webhooks and integrations", "--public-url", e.base+"/v1/webhooks/gitlab")
	e.sim.SetAllowLocalRequests(true)
	e.registerHook(app.ID, "")
	secret := e.onlyHook(project).Token
	e.sim.SetAllowLocalRequests(false)
	refuse("local URL on update", "POST", "/v1/integration-repositories/"+app.ID+"/gitlab-webhook", nil, 422, "gitlab_hook_url_refused")
	e.sim.SetAllowLocalRequests(true)
	if e.onlyHook(project).Token != secret {
		t.Fatal("a refused update changed the hook's secret")
	}
	e.triggerPush(project, "main", 200) // the old secret still works

	// Developer may report statuses but not manage hooks.
	refuse("developer-only project", "POST", "/v1/integration-repositories/"+dev.ID+"/gitlab-webhook", nil, 403, "gitlab_role_missing", "Maintainer")

	// A read_api token may read hooks but not write them.
	r := e.do("POST", "/v1/integrations/gitlab/start", e.owner, map[string]any{"host_url": e.sim.URL, "auth_mode": "personal_token", "access_token": e.demo.ReadOnlyToken})
	if r.Status != 200 {
		t.Fatalf("start with a read_api token: %d %s", r.Status, r.Body)
	}
	var ro struct {
		Integration struct{ ID string } `json:"integration"`
	}
	r.Decode(t, &ro)
	roApp := e.repository(ro.Integration.ID, "oore-demo/mobile/flutter-app")
	refuse("read_api token", "POST", "/v1/integration-repositories/"+roApp.ID+"/gitlab-webhook", nil, 403, "gitlab_scope_missing", "api", `"details":"missing scopes: api"`)

	// Commit statuses: bad input names the field and GitLab keeps nothing.
	devSecret := e.webhookSecret(dev.ID, "")
	if res := e.send(gitlabsim.WebhookSpec{ProjectID: devProject.ID, Kind: "push", SecretToken: devSecret}); res.Status != 200 {
		t.Fatalf("push to the developer-only project: %d %s", res.Status, res.Body)
	}
	d := e.newestDelivery()
	head, err := e.sim.BranchHead(devProject.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	status := "/v1/webhook-deliveries/" + d.ID + "/status"
	bad := map[string]struct {
		body  any
		field string
	}{
		"no state":       {map[string]any{}, "state"},
		"unknown state":  {map[string]any{"state": "done"}, "state"},
		"skipped":        {map[string]any{"state": "skipped"}, "state"},
		"ftp target_url": {map[string]any{"state": "running", "target_url": "ftp://ci.example.com/1"}, "target_url"},
		"relative URL":   {map[string]any{"state": "running", "target_url": "/builds/1"}, "target_url"},
		"long desc":      {map[string]any{"state": "running", "description": strings.Repeat("x", 256)}, "description"},
		"unknown field":  {map[string]any{"state": "running", "color": "green"}, "color"},
		"wrong type":     {map[string]any{"state": 3}, "state"},
		"unknown build":  {map[string]any{"state": "running", "trigger_id": "nope"}, "trigger_id"},
	}
	for name, tc := range bad {
		refuse("status: "+name, "POST", status, tc.body, 400, "invalid_input", `"details":"`+tc.field+`"`)
	}
	refuse("status: malformed", "POST", status, `{"state":`, 400, "invalid_input")
	refuse("status: unknown delivery", "POST", "/v1/webhook-deliveries/nope/status", map[string]any{"state": "running"}, 404, "not_found")
	if sts := e.sim.Statuses(devProject.ID, head); len(sts) != 0 {
		t.Fatalf("bad input set statuses: %+v", sts)
	}
	if got := e.newestDelivery().Builds[0].Status; got != "queued" {
		t.Fatalf("bad input changed the build to %q", got)
	}
	if r := e.setStatus(d.ID, map[string]any{"state": "running"}); r.Status != 200 {
		t.Fatalf("developer reports a status: %d %s", r.Status, r.Body)
	}
	if sts := e.sim.Statuses(devProject.ID, head); len(sts) != 1 || sts[0].Status != "running" {
		t.Fatalf("statuses: %+v", sts)
	}

	// A delivery that triggered nothing has no build to report on.
	if res := e.send(gitlabsim.WebhookSpec{ProjectID: devProject.ID, Kind: "tag_push", SecretToken: devSecret}); res.Status != 200 {
		t.Fatalf("tag push: %d %s", res.Status, res.Body)
	}
	refuse("status: no build", "POST", "/v1/webhook-deliveries/"+e.newestDelivery().ID+"/status", map[string]any{"state": "running"}, 409, "delivery_not_triggered")

	// Only owners and admins.
	devToken, err := host.CreateToken(context.Background(), e.st, host.RoleDeveloper, "e2e-developer")
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range []struct{ method, path string }{
		{"POST", "/v1/integration-repositories/" + app.ID + "/gitlab-webhook"},
		{"DELETE", "/v1/integration-repositories/" + app.ID + "/gitlab-webhook"},
		{"POST", status},
	} {
		before := snap()
		if r := e.do(ep.method, ep.path, devToken, map[string]any{"state": "success"}); r.Status != 403 || r.ErrorCode() != "forbidden" {
			t.Errorf("%s %s as developer: %d %s, want 403 forbidden", ep.method, ep.path, r.Status, r.Body)
		}
		if after := snap(); after != before {
			t.Errorf("%s %s as developer changed something", ep.method, ep.path)
		}
	}
}

// TestProjectWebhookOAuthCleanup: deleting an OAuth integration whose
// access token expired meanwhile refreshes it once, removes the hook with
// the fresh token, and then revokes the grant.
func TestProjectWebhookOAuthCleanup(t *testing.T) {
	t.Parallel()
	e := startInProcess(t, hostConfig())
	e.sim.SetAccessTokenLifetime(30 * time.Second)
	id := e.connectOAuth()
	app := e.repository(id, "oore-demo/mobile/flutter-app")
	e.registerHook(app.ID, "")
	e.onlyHook(e.demo.FlutterApp.ID)

	e.sim.AdvanceTime(2 * time.Minute) // the stored access token is dead at GitLab
	refreshes, revokes := e.sim.TokenRequests("refresh_token"), e.sim.Requests("POST", "/oauth/revoke")
	r := e.do("DELETE", "/v1/integrations/"+id, e.owner, nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"removed":1`) {
		t.Fatalf("delete: %d %s, want the hook removed", r.Status, r.Body)
	}
	if hooks := e.sim.Hooks(e.demo.FlutterApp.ID); len(hooks) != 0 {
		t.Fatalf("%d hooks left in the simulator", len(hooks))
	}
	if got := e.sim.TokenRequests("refresh_token") - refreshes; got != 1 {
		t.Errorf("%d refreshes while deleting, want 1", got)
	}
	if e.sim.Requests("POST", "/oauth/revoke") <= revokes {
		t.Error("the grant was not revoked after the hooks were removed")
	}
}

// connectOAuth connects the demo user through an OAuth application (the
// simulator consents at once) and returns the integration id.
func (e *env) connectOAuth() string {
	e.t.Helper()
	clientID, clientSecret := e.sim.AddOAuthApp("oore-e2e", e.base+"/v1/integrations/gitlab/callback",
		[]string{"api", "read_api", "read_user", "read_repository"}, true)
	r := e.do("POST", "/v1/integrations/gitlab/start", e.owner, map[string]any{
		"host_url": e.sim.URL, "auth_mode": "oauth_app", "client_id": clientID, "client_secret": clientSecret})
	var started struct {
		Integration struct{ ID string } `json:"integration"`
	}
	r.Decode(e.t, &started)
	r = e.do("POST", "/v1/integrations/gitlab/authorize", e.owner, map[string]any{"integration_id": started.Integration.ID, "redirect_url": e.base + "/"})
	var auth struct {
		AuthorizeURL string `json:"authorize_url"`
	}
	r.Decode(e.t, &auth)
	res, err := e.client.Get(auth.AuthorizeURL) // the browser at GitLab
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if !strings.HasPrefix(loc, e.base+"/v1/integrations/gitlab/callback?") {
		e.t.Fatalf("GitLab's authorize answered %d → %q", res.StatusCode, loc)
	}
	cb, err := e.client.Get(loc) // back at the host
	if err != nil {
		e.t.Fatal(err)
	}
	cb.Body.Close()
	if cb.StatusCode != 303 {
		e.t.Fatalf("callback: %d", cb.StatusCode)
	}
	return started.Integration.ID
}
