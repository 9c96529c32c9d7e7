package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/host-test/pgtest"
)

// jobBackends open an empty store on each database the host runs on, with a
// clock the test moves.
func jobBackends() map[string]func(t *testing.T, c *clock) *store.SQL {
	kr := func(t *testing.T) *secrets.Keyring {
		k, err := secrets.New(bytes.Repeat([]byte{3}, secrets.KeySize))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	return map[string]func(t *testing.T, c *clock) *store.SQL{
		"sqlite": func(t *testing.T, c *clock) *store.SQL {
			s, err := store.OpenSQLite(context.Background(), t.TempDir(), kr(t), store.Options{Now: c.now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"postgres": func(t *testing.T, c *clock) *store.SQL {
			s, err := store.OpenPostgres(context.Background(), pgtest.NewDatabase(t), kr(t), store.Options{Now: c.now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// jobFixture is an integration with two repositories and deliveries: one
// that triggered two builds, one that triggered none.
type jobFixture struct {
	twoBuilds string // delivery id
	noBuilds  string // delivery id
}

func seedJobs(t *testing.T, s *store.SQL) jobFixture {
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
		{ExternalID: "1001", FullName: "oore-demo/mobile/flutter-app", Private: true},
		{ExternalID: "1002", FullName: "oore-demo/website"},
	}); err != nil {
		t.Fatal(err)
	}
	repos, _, err := s.ListRepositories(ctx, store.RepositoryQuery{IntegrationID: "i1", Limit: 10})
	if err != nil || len(repos) != 2 {
		t.Fatalf("repositories: %v, %v", repos, err)
	}
	app := repos[0] // ordered by full name
	f := jobFixture{twoBuilds: "d-two", noBuilds: "d-none"}
	_, err = s.RecordDelivery(ctx, store.Delivery{ID: f.twoBuilds, Provider: "gitlab", DeliveryID: "uuid-1", IntegrationID: "i1",
		RepositoryID: app.ID, RepositoryFullName: app.FullName, EventKind: "push"}, []store.BuildTrigger{
		{ID: "t-push", Kind: "push", Ref: "refs/heads/main", Branch: "main", SHA: "aaaa"},
		{ID: "t-mr", Kind: "merge_request", Ref: "refs/heads/feature", Branch: "feature", SHA: "bbbb", MergeRequestNumber: 7},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.RecordDelivery(ctx, store.Delivery{ID: f.noBuilds, Provider: "gitlab", DeliveryID: "uuid-2", IntegrationID: "i1",
		RepositoryID: app.ID, RepositoryFullName: app.FullName, EventKind: "tag_push", IgnoredReason: "tag pushes do not trigger builds"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestJobs(t *testing.T) {
	t.Parallel()
	for name, open := range jobBackends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := &clock{}
			c.t.Store(1_800_000_000)
			s := open(t, c)
			f := seedJobs(t, s)
			ctx := context.Background()

			triggers, err := s.DeliveryTriggers(ctx, f.twoBuilds)
			if err != nil || len(triggers) != 2 {
				t.Fatalf("triggers of a delivery with two builds: %+v, %v", triggers, err)
			}
			got := map[string]string{triggers[0].ID: triggers[0].SHA, triggers[1].ID: triggers[1].SHA}
			if got["t-push"] != "aaaa" || got["t-mr"] != "bbbb" {
				t.Fatalf("triggers = %+v", triggers)
			}
			if none, err := s.DeliveryTriggers(ctx, f.noBuilds); err != nil || len(none) != 0 {
				t.Fatalf("triggers of an ignored delivery: %+v, %v", none, err)
			}
			if _, err := s.DeliveryTriggers(ctx, "no-such-delivery"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("unknown delivery: %v, want ErrNotFound", err)
			}

			hash := sha256.Sum256([]byte("oore_job_secret"))
			exp := c.now().Add(time.Hour).Unix()
			job, err := s.CreateJob(ctx, store.Job{RunnerID: "runner-1", TokenHash: hash[:], DeliveryID: f.twoBuilds, TriggerID: "t-mr",
				CreatedBy: "tok1", ExpiresAt: exp})
			if err != nil {
				t.Fatal(err)
			}
			if job.ID == "" || job.RepositoryFullName != "oore-demo/mobile/flutter-app" || job.SHA != "bbbb" || job.Ref != "refs/heads/feature" ||
				job.Provider != "gitlab" || job.IntegrationID != "i1" || job.RepositoryExternalID != "1001" {
				t.Fatalf("created job = %+v", job)
			}
			read, err := s.GetJob(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(read.TokenHash, hash[:]) || read.RunnerID != "runner-1" || read.ExpiresAt != exp || read.CreatedAt != c.now().Unix() ||
				read.TriggerID != "t-mr" || read.DeliveryID != f.twoBuilds || read.RepositoryExternalID != "1001" || read.CreatedBy != "tok1" ||
				read.RepositoryFullName != job.RepositoryFullName || read.SHA != "bbbb" {
				t.Fatalf("read job = %+v, want %+v", read, job)
			}
			if _, err := s.GetJob(ctx, "no-such-job"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("unknown job: %v", err)
			}

			// A trigger of another delivery, or an unknown one, makes no job.
			for _, bad := range []struct{ delivery, trigger string }{{f.noBuilds, "t-push"}, {f.twoBuilds, "t-nope"}, {"d-nope", "t-push"}} {
				if _, err := s.CreateJob(ctx, store.Job{RunnerID: "r", TokenHash: hash[:], DeliveryID: bad.delivery, TriggerID: bad.trigger, ExpiresAt: exp}); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("job for trigger %s of delivery %s: %v, want ErrNotFound", bad.trigger, bad.delivery, err)
				}
			}
			if n := countRows(t, s, `SELECT COUNT(*) FROM jobs`); n != 1 {
				t.Fatalf("%d jobs stored, want 1", n)
			}

			// Jobs long expired are dropped when a new one is made; recently
			// expired ones stay (the proxy says "expired", not "unknown").
			old, err := s.CreateJob(ctx, store.Job{RunnerID: "r", TokenHash: hash[:], DeliveryID: f.twoBuilds, TriggerID: "t-push", ExpiresAt: c.now().Unix() + 60})
			if err != nil {
				t.Fatal(err)
			}
			c.advance(time.Duration(store.JobRetention)*time.Second + 2*time.Minute)
			if _, err := s.GetJob(ctx, old.ID); err != nil {
				t.Fatalf("an expired job vanished before a new job was made: %v", err)
			}
			fresh, err := s.CreateJob(ctx, store.Job{RunnerID: "r", TokenHash: hash[:], DeliveryID: f.twoBuilds, TriggerID: "t-push", ExpiresAt: c.now().Unix() + 60})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetJob(ctx, old.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a job expired longer ago than the retention is still there: %v", err)
			}
			if _, err := s.GetJob(ctx, job.ID); err != nil {
				t.Fatalf("a job expired for less than the retention is gone: %v", err)
			}

			// A job goes with its integration.
			if err := s.DeleteIntegration(ctx, "i1"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetJob(ctx, fresh.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("job of a deleted integration: %v", err)
			}
			if n := countRows(t, s, `SELECT COUNT(*) FROM jobs`); n != 0 {
				t.Fatalf("%d jobs left after their integration was deleted", n)
			}
		})
	}
}

// A repository that a sync no longer sees takes its jobs with it: a runner
// cannot fetch what the integration can no longer build.
func TestJobGoesWithItsRepository(t *testing.T) {
	t.Parallel()
	for name, open := range jobBackends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := &clock{}
			c.t.Store(1_800_000_000)
			s := open(t, c)
			f := seedJobs(t, s)
			ctx := context.Background()
			job, err := s.CreateJob(ctx, store.Job{RunnerID: "r", TokenHash: []byte{1}, DeliveryID: f.twoBuilds, TriggerID: "t-push", ExpiresAt: c.now().Unix() + 60})
			if err != nil {
				t.Fatal(err)
			}
			gen, err := s.BeginRepositorySync(ctx, "i1")
			if err != nil {
				t.Fatal(err)
			}
			inst, err := s.ListInstallations(ctx, "i1")
			if err != nil || len(inst) != 1 {
				t.Fatalf("installations: %v, %v", inst, err)
			}
			if err := s.UpsertRepositories(ctx, "i1", inst[0].ID, gen, []store.Repository{{ExternalID: "1002", FullName: "oore-demo/website"}}); err != nil {
				t.Fatal(err)
			}
			if removed, err := s.FinishRepositorySync(ctx, "i1", gen); err != nil || removed != 1 {
				t.Fatalf("sync removed %d, %v", removed, err)
			}
			if _, err := s.GetJob(ctx, job.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("job of a removed repository: %v", err)
			}
			if _, err := s.CreateJob(ctx, store.Job{RunnerID: "r", TokenHash: []byte{1}, DeliveryID: f.twoBuilds, TriggerID: "t-push", ExpiresAt: c.now().Unix() + 60}); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("job for a removed repository: %v", err)
			}
		})
	}
}

func countRows(t *testing.T, s *store.SQL, query string) int64 {
	t.Helper()
	var n int64
	if err := s.DB().QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
