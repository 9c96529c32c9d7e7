package storetest

import (
	"fmt"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// integration stores an active personal-token integration with id.
func integration(t *testing.T, s store.Store, id string, creds store.Credentials) store.Integration {
	t.Helper()
	in := store.Integration{ID: id, Provider: "gitlab", HostURL: "https://gitlab.example.com", AuthMode: "personal_token",
		Status: store.StatusActive, DisplayName: "demo @ gitlab.example.com", CreatedBy: "tok-owner",
		AccountID: "42", AccountUsername: "demo", Scopes: []string{"api", "read_repository"}}
	if err := s.CreateIntegration(ctx(t), in, creds); err != nil {
		t.Fatalf("create integration %s: %v", id, err)
	}
	return in
}

// oauthIntegration stores an active OAuth integration whose access token
// expires at expiresAt.
func oauthIntegration(t *testing.T, s store.Store, id string, expiresAt int64) {
	t.Helper()
	in := store.Integration{ID: id, Provider: "gitlab", HostURL: "https://gitlab.example.com", AuthMode: "oauth_app",
		Status: store.StatusActive, CreatedBy: "tok-owner"}
	err := s.CreateIntegration(ctx(t), in, store.Credentials{AccessToken: "at-0", RefreshToken: "rt-0", ExpiresAt: expiresAt,
		ClientID: "cid", ClientSecret: "gloas-client-secret", RedirectURI: "http://127.0.0.1:8787/v1/integrations/gitlab/callback"})
	if err != nil {
		t.Fatalf("create integration %s: %v", id, err)
	}
}

// repositories stores repositories with the external ids given (full names
// group/repo-NNN) under one installation, in one sync, and returns them
// sorted by full name.
func repositories(t *testing.T, s store.Store, integrationID string, ids ...int) []store.Repository {
	t.Helper()
	inst, err := s.UpsertInstallation(ctx(t), store.Installation{IntegrationID: integrationID, ExternalID: "42", AccountName: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := s.BeginRepositorySync(ctx(t), integrationID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertRepositories(ctx(t), integrationID, inst.ID, gen, repoSpecs(ids...)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishRepositorySync(ctx(t), integrationID, gen); err != nil {
		t.Fatal(err)
	}
	list, _, err := s.ListRepositories(ctx(t), store.RepositoryQuery{IntegrationID: integrationID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func repoSpecs(ids ...int) []store.Repository {
	out := make([]store.Repository, 0, len(ids))
	for _, id := range ids {
		out = append(out, store.Repository{ExternalID: fmt.Sprint(id), FullName: fmt.Sprintf("group/repo-%03d", id),
			Name: fmt.Sprintf("repo-%03d", id), Namespace: "group", DefaultBranch: "main", Private: id%2 == 0,
			Visibility: "private", CloneURL: fmt.Sprintf("https://gitlab.example.com/group/repo-%03d.git", id)})
	}
	return out
}

// count runs a COUNT(*) query (written with ? placeholders for SQLite, $n
// for PostgreSQL: pass none) on s's database.
func count(t *testing.T, s *store.SQL, query string) int64 {
	t.Helper()
	var n int64
	if err := s.DB().QueryRowContext(ctx(t), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
