package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
)

// SQL is the Store on database/sql. OpenSQLite returns one; a PostgreSQL
// dialect plugs into the same code (see dialect.go).
type SQL struct {
	db  *sql.DB
	d   dialect
	kr  *secrets.Keyring
	now func() time.Time
}

// Options tune a SQL store. The zero value is usable.
type Options struct {
	// Now is the clock (default time.Now). Tests move it to expire OAuth
	// states and refresh locks without sleeping.
	Now func() time.Time
}

var _ Store = (*SQL)(nil)

func newSQL(db *sql.DB, d dialect, kr *secrets.Keyring, opts Options) *SQL {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &SQL{db: db, d: d, kr: kr, now: now}
}

// DB is the underlying database handle (tests, the CLI).
func (s *SQL) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *SQL) Close() error { return s.db.Close() }

// Ping checks the database answers.
func (s *SQL) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func (s *SQL) unix() int64 { return s.now().Unix() }

// newID returns a time-ordered UUID (v7), so ids sort by creation.
func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// q runs queries written with ? placeholders through the dialect.
type q struct {
	x querier
	d dialect
}

func (s *SQL) q() q { return q{x: s.db, d: s.d} }

func (c q) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.x.ExecContext(ctx, c.d.rebind(query), args...)
}

func (c q) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.x.QueryContext(ctx, c.d.rebind(query), args...)
}

func (c q) row(ctx context.Context, query string, args ...any) *sql.Row {
	return c.x.QueryRowContext(ctx, c.d.rebind(query), args...)
}

// tx runs fn in a transaction: committed when fn returns nil, else rolled back.
func (s *SQL) tx(ctx context.Context, fn func(c q) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(q{x: tx, d: s.d}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// affected reports the rows a statement changed.
func affected(res sql.Result) int64 {
	n, err := res.RowsAffected()
	if err != nil {
		return 0
	}
	return n
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
