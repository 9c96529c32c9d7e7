package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/host-test/pgtest"
)

// These tests pin how RecordDelivery locks its integration: deliveries of
// one integration do not wait for each other, yet one that races the
// integration's delete stores nothing (or has its build canceled). The
// PostgreSQL ones hold a transaction open at its commit -- after its last
// statement, with every lock it took -- by a deferred constraint trigger
// that waits for an advisory lock the test holds (holdAtCommit).

func sqliteDeliveryBackend() Backend {
	return Backend{NewDatabase: func(t *testing.T) Opener {
		dir := t.TempDir()
		return func(ctx context.Context, kr *secrets.Keyring, opts store.Options) (*store.SQL, error) {
			return store.OpenSQLite(ctx, dir, kr, opts)
		}
	}}
}

func postgresDeliveryBackend() Backend {
	return Backend{NewDatabase: func(t *testing.T) Opener {
		url := pgtest.NewDatabase(t) // skips without a server, as every PostgreSQL test does
		return func(ctx context.Context, kr *secrets.Keyring, opts store.Options) (*store.SQL, error) {
			return store.OpenPostgres(ctx, url, kr, opts)
		}
	}}
}

// last_webhook_at lags the newest delivery by less than
// store.LastWebhookStaleness and never goes back, on both databases.
func TestLastWebhookAtStaleness(t *testing.T) {
	t.Parallel()
	for name, b := range map[string]Backend{"SQLite": sqliteDeliveryBackend(), "PostgreSQL": postgresDeliveryBackend()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, b)
			a, other := e.host(t), e.host(t)
			integration(t, a, "i1", store.Credentials{AccessToken: "x"})
			lastWebhook := func() int64 {
				t.Helper()
				in, err := other.GetIntegration(ctx(t), "i1")
				if err != nil {
					t.Fatal(err)
				}
				return in.LastWebhookAt
			}
			record := func(id string, receivedAt int64) {
				t.Helper()
				d := delivery("i1", "r1", id)
				d.ReceivedAt = receivedAt
				if dup, err := a.RecordDelivery(ctx(t), d, pushTrigger("abc")); err != nil || dup {
					t.Fatalf("delivery %s: duplicate %v, %v", id, dup, err)
				}
			}
			if got := lastWebhook(); got != 0 {
				t.Fatalf("last_webhook_at before any delivery = %d", got)
			}
			const n = store.LastWebhookStaleness
			t0 := e.clock().Unix()
			record("d1", t0)
			if got := lastWebhook(); got != t0 {
				t.Fatalf("last_webhook_at after the first delivery = %d, want %d", got, t0)
			}
			record("d2", t0+n-1)
			if got := lastWebhook(); got != t0 {
				t.Fatalf("last_webhook_at %d s after = %d, want %d (it moves only once it is %d s old)", n-1, got, t0, n)
			}
			record("d3", t0+n)
			if got := lastWebhook(); got != t0+n {
				t.Fatalf("last_webhook_at %d s after = %d, want %d", n, got, t0+n)
			}
			// A delivery stamped earlier (another host's clock behind) does
			// not move it back, however far behind.
			record("d4", t0-10*n)
			if got := lastWebhook(); got != t0+n {
				t.Fatalf("last_webhook_at after an older delivery = %d, want %d", got, t0+n)
			}
			// Every delivery was stored with its build, whichever path it took.
			if n := count(t, other, `SELECT COUNT(*) FROM build_triggers WHERE status = 'queued'`); n != 4 {
				t.Fatalf("%d queued builds, want 4", n)
			}
		})
	}
}

// holdKey is the advisory lock holdAtCommit's trigger waits for.
const holdKey = 4242

