package host

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// deleteHookRoute is the simulator's route for GitLab's
// DELETE /projects/:id/hooks/:hook_id (the target of FailNextOn).
const deleteHookRoute = "DELETE /api/v4/projects/{id}/hooks/{hook_id}"

// syncAnswer is the answer to POST /v1/integrations/{id}/installations.
type syncAnswer struct {
	ProjectWebhooks *struct {
		Removed   int `json:"removed"`
		Forgotten int `json:"forgotten"`
		Failed    []struct {
			RepositoryFullName string `json:"repository_full_name"`
			HookID             string `json:"hook_id"`
			Error              string `json:"error"`
		} `json:"failed"`
	} `json:"project_webhooks"`
}

// sync syncs the integration's repositories and returns the answer (200 or
// the test fails; the answer is checked against the contract).
func (g *gitlabHost) sync(t *testing.T) syncAnswer {
	t.Helper()
	r := g.api.Do(http.MethodPost, "/v1/integrations/"+g.integrationID+"/installations", g.owner, map[string]any{})
	if r.Status != http.StatusOK {
		t.Fatalf("sync: %d %s", r.Status, r.Body)
	}
	var out syncAnswer
	r.Decode(t, &out)
	return out
}

// register registers the host's webhook on a repository and returns the
// GitLab hook id.
func (g *gitlabHost) register(t *testing.T, repositoryID string) string {
	t.Helper()
	r := g.api.Do(http.MethodPost, "/v1/integration-repositories/"+repositoryID+"/gitlab-webhook", g.owner, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("register the webhook of %s: %d %s", repositoryID, r.Status, r.Body)
	}
	var out struct {
		HookID string `json:"hook_id"`
	}
	r.Decode(t, &out)
	return out.HookID
}

// hasHook reports whether GitLab (the simulator) has the hook on the project.
func hasHook(sim *gitlabsim.Server, project int64, hookID string) bool {
	for _, h := range sim.Hooks(project) {
		if strconv.FormatInt(h.ID, 10) == hookID {
			return true
		}
	}
	return false
}

