package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(c.t.Load(), 0) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d / time.Second)) }

func open(t *testing.T) (*store.SQL, *clock, string) {
	t.Helper()
	dir := t.TempDir()
	kr, err := secrets.New(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{}
	c.t.Store(1_800_000_000)
	s, err := store.OpenSQLite(context.Background(), dir, kr, store.Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c, dir
}

func newIntegration(t *testing.T, s store.Store, id string, creds store.Credentials) store.Integration {
	t.Helper()
	in := store.Integration{ID: id, Provider: "gitlab", HostURL: "https://gitlab.example.com", AuthMode: "personal_token",
		Status: store.StatusActive, DisplayName: "demo @ gitlab.example.com", CreatedBy: "tok1",
		AccountID: "42", AccountUsername: "demo", Scopes: []string{"api", "read_repository"}}
	if err := s.CreateIntegration(context.Background(), in, creds); err != nil {
		t.Fatal(err)
	}
	return in
}

func TestMigrationsRunOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kr, _ := secrets.New(bytes.Repeat([]byte{1}, 32))
	ctx := context.Background()
	files, err := filepath.Glob("migrations/sqlite/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no SQLite migrations found: %v", err)
	}
	for range 2 {
		s, err := store.OpenSQLite(ctx, dir, kr, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.DB().QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(files) {
			t.Fatalf("schema_migrations has %d rows, want one per migration file (%d)", n, len(files))
		}
		var mode string
		if err := s.DB().QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
		}
		s.Close()
	}
	fi, err := os.Stat(filepath.Join(dir, store.SQLiteFileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("database mode %o, want 600", fi.Mode().Perm())
	}
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	s, _, _ := open(t)
	ctx := context.Background()
	h := sha256.Sum256([]byte("oore_secret"))
	if err := s.CreateAPIToken(ctx, store.APIToken{Name: "ci", Role: "developer", Hash: h[:]}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAPIToken(ctx, store.APIToken{Name: "again", Role: "owner", Hash: h[:]}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second token with the same hash: %v, want ErrConflict", err)
	}
	got, err := s.APITokenByHash(ctx, h[:])
	if err != nil || got.Role != "developer" || got.Name != "ci" {
		t.Fatalf("APITokenByHash = %+v, %v", got, err)
	}
	other := sha256.Sum256([]byte("other"))
	if _, err := s.APITokenByHash(ctx, other[:]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown hash: %v, want ErrNotFound", err)
	}
	// Ensure is idempotent and keeps one row.
	boot := sha256.Sum256([]byte("boot"))
	for range 2 {
		if err := s.EnsureAPIToken(ctx, store.APIToken{Name: "bootstrap", Role: "owner", Hash: boot[:]}); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := s.DB().QueryRow(`SELECT COUNT(*) FROM api_tokens`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("api_tokens rows = %d, %v; want 2", n, err)
	}
}

func TestIntegrationLifecycle(t *testing.T) {
	t.Parallel()
	s, _, _ := open(t)
	ctx := context.Background()
	newIntegration(t, s, "i1", store.Credentials{AccessToken: "glpat-one"})
	in2 := store.Integration{ID: "i2", Provider: "gitlab", HostURL: "https://other.example.com", AuthMode: "oauth_app",
		Status: store.StatusInactive, CreatedBy: "tok1"}
	if err := s.CreateIntegration(ctx, in2, store.Credentials{ClientID: "cid", ClientSecret: "gloas-secret"}); err != nil {
		t.Fatal(err)
	}
	page, err := s.ListIntegrations(ctx, store.IntegrationQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 2 || page.ActiveTotal != 1 || len(page.Integrations) != 2 {
		t.Fatalf("ListIntegrations = total %d active %d len %d", page.Total, page.ActiveTotal, len(page.Integrations))
	}
	page, _ = s.ListIntegrations(ctx, store.IntegrationQuery{Q: "OTHER.example", Limit: 10})
	if page.Total != 1 || page.Integrations[0].ID != "i2" {
		t.Fatalf("search by host: %+v", page)
	}
	page, _ = s.ListIntegrations(ctx, store.IntegrationQuery{Q: "100%_", Limit: 10})
	if page.Total != 0 {
		t.Fatalf("LIKE wildcards in the query matched %d", page.Total)
	}
	if _, err := s.ListIntegrations(ctx, store.IntegrationQuery{Sort: "id; DROP TABLE x", Limit: 10}); err == nil {
		t.Fatal("unknown sort column accepted")
	}

	creds, v1, err := s.LoadCredentials(ctx, "i2")
	if err != nil || creds.ClientSecret != "gloas-secret" {
		t.Fatalf("LoadCredentials = %+v, %v", creds, err)
	}
	err = s.ConnectIntegration(ctx, "i2", store.Connection{HostURL: "https://other.example.com", DisplayName: "bob",
		AccountID: "7", AccountUsername: "bob", Scopes: []string{"read_api"},
		Credentials: store.Credentials{AccessToken: "at", RefreshToken: "rt", ExpiresAt: 99, ClientID: "cid", ClientSecret: "gloas-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetIntegration(ctx, "i2")
	if got.Status != store.StatusActive || got.AccountUsername != "bob" || got.TokenExpiresAt != 99 || len(got.Scopes) != 1 {
		t.Fatalf("after connect: %+v", got)
	}
	_, v2, _ := s.LoadCredentials(ctx, "i2")
	if v2 <= v1 {
		t.Fatalf("credentials version %d after change, was %d", v2, v1)
	}
	if err := s.DeleteIntegration(ctx, "i2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetIntegration(ctx, "i2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted integration: %v", err)
	}
	if err := s.DeleteIntegration(ctx, "i2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestCredentialsBoundToRow(t *testing.T) {
	t.Parallel()
	s, _, _ := open(t)
	ctx := context.Background()
	newIntegration(t, s, "a", store.Credentials{AccessToken: "glpat-aaaa"})
	newIntegration(t, s, "b", store.Credentials{AccessToken: "glpat-bbbb"})
	// Copy a's sealed credentials into b's row: they must not open there.
	if _, err := s.DB().Exec(`UPDATE integrations SET credentials = (SELECT credentials FROM integrations WHERE id = 'a') WHERE id = 'b'`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoadCredentials(ctx, "b"); !errors.Is(err, secrets.ErrDecrypt) {
		t.Fatalf("credentials moved to another row opened: %v", err)
	}
}

func TestRepositorySync(t *testing.T) {
	t.Parallel()
	s, _, _ := open(t)
	ctx := context.Background()
	newIntegration(t, s, "i1", store.Credentials{AccessToken: "x"})
	inst, err := s.UpsertInstallation(ctx, store.Installation{IntegrationID: "i1", ExternalID: "42", AccountName: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.UpsertInstallation(ctx, store.Installation{IntegrationID: "i1", ExternalID: "42", AccountName: "demo2"})
	if err != nil || again.ID != inst.ID {
		t.Fatalf("upsert of the same installation made a new one: %+v, %v", again, err)
	}
	repos := func(ids ...int) []store.Repository {
		var out []store.Repository
		for _, id := range ids {
			out = append(out, store.Repository{ExternalID: fmt.Sprint(id), FullName: fmt.Sprintf("group/repo-%03d", id), Private: id%2 == 0})
		}
		return out
	}
	gen, err := s.BeginRepositorySync(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertRepositories(ctx, "i1", inst.ID, gen, repos(1, 2, 3)); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertRepositories(ctx, "i1", inst.ID, gen, repos(4)); err != nil {
		t.Fatal(err)
	}
	if removed, err := s.FinishRepositorySync(ctx, "i1", gen); err != nil || removed != 0 {
		t.Fatalf("first sync removed %d, %v", removed, err)
	}
	list, total, err := s.ListRepositories(ctx, store.RepositoryQuery{IntegrationID: "i1", Limit: 2})
	if err != nil || total != 4 || len(list) != 2 || list[0].FullName != "group/repo-001" || list[0].HostURL != "https://gitlab.example.com" {
		t.Fatalf("list = %+v total %d, %v", list, total, err)
	}
	r2 := list[1]
	if err := s.SetWebhookSecret(ctx, r2.ID, "whs-secret", 5); err != nil {
		t.Fatal(err)
	}
	// Second sync: 1 and 3 gone, 2 kept (with its secret and id), 5 new.
	gen2, _ := s.BeginRepositorySync(ctx, "i1")
	if gen2 <= gen {
		t.Fatalf("generation %d after %d", gen2, gen)
	}
	if err := s.UpsertRepositories(ctx, "i1", inst.ID, gen2, repos(2, 4, 5)); err != nil {
		t.Fatal(err)
	}
	if removed, err := s.FinishRepositorySync(ctx, "i1", gen2); err != nil || removed != 2 {
		t.Fatalf("second sync removed %d, %v; want 2", removed, err)
	}
	got, err := s.GetRepository(ctx, r2.ID)
	if err != nil || !got.HasWebhookSecret || got.WebhookSecretRotatedAt != 5 {
		t.Fatalf("kept repository lost its id or secret: %+v, %v", got, err)
	}
	// An older sync that finishes late removes nothing the newer one saw.
	if err := s.UpsertRepositories(ctx, "i1", inst.ID, gen, repos(2)); err != nil {
		t.Fatal(err)
	}
	if removed, _ := s.FinishRepositorySync(ctx, "i1", gen); removed != 0 {
		t.Fatalf("stale sync removed %d", removed)
	}
	_, total, _ = s.ListRepositories(ctx, store.RepositoryQuery{IntegrationID: "i1", Q: "REPO-00", Limit: 100})
	if total != 3 {
		t.Fatalf("search total %d, want 3", total)
	}
	targets, err := s.WebhookTargets(ctx, "gitlab", "2")
	if err != nil || len(targets) != 1 || targets[0].Secret != "whs-secret" || targets[0].Integration.ID != "i1" {
		t.Fatalf("WebhookTargets = %+v, %v", targets, err)
	}
	if targets, _ := s.WebhookTargets(ctx, "gitlab", "4"); len(targets) != 0 {
		t.Fatalf("a repository without a secret is a webhook target: %+v", targets)
	}
	ni, nr, err := s.IntegrationCounts(ctx, "i1")
	if err != nil || ni != 1 || nr != 3 {
		t.Fatalf("counts = %d, %d, %v", ni, nr, err)
	}
}

func TestOAuthStateIsOneTime(t *testing.T) {
	t.Parallel()
	s, c, _ := open(t)
	ctx := context.Background()
	newIntegration(t, s, "i1", store.Credentials{})
	exp := c.now().Add(10 * time.Minute).Unix()
	if err := s.CreateOAuthState(ctx, store.OAuthState{ID: "st1", IntegrationID: "i1", RedirectURL: "http://x/", Verifier: "ver", ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOAuthState(ctx, store.OAuthState{ID: "st2", IntegrationID: "i1", RedirectURL: "http://x/", Verifier: "ver2", ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	st, err := s.ConsumeOAuthState(ctx, "st1")
	if err != nil || st.Verifier != "ver" || st.IntegrationID != "i1" {
		t.Fatalf("first consume = %+v, %v", st, err)
	}
	if _, err := s.ConsumeOAuthState(ctx, "st1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second consume: %v, want ErrNotFound", err)
	}
	c.advance(11 * time.Minute)
	if _, err := s.ConsumeOAuthState(ctx, "st2"); !errors.Is(err, store.ErrExpired) {
		t.Fatalf("expired state: %v, want ErrExpired", err)
	}
	if _, err := s.ConsumeOAuthState(ctx, "st2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired state consumed twice: %v", err)
	}
}

func TestRefreshLock(t *testing.T) {
	t.Parallel()
	s, c, _ := open(t)
	ctx := context.Background()
	newIntegration(t, s, "i1", store.Credentials{AccessToken: "old", RefreshToken: "r-old"})
	ok, err := s.AcquireRefreshLock(ctx, "i1", "A", 30)
	if err != nil || !ok {
		t.Fatalf("A acquire = %v, %v", ok, err)
	}
	if ok, _ := s.AcquireRefreshLock(ctx, "i1", "B", 30); ok {
		t.Fatal("B took a held lock")
	}
	if ok, _ := s.AcquireRefreshLock(ctx, "i1", "A", 30); !ok {
		t.Fatal("A could not extend its own lock")
	}
	c.advance(31 * time.Second)
	if ok, _ := s.AcquireRefreshLock(ctx, "i1", "B", 30); !ok {
		t.Fatal("B could not take an expired lock")
	}
	if err := s.SaveRefreshedCredentials(ctx, "i1", "A", store.Credentials{AccessToken: "new-a"}); !errors.Is(err, store.ErrLockNotHeld) {
		t.Fatalf("A saved without the lock: %v", err)
	}
	if err := s.SaveRefreshedCredentials(ctx, "i1", "B", store.Credentials{AccessToken: "new-b", RefreshToken: "r-new", ExpiresAt: 77}); err != nil {
		t.Fatal(err)
	}
	creds, _, _ := s.LoadCredentials(ctx, "i1")
	if creds.AccessToken != "new-b" || creds.RefreshToken != "r-new" {
		t.Fatalf("credentials after refresh: %+v", creds)
	}
	if ok, _ := s.AcquireRefreshLock(ctx, "i1", "C", 30); ok {
		t.Fatal("saving released the lock")
	}
	if err := s.ReleaseRefreshLock(ctx, "i1", "B"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.AcquireRefreshLock(ctx, "i1", "C", 30); !ok {
		t.Fatal("lock not released")
	}
	if err := s.MarkReconnectRequired(ctx, "i1", "grant refused"); err != nil {
		t.Fatal(err)
	}
	in, _ := s.GetIntegration(ctx, "i1")
	if !in.ReconnectRequired || in.Status != store.StatusError || in.StatusReason != "grant refused" {
		t.Fatalf("after MarkReconnectRequired: %+v", in)
	}
	if err := s.SaveRefreshedCredentials(ctx, "i1", "C", store.Credentials{AccessToken: "n", RefreshToken: "r"}); err != nil {
		t.Fatal(err)
	}
	in, _ = s.GetIntegration(ctx, "i1")
	if in.ReconnectRequired || in.Status != store.StatusActive || in.StatusReason != "" {
		t.Fatalf("save did not clear the reconnection mark: %+v", in)
	}
}

func TestRecordDeliveryDedupesConcurrently(t *testing.T) {
	t.Parallel()
	s, _, _ := open(t)
	ctx := context.Background()
	newIntegration(t, s, "i1", store.Credentials{})
	const n = 16
	var wg sync.WaitGroup
	var fresh atomic.Int32
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dup, err := s.RecordDelivery(ctx, store.Delivery{Provider: "gitlab", DeliveryID: "uuid-1", IntegrationID: "i1",
				RepositoryID: "r1", RepositoryFullName: "g/p", EventKind: "push"},
				[]store.BuildTrigger{{Kind: "push", Ref: "refs/heads/main", Branch: "main", SHA: "abc"}})
			if err != nil {
				errs <- err
				return
			}
			if !dup {
				fresh.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if fresh.Load() != 1 {
		t.Fatalf("%d deliveries stored as new, want 1", fresh.Load())
	}
	list, total, err := s.ListDeliveries(ctx, store.DeliveryQuery{Limit: 10})
	if err != nil || total != 1 || len(list[0].Triggers) != 1 || !list[0].Triggered {
		t.Fatalf("ListDeliveries = %+v, %d, %v", list, total, err)
	}
	in, _ := s.GetIntegration(ctx, "i1")
	if in.LastWebhookAt == 0 {
		t.Fatal("last_webhook_at not set")
	}
	// The same delivery id for another integration is not a duplicate.
	newIntegration(t, s, "i2", store.Credentials{})
	dup, err := s.RecordDelivery(ctx, store.Delivery{Provider: "gitlab", DeliveryID: "uuid-1", IntegrationID: "i2", RepositoryID: "r9", EventKind: "push"}, nil)
	if err != nil || dup {
		t.Fatalf("other integration's delivery = dup %v, %v", dup, err)
	}
	// A delivery for a deleted integration is refused and stores nothing.
	if _, err := s.RecordDelivery(ctx, store.Delivery{Provider: "gitlab", DeliveryID: "x", IntegrationID: "gone", RepositoryID: "r", EventKind: "push"},
		[]store.BuildTrigger{{Kind: "push"}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delivery for unknown integration: %v", err)
	}
	if n, _ := s.CountDeliveries(ctx); n != 2 {
		t.Fatalf("deliveries = %d, want 2", n)
	}
}

func TestDeleteBlockedByRunningBuild(t *testing.T) {
	t.Parallel()
	s, _, _ := open(t)
	ctx := context.Background()
	newIntegration(t, s, "i1", store.Credentials{})
	if _, err := s.RecordDelivery(ctx, store.Delivery{Provider: "gitlab", DeliveryID: "d1", IntegrationID: "i1", RepositoryID: "r1", EventKind: "push"},
		[]store.BuildTrigger{{Kind: "push", SHA: "abc"}}); err != nil {
		t.Fatal(err)
	}
	list, _, _ := s.ListDeliveries(ctx, store.DeliveryQuery{IntegrationID: "i1", Limit: 1})
	trig := list[0].Triggers[0]
	if err := s.SetBuildTriggerStatus(ctx, trig.ID, store.TriggerRunning); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteIntegration(ctx, "i1"); !errors.Is(err, store.ErrActiveBuilds) {
		t.Fatalf("delete with a running build: %v", err)
	}
	if _, err := s.GetIntegration(ctx, "i1"); err != nil {
		t.Fatalf("integration gone after refused delete: %v", err)
	}
	if err := s.SetBuildTriggerStatus(ctx, trig.ID, store.TriggerDone); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteIntegration(ctx, "i1"); err != nil {
		t.Fatal(err)
	}
}

func TestNoSecretInDatabaseFiles(t *testing.T) {
	t.Parallel()
	s, _, dir := open(t)
	ctx := context.Background()
	secretsUsed := []string{"glpat-PLAINTEXTTOKEN123", "gloas-CLIENTSECRET456", "refresh-REFRESH789", "whsec-WEBHOOKSECRET000", "pkce-VERIFIER111"}
	newIntegration(t, s, "i1", store.Credentials{AccessToken: secretsUsed[0], ClientSecret: secretsUsed[1], RefreshToken: secretsUsed[2]})
	inst, _ := s.UpsertInstallation(ctx, store.Installation{IntegrationID: "i1", ExternalID: "1", AccountName: "demo"})
	gen, _ := s.BeginRepositorySync(ctx, "i1")
	_ = s.UpsertRepositories(ctx, "i1", inst.ID, gen, []store.Repository{{ExternalID: "5", FullName: "g/p"}})
	list, _, _ := s.ListRepositories(ctx, store.RepositoryQuery{Limit: 1})
	if err := s.SetWebhookSecret(ctx, list[0].ID, secretsUsed[3], 1); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOAuthState(ctx, store.OAuthState{ID: "s", IntegrationID: "i1", RedirectURL: "http://x", Verifier: secretsUsed[4], ExpiresAt: 1 << 40}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{store.SQLiteFileName, store.SQLiteFileName + "-wal"} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, sec := range secretsUsed {
			if bytes.Contains(raw, []byte(sec)) {
				t.Errorf("%s holds %q in clear", name, sec)
			}
		}
	}
}
