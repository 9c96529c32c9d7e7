package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
)

// PostgreSQL error codes the store tells apart (SQLSTATE, appendix A of the
// PostgreSQL manual).
const (
	pgUniqueViolation = "23505"
)

// migrationLockKey names the session-level advisory lock a host holds while
// it migrates a PostgreSQL database, so hosts that start together apply each
// migration once, one after the other ("ooremigr" in ASCII).
const migrationLockKey int64 = 0x6f6f72656d696772

// Connection pool bounds of one host on PostgreSQL. Several hosts share one
// server: MaxConns per host keeps a fleet of them under the server's
// max_connections (100 by default).
const (
	postgresMaxConns        = 16
	postgresConnMaxIdleTime = 5 * time.Minute
)

var postgresDialect = dialect{
	name:       "postgres",
	migrations: "migrations/postgres",
	rebind:     dollarPlaceholders,
	isConflict: func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == pgUniqueViolation
	},
}

// IsPostgresURL reports whether a --database value names a PostgreSQL
// database (postgres:// or postgresql://) rather than an SQLite data directory.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// RedactURL returns a database URL fit for logs and errors: its password, if
// any, replaced by xxxxx. A value that does not parse is replaced whole.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable database URL)"
	}
	return u.Redacted()
}

// OpenPostgres connects to the PostgreSQL database at databaseURL
// (postgres://user[:password]@host[:port]/dbname?sslmode=...; the database
// must exist) through pgx, and brings its schema up to date: the embedded
// migrations run under an advisory lock, so hosts that start at the same time
// migrate one after the other and each migration is applied once.
//
// Several hosts may open the same database: every piece of state they must
// agree on lives in it (see the package doc), and they must share the
// keyring's key (OORE_ENCRYPTION_KEY) to read each other's secrets.
func OpenPostgres(ctx context.Context, databaseURL string, kr *secrets.Keyring, opts Options) (*SQL, error) {
	where := RedactURL(databaseURL)
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("open store %s: %w", where, err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(postgresMaxConns)
	db.SetMaxIdleConns(postgresMaxConns)
	db.SetConnMaxIdleTime(postgresConnMaxIdleTime)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", where, err)
	}
	s := newSQL(db, postgresDialect, kr, opts)
	if err := withAdvisoryLock(ctx, db, migrationLockKey, func() error { return s.migrate(ctx) }); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", where, err)
	}
	return s, nil
}

// withAdvisoryLock runs fn while one connection of db holds the session-level
// advisory lock key. Waiting for the lock ends when ctx is done (pgx cancels
// the query). fn may use other connections of db.
func withAdvisoryLock(ctx context.Context, db *sql.DB, key int64, fn func() error) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("advisory lock %d: %w", key, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("advisory lock %d: %w", key, err)
	}
	defer func() {
		// A fresh context: the lock must be given back even when ctx ended.
		// Should the unlock fail, closing the connection below drops the lock.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, uerr := conn.ExecContext(uctx, `SELECT pg_advisory_unlock($1)`, key); uerr != nil {
			// ErrBadConn makes database/sql close the connection, not reuse it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			if err == nil {
				err = fmt.Errorf("advisory unlock %d: %w", key, uerr)
			}
		}
	}()
	return fn()
}
