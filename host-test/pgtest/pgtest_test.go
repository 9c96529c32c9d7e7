package pgtest_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/oore-ci/oore-scm-gitlab/host-test/pgtest"
)

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ in, name, want string }{
		"plain": {in: "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", name: "oore_test_1",
			want: "postgres://postgres@127.0.0.1:5432/oore_test_1?sslmode=disable"},
		"password kept": {in: "postgres://u:p%40ss@db:6543/admin", name: "x", want: "postgres://u:p%40ss@db:6543/x"},
		"no path":       {in: "postgresql://db", name: "x", want: "postgresql://db/x"},
	}
	for name, tc := range tests {
		got, err := pgtest.WithDatabase(tc.in, tc.name)
		if err != nil || got != tc.want {
			t.Errorf("%s: WithDatabase(%q, %q) = %q, %v; want %q", name, tc.in, tc.name, got, err, tc.want)
		}
	}
	if _, err := pgtest.WithDatabase("postgres://u:secret@db:bad port/x", "y"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("bad URL: %v (want an error without the password)", err)
	}
}

func TestNewDatabaseIsFreshAndDropped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	server := pgtest.Server(t)
	var dbURL string
	t.Run("use", func(t *testing.T) {
		dbURL = pgtest.NewDatabase(t)
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var tables int
		if err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Fatalf("new database has %d tables", tables)
		}
		if _, err := conn.Exec(ctx, `CREATE TABLE t (x int)`); err != nil {
			t.Fatal(err)
		}
		// A connection left open (a killed host's) must not stop the drop.
		if _, err := pgx.Connect(ctx, dbURL); err != nil {
			t.Fatal(err)
		}
	})
	if dbURL == "" {
		t.Fatal("no database was created")
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if !strings.HasPrefix(name, "oore_test_") {
		t.Fatalf("database name %q", name)
	}
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database %s still exists after its test ended", name)
	}
}

func TestTwoDatabasesDiffer(t *testing.T) {
	t.Parallel()
	a, b := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if a == b {
		t.Fatalf("two tests share database %s", a)
	}
}