// remembered reports whether the host still has a record of the
// repository's hook.
func remembered(t *testing.T, st *store.SQL, repositoryID string) bool {
	t.Helper()
	_, err := st.GetProjectHook(context.Background(), repositoryID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// TestSyncRemovesProjectHooksOfDroppedRepositories: a sync that no longer
// sees a repository removes the webhook the host registered in its project:
// deleted at GitLab when the account still may (the project was archived,
// so the sync drops it), forgotten when GitLab answers 404 (the project was
// deleted) or 403 (the account is only Reporter now). The hook of the
// repository the sync still sees stays, and its pushes are accepted.
func TestSyncRemovesProjectHooksOfDroppedRepositories(t *testing.T) {
	t.Parallel()
	g := startGitLabHost(t)
	tools := g.sim.AddProject(gitlabsim.ProjectSpec{Namespace: "oore-demo", Path: "tools", Visibility: "private",
		Members: map[int64]int{g.demo.User.ID: gitlabsim.MaintainerAccess}})
	if a := g.sync(t); a.ProjectWebhooks != nil {
		t.Fatalf("a sync without registered hooks reports project_webhooks %+v", *a.ProjectWebhooks)
	}
	app := g.api.FindRepository(g.owner, g.integrationID, "oore-demo/mobile/flutter-app")
	web := g.api.FindRepository(g.owner, g.integrationID, "oore-demo/website")
	play := g.api.FindRepository(g.owner, g.integrationID, "demo/playground")
	tool := g.api.FindRepository(g.owner, g.integrationID, "oore-demo/tools")
	appHook, webHook, playHook, toolHook := g.register(t, app.ID), g.register(t, web.ID), g.register(t, play.ID), g.register(t, tool.ID)

	if err := g.sim.SetArchived(g.demo.FlutterApp.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := g.sim.DeleteProject(g.demo.Playground.ID); err != nil {
		t.Fatal(err)
	}
	if err := g.sim.AddMember(tools.ID, g.demo.User.ID, gitlabsim.ReporterAccess); err != nil {
		t.Fatal(err)
	}
	a := g.sync(t)
	if a.ProjectWebhooks == nil {
		t.Fatal("the sync that dropped three repositories with hooks reports no project_webhooks")
	}
	if got := *a.ProjectWebhooks; got.Removed != 1 || got.Forgotten != 2 || len(got.Failed) != 0 {
		t.Fatalf("project_webhooks = %+v, want removed 1 (flutter-app), forgotten 2 (playground 404, tools 403), failed none", got)
	}
	if hasHook(g.sim, g.demo.FlutterApp.ID, appHook) {
		t.Fatalf("hook %s of the archived flutter-app is still at GitLab", appHook)
	}
	if !hasHook(g.sim, tools.ID, toolHook) {
		t.Fatalf("hook %s of tools is gone at GitLab, though a Reporter may not delete it", toolHook)
	}
	for _, rp := range []struct{ name, id string }{{"flutter-app", app.ID}, {"playground", play.ID}, {"tools", tool.ID}} {
		if remembered(t, g.st, rp.id) {
			t.Fatalf("the host still tracks the hook of the dropped %s", rp.name)
		}
	}
	_ = playHook // deleted with its project
	if !hasHook(g.sim, g.demo.Website.ID, webHook) || !remembered(t, g.st, web.ID) {
		t.Fatalf("the hook %s of website, which the sync still sees, was touched", webHook)
	}
	pushAccepted(t, g.sim, g.demo.Website.ID)

	if a := g.sync(t); a.ProjectWebhooks != nil {
		t.Fatalf("the next sync reports project_webhooks %+v; nothing was left to remove", *a.ProjectWebhooks)
	}
}

// TestSyncRetriesDroppedProjectHookAfterTransientFailure: GitLab failing
// the hook's deletion (503) does not fail the sync, which reports the hook
// as failed and keeps it; the next sync deletes it.
func TestSyncRetriesDroppedProjectHookAfterTransientFailure(t *testing.T) {
	t.Parallel()
	g := startGitLabHost(t)
	app := g.api.FindRepository(g.owner, g.integrationID, "oore-demo/mobile/flutter-app")
	web := g.api.FindRepository(g.owner, g.integrationID, "oore-demo/website")
	appHook, webHook := g.register(t, app.ID), g.register(t, web.ID)
	if err := g.sim.SetArchived(g.demo.FlutterApp.ID, true); err != nil {
		t.Fatal(err)
	}

	g.sim.FailNextOn(deleteHookRoute, 1, http.StatusServiceUnavailable)
	a := g.sync(t)
	if a.ProjectWebhooks == nil || a.ProjectWebhooks.Removed != 0 || len(a.ProjectWebhooks.Failed) != 1 {
		t.Fatalf("project_webhooks = %+v, want one failed hook", a.ProjectWebhooks)
	}
	if f := a.ProjectWebhooks.Failed[0]; f.RepositoryFullName != "oore-demo/mobile/flutter-app" || f.HookID != appHook || f.Error == "" {
		t.Fatalf("failed = %+v, want flutter-app's hook %s with the reason", f, appHook)
	}
	if !hasHook(g.sim, g.demo.FlutterApp.ID, appHook) || !remembered(t, g.st, app.ID) {
		t.Fatal("after the failed deletion the hook should still be at GitLab and tracked")
	}

	a = g.sync(t)
	if a.ProjectWebhooks == nil || a.ProjectWebhooks.Removed != 1 || len(a.ProjectWebhooks.Failed) != 0 {
		t.Fatalf("next sync: project_webhooks = %+v, want the hook removed", a.ProjectWebhooks)
	}
	if hasHook(g.sim, g.demo.FlutterApp.ID, appHook) || remembered(t, g.st, app.ID) {
		t.Fatal("the next sync left the dropped repository's hook")
	}
	if !hasHook(g.sim, g.demo.Website.ID, webHook) {
		t.Fatal("website's hook was removed")
	}
	pushAccepted(t, g.sim, g.demo.Website.ID)
}

// TestSyncKeepsAHookAReturningRepositoryAdopted: a dropped repository's
// hook whose removal failed stays tracked; when the project comes back
// (a new repository row) and is registered again, GitLab's hook with the
// host's URL is updated in place, the same hook id. The next sync forgets
// the old record without deleting the hook that now serves the repository.
func TestSyncKeepsAHookAReturningRepositoryAdopted(t *testing.T) {
	t.Parallel()
	g := startGitLabHost(t)
	app := g.api.FindRepository(g.owner, g.integrationID, "oore-demo/mobile/flutter-app")
	hook := g.register(t, app.ID)
	if err := g.sim.SetArchived(g.demo.FlutterApp.ID, true); err != nil {
		t.Fatal(err)
	}
	g.sim.FailNextOn(deleteHookRoute, 1, http.StatusServiceUnavailable)
	if a := g.sync(t); a.ProjectWebhooks == nil || len(a.ProjectWebhooks.Failed) != 1 {
		t.Fatalf("project_webhooks = %+v, want one failed hook", a.ProjectWebhooks)
	}
	// The project comes back; this sync's deletion of the old hook fails
	// again, so the old record is still there when it is registered anew.
	if err := g.sim.SetArchived(g.demo.FlutterApp.ID, false); err != nil {
		t.Fatal(err)
	}
	g.sim.FailNextOn(deleteHookRoute, 1, http.StatusServiceUnavailable)
	g.sync(t)
	back := g.api.FindRepository(g.owner, g.integrationID, "oore-demo/mobile/flutter-app")
	if back.ID == app.ID {
		t.Fatal("the returning project kept its repository id; the test's premise is wrong")
	}
	if again := g.register(t, back.ID); again != hook {
		t.Fatalf("registering the returning project made hook %s, want GitLab's hook %s updated in place", again, hook)
	}

	a := g.sync(t)
	if a.ProjectWebhooks == nil || a.ProjectWebhooks.Removed != 0 || a.ProjectWebhooks.Forgotten != 1 {
		t.Fatalf("project_webhooks = %+v, want the old record forgotten, nothing removed", a.ProjectWebhooks)
	}
	if !hasHook(g.sim, g.demo.FlutterApp.ID, hook) {
		t.Fatalf("the sync deleted hook %s, which serves the returning repository", hook)
	}
	if remembered(t, g.st, app.ID) || !remembered(t, g.st, back.ID) {
		t.Fatal("want the old record forgotten and the returning repository's kept")
	}
	pushAccepted(t, g.sim, g.demo.FlutterApp.ID)
}
