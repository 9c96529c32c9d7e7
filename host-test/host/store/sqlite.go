package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
)

// SQLiteFileName is the database's name inside the data directory.
const SQLiteFileName = "oore-host.db"

var sqliteDialect = dialect{
	name:       "sqlite",
	migrations: "migrations/sqlite",
	rebind:     identity,
	isConflict: func(err error) bool {
		var se *sqlite.Error
		if !errors.As(err, &se) {
			return false
		}
		code := se.Code()
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	},
}

// OpenSQLite opens (creating it if needed) the embedded database in dataDir,
// in WAL mode with a busy timeout, foreign keys and secure delete on, and runs
// the embedded migrations.
func OpenSQLite(ctx context.Context, dataDir string, kr *secrets.Keyring, opts Options) (*SQL, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: create data dir %s: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, SQLiteFileName)
	params := url.Values{}
	for _, p := range []string{
		"busy_timeout(15000)",
		"journal_mode(WAL)",
		"synchronous(FULL)",
		"foreign_keys(1)",
		"secure_delete(1)",
	} {
		params.Add("_pragma", p)
	}
	// Write transactions take the write lock when they begin, so two of them
	// never deadlock upgrading a read lock; the busy timeout queues them.
	params.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + params.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: restrict permissions: %w", path, err)
	}
	s := newSQL(db, sqliteDialect, kr, opts)
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