// holdAtCommit makes every transaction that inserts a delivery whose id
// starts with "held", or deletes an integration, wait at its commit until
// release is called. waiting counts the sessions of the database that wait
// for a lock of one of kinds ("advisory": held at commit; "transactionid"
// or "tuple": waiting for another transaction's row lock).
func holdAtCommit(t *testing.T, s *store.SQL, url string) (release func(), waiting func(kinds ...string) int64) {
	t.Helper()
	for _, stmt := range []string{
		fmt.Sprintf(`CREATE FUNCTION test_hold_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_advisory_xact_lock_shared(%d); RETURN NULL; END $$`, holdKey),
		`CREATE CONSTRAINT TRIGGER test_hold_delivery AFTER INSERT ON webhook_deliveries DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.delivery_id LIKE 'held%') EXECUTE FUNCTION test_hold_at_commit()`,
		`CREATE CONSTRAINT TRIGGER test_hold_delete AFTER DELETE ON integrations DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION test_hold_at_commit()`,
	} {
		if _, err := s.DB().ExecContext(ctx(t), stmt); err != nil {
			t.Fatal(err)
		}
	}
	holder, err := pgx.Connect(ctx(t), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Close(context.Background()) })
	if _, err := holder.Exec(ctx(t), `SELECT pg_advisory_lock($1)`, holdKey); err != nil {
		t.Fatal(err)
	}
	released := false
	release = func() {
		t.Helper()
		if released {
			return
		}
		released = true
		if _, err := holder.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, holdKey); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(release) // a failing test must not leave the store's Close waiting
	waiting = func(kinds ...string) int64 {
		t.Helper()
		var n int64
		err := s.DB().QueryRowContext(ctx(t), `SELECT COUNT(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = ANY($1)`, kinds).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return release, waiting
}

