package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/pgtest"
)

// Every migration exists for both databases, under the same name.
func TestMigrationSetsMatch(t *testing.T) {
	t.Parallel()
	lite, err := loadMigrations(sqliteDialect.migrations)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loadMigrations(postgresDialect.migrations)
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) == 0 || len(lite) != len(pg) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL migrations: write each change for both", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].name != pg[i].name {
			t.Errorf("migration %d is %s on SQLite but %s on PostgreSQL", i+1, lite[i].name, pg[i].name)
		}
	}
}

// A host that starts while another migrates waits for it; waiting ends with
// the context.
func TestPostgresMigrationsWaitForTheLock(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	kr, err := secrets.New(bytes.Repeat([]byte{1}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	holder, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if s, err := OpenPostgres(short, url, kr, Options{}); !errors.Is(err, context.DeadlineExceeded) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("open while another host migrates: %v, want to wait until the deadline", err)
	}
	opened := make(chan error, 1)
	go func() {
		s, err := OpenPostgres(ctx, url, kr, Options{})
		if err == nil {
			s.Close()
		}
		opened <- err
	}()
	var tables int
	if err := holder.QueryRow(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'integrations'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("migrated while the lock was held: %d tables, %v", tables, err)
	}
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_unlock($1)`, migrationLockKey); err != nil {
		t.Fatal(err)
	}
	if err := <-opened; err != nil {
		t.Fatalf("open after the lock was released: %v", err)
	}
	var locks int
	if err := holder.QueryRow(ctx, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&locks); err != nil || locks != 0 {
		t.Fatalf("%d advisory locks left after migrating, %v", locks, err)
	}
}

// A statement the database refuses as a duplicate is told apart from other
// errors on PostgreSQL as on SQLite.
func TestPostgresConflict(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	kr, err := secrets.New(bytes.Repeat([]byte{1}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenPostgres(context.Background(), url, kr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, dupErr := s.db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'x', 0)`)
	_, otherErr := s.db.Exec(`INSERT INTO no_such_table VALUES (1)`)
	if !postgresDialect.isConflict(dupErr) || postgresDialect.isConflict(otherErr) || postgresDialect.isConflict(sql.ErrNoRows) {
		t.Fatalf("isConflict: duplicate %v, other %v", dupErr, otherErr)
	}
}
