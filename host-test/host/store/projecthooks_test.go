package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// seedProjectHookRepos makes integration i1 with two synced repositories
// and returns them (flutter-app, website).
func seedProjectHookRepos(t *testing.T, s *store.SQL) (store.Repository, store.Repository) {
	t.Helper()
	ctx := context.Background()
	newIntegration(t, s, "i1", store.Credentials{AccessToken: "glpat-x"})
	inst, err := s.UpsertInstallation(ctx, store.Installation{IntegrationID: "i1", ExternalID: "42", AccountName: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := s.BeginRepositorySync(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertRepositories(ctx, "i1", inst.ID, gen, []store.Repository{
		{Provider: "gitlab", ExternalID: "1001", FullName: "oore-demo/mobile/flutter-app", Private: true},
		{Provider: "gitlab", ExternalID: "1002", FullName: "oore-demo/website"},
	}); err != nil {
		t.Fatal(err)
	}
	repos, _, err := s.ListRepositories(ctx, store.RepositoryQuery{IntegrationID: "i1", Limit: 10})
	if err != nil || len(repos) != 2 {
		t.Fatalf("repositories: %v, %v", repos, err)
	}
	return repos[0], repos[1] // ordered by full name
}

// TestProjectHooks: the hook and the repository's secret are saved
// together (the secret is what webhook intake then checks), a second save
// keeps the hook's creation time, an unknown repository stores nothing, and
// the records outlive the integration until they are forgotten.
func TestProjectHooks(t *testing.T) {
	t.Parallel()
	for name, open := range jobBackends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := &clock{}
			c.t.Store(1_800_000_000)
			s := open(t, c)
			ctx := context.Background()
			app, website := seedProjectHookRepos(t, s)
			// Saving takes the repository's lease (the conformance suite tests the lease itself).
			for _, id := range []string{app.ID, website.ID, "no-such-repository"} {
				if ok, err := s.AcquireProjectHookLease(ctx, id, "holder-1", 7200); err != nil || !ok {
					t.Fatalf("lease of %s: %v, %v", id, ok, err)
				}
			}

			if _, err := s.GetProjectHook(ctx, app.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("hook before any registration: %v, want ErrNotFound", err)
			}
			saved, err := s.SaveProjectHook(ctx, app.ID, "holder-1", "7", "http://127.0.0.1:8787/v1/webhooks/gitlab", "secret-one", c.now().Unix())
			if err != nil {
				t.Fatal(err)
			}
			want := store.ProjectHook{RepositoryID: app.ID, IntegrationID: "i1", Provider: "gitlab", RepositoryExternalID: "1001",
				RepositoryFullName: "oore-demo/mobile/flutter-app", HookID: "7", URL: "http://127.0.0.1:8787/v1/webhooks/gitlab",
				CreatedAt: c.now().Unix(), UpdatedAt: c.now().Unix()}
			if saved != want {
				t.Fatalf("saved %+v, want %+v", saved, want)
			}
			if got, err := s.GetProjectHook(ctx, app.ID); err != nil || got != want {
				t.Fatalf("read back %+v, %v", got, err)
			}
			targets, err := s.WebhookTargets(ctx, "gitlab", "1001")
			if err != nil || len(targets) != 1 || targets[0].Secret != "secret-one" || targets[0].Repository.WebhookSecretRotatedAt != c.now().Unix() {
				t.Fatalf("webhook targets after the first save: %+v, %v", targets, err)
			}

			created := c.now().Unix()
			c.advance(time.Hour)
			saved, err = s.SaveProjectHook(ctx, app.ID, "holder-1", "8", "https://ci.example.com/v1/webhooks/gitlab", "secret-two", c.now().Unix())
			if err != nil {
				t.Fatal(err)
			}
			if saved.HookID != "8" || saved.URL != "https://ci.example.com/v1/webhooks/gitlab" || saved.CreatedAt != created || saved.UpdatedAt != c.now().Unix() {
				t.Fatalf("second save: %+v", saved)
			}
			if targets, err := s.WebhookTargets(ctx, "gitlab", "1001"); err != nil || len(targets) != 1 || targets[0].Secret != "secret-two" {
				t.Fatalf("the old secret still works after the second save: %+v, %v", targets, err)
			}

			if _, err := s.SaveProjectHook(ctx, "no-such-repository", "holder-1", "9", "http://x/", "secret-three", c.now().Unix()); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("save for an unknown repository: %v, want ErrNotFound", err)
			}
			if _, err := s.SaveProjectHook(ctx, website.ID, "holder-1", "10", "http://127.0.0.1:8787/v1/webhooks/gitlab", "secret-four", c.now().Unix()); err != nil {
				t.Fatal(err)
			}
			if n := countRows(t, s, `SELECT COUNT(*) FROM project_hooks`); n != 2 {
				t.Fatalf("%d hook records, want 2 (an unknown repository stores none)", n)
			}

			// The records outlive the integration, so its hooks can be removed.
			if err := s.DeleteIntegration(ctx, "i1"); err != nil {
				t.Fatal(err)
			}
			hooks, err := s.IntegrationProjectHooks(ctx, "i1")
			if err != nil || len(hooks) != 2 || hooks[0].RepositoryExternalID != "1001" || hooks[0].HookID != "8" ||
				hooks[1].RepositoryExternalID != "1002" || hooks[1].HookID != "10" {
				t.Fatalf("hooks of the deleted integration: %+v, %v", hooks, err)
			}
			if none, err := s.IntegrationProjectHooks(ctx, "i2"); err != nil || len(none) != 0 {
				t.Fatalf("hooks of another integration: %+v, %v", none, err)
			}
			if ok, err := s.ForgetProjectHook(ctx, app.ID); err != nil || !ok {
				t.Fatalf("forget one: %v, %v", ok, err)
			}
			if ok, err := s.ForgetProjectHook(ctx, app.ID); err != nil || ok {
				t.Fatalf("forget it again: %v, %v, want false", ok, err)
			}
			if n, err := s.ForgetIntegrationProjectHooks(ctx, "i1"); err != nil || n != 1 {
				t.Fatalf("forget the integration's: %d, %v, want 1", n, err)
			}
			if n := countRows(t, s, `SELECT COUNT(*) FROM project_hooks`); n != 0 {
				t.Fatalf("%d hook records left", n)
			}
		})
	}
}