// waitFor polls cond until it holds, or fails t after a while. It fails at
// once when whatever should be waiting has instead finished (finished
// reports the length of its result channel).
func waitFor(t *testing.T, what string, cond func() bool, finished ...func() int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		for _, f := range finished {
			if f() > 0 {
				t.Fatalf("finished instead of waiting: want %s", what)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type recorded struct {
	dup bool
	err error
}

func recordAsync(t *testing.T, s *store.SQL, d store.Delivery) <-chan recorded {
	out := make(chan recorded, 1)
	go func() {
		dup, err := s.RecordDelivery(ctx(t), d, pushTrigger("abc"))
		out <- recorded{dup, err}
	}()
	return out
}

// boundedWait is how long a delivery that must not queue behind another may
// take on a loaded machine; one that queues waits until the test lets the
// other commit, which it does not before this has passed.
const boundedWait = 10 * time.Second

// While one host's delivery has stored its rows and not yet committed,
// another host records a delivery of the same integration without waiting
// for it. (Before, each delivery's UPDATE of the integration's row made
// the second wait for the first's commit.)
func TestPostgresDeliveriesOfOneIntegrationDoNotQueue(t *testing.T) {
	t.Parallel()
	e, url := postgresEnv(t)
	a, b := e.host(t), e.host(t)
	integration(t, a, "i1", store.Credentials{AccessToken: "x"})
	// The integration has had a delivery just now, as it has under load.
	if _, err := a.RecordDelivery(ctx(t), delivery("i1", "r1", "first"), pushTrigger("abc")); err != nil {
		t.Fatal(err)
	}
	release, waiting := holdAtCommit(t, a, url)

	held := recordAsync(t, a, delivery("i1", "r1", "held-1"))
	waitFor(t, "the first delivery waits at its commit", func() bool { return waiting("advisory") == 1 })

	bounded, cancel := context.WithTimeout(ctx(t), boundedWait)
	defer cancel()
	start := time.Now()
	dup, err := b.RecordDelivery(bounded, delivery("i1", "r1", "free-1"), pushTrigger("def"))
	if err != nil || dup {
		t.Fatalf("a delivery of the same integration while another is being committed: duplicate %v, %v after %s"+
			" (it queued behind the uncommitted one)", dup, err, time.Since(start).Round(time.Millisecond))
	}
	select {
	case r := <-held:
		t.Fatalf("the held delivery finished before it was released: %+v", r)
	default:
	}
	release()
	if r := <-held; r.err != nil || r.dup {
		t.Fatalf("held delivery: duplicate %v, %v", r.dup, r.err)
	}
	if n := count(t, b, `SELECT COUNT(*) FROM build_triggers WHERE status = 'queued' AND integration_id = 'i1'`); n != 3 {
		t.Fatalf("%d queued builds, want 3", n)
	}
}

// A delivery that races the delete of its integration on PostgreSQL, in
// each order and whichever lock the delivery takes (the shared one, or the
// write of a stale last_webhook_at): the delivery stores nothing and fails
// with ErrNotFound, or it is stored first and the delete cancels its build.
func TestPostgresDeliveryRacingDelete(t *testing.T) {
	t.Parallel()
	pgtest.Server(t)
	for _, stale := range []bool{false, true} {
		name := "recent last_webhook_at"
		if stale {
			name = "stale last_webhook_at"
		}
		t.Run(name+"/delete first", func(t *testing.T) {
			t.Parallel()
			e, url := postgresEnv(t)
			a, b := e.host(t), e.host(t)
			prepareRace(t, e, a, stale)
			release, waiting := holdAtCommit(t, a, url)

			deleted := make(chan error, 1)
			go func() { deleted <- a.DeleteIntegration(ctx(t), "i1") }()
			waitFor(t, "the delete waits at its commit", func() bool { return waiting("advisory") == 1 })
			rec := recordAsync(t, b, delivery("i1", "r1", "during-delete"))
			waitFor(t, "the delivery waits for the delete", func() bool { return waiting("transactionid", "tuple") == 1 },
				func() int { return len(rec) })
			release()
			if err := <-deleted; err != nil {
				t.Fatal(err)
			}
			if r := <-rec; !errors.Is(r.err, store.ErrNotFound) {
				t.Fatalf("delivery recorded while its integration was being deleted: duplicate %v, %v; want ErrNotFound", r.dup, r.err)
			}
			if n := count(t, b, `SELECT COUNT(*) FROM webhook_deliveries WHERE delivery_id = 'during-delete'`); n != 0 {
				t.Fatalf("the refused delivery left %d rows", n)
			}
			if n := count(t, b, `SELECT COUNT(*) FROM build_triggers WHERE status = 'queued'`); n != 0 {
				t.Fatalf("%d queued builds outlive their integration", n)
			}
		})
		t.Run(name+"/delivery first", func(t *testing.T) {
			t.Parallel()
			e, url := postgresEnv(t)
			a, b := e.host(t), e.host(t)
			prepareRace(t, e, a, stale)
			release, waiting := holdAtCommit(t, a, url)

			rec := recordAsync(t, a, delivery("i1", "r1", "held-before-delete"))
			waitFor(t, "the delivery waits at its commit", func() bool { return waiting("advisory") == 1 })
			// The delete's own commit is held too: let it through once it
			// has waited for the delivery.
			deleted := make(chan error, 1)
			go func() { deleted <- b.DeleteIntegration(ctx(t), "i1") }()
			waitFor(t, "the delete waits for the delivery", func() bool { return waiting("transactionid", "tuple") == 1 },
				func() int { return len(deleted) + int(waiting("advisory")) - 1 }) // done, or at its own commit
			release()
			if r := <-rec; r.err != nil || r.dup {
				t.Fatalf("delivery committed before the delete: duplicate %v, %v", r.dup, r.err)
			}
			if err := <-deleted; err != nil {
				t.Fatal(err)
			}
			var status string
			err := b.DB().QueryRowContext(ctx(t), `SELECT t.status FROM build_triggers t JOIN webhook_deliveries d ON d.id = t.delivery_id
WHERE d.delivery_id = 'held-before-delete'`).Scan(&status)
			if err != nil || status != store.TriggerCanceled {
				t.Fatalf("build of the delivery stored before the delete: status %q, %v; want %q", status, err, store.TriggerCanceled)
			}
			if n := count(t, b, `SELECT COUNT(*) FROM build_triggers WHERE status = 'queued'`); n != 0 {
				t.Fatalf("%d queued builds outlive their integration", n)
			}
		})
	}
}

func postgresEnv(t *testing.T) (*env, string) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	return newEnv(t, Backend{NewDatabase: func(*testing.T) Opener {
		return func(ctx context.Context, kr *secrets.Keyring, opts store.Options) (*store.SQL, error) {
			return store.OpenPostgres(ctx, url, kr, opts)
		}
	}}), url
}

// prepareRace stores integration i1 with one delivery, and then moves the
// clock past store.LastWebhookStaleness when stale, so that the next
// delivery writes last_webhook_at (else it takes the shared lock).
func prepareRace(t *testing.T, e *env, s *store.SQL, stale bool) {
	t.Helper()
	integration(t, s, "i1", store.Credentials{AccessToken: "x"})
	if _, err := s.RecordDelivery(ctx(t), delivery("i1", "r1", "first"), nil); err != nil {
		t.Fatal(err)
	}
	if stale {
		e.advance(store.LastWebhookStaleness * time.Second)
	}
}
