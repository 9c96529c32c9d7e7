// Package pgtest gives tests a PostgreSQL database of their own.
//
// It finds a running server (it does not start one: scripts/ci-postgres.sh
// does, and .ci/run calls it), creates a fresh database named
// oore_test_<random> for the test, and drops it when the test ends. The
// server is OORE_TEST_POSTGRES_URL when set; otherwise the local defaults are
// tried in order (DefaultURLs).
//
// When no server answers, a developer's test is skipped with a message that
// says how to get one, but under CI (CI=true) the test fails: CI always runs
// the PostgreSQL tests.
//
// What it is not: a fixture loader or a schema tool. Stores migrate their own
// databases.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable that points the tests at a PostgreSQL server: a
// URL whose user may create databases, e.g.
// postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable.
const EnvURL = "OORE_TEST_POSTGRES_URL"

// DefaultURLs are tried in order when EnvURL is unset: a server on the
// standard port, then the one scripts/ci-postgres.sh starts.
func DefaultURLs() []string {
	return []string{
		"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable",
	}
}

// HowToRun tells a developer how to run the PostgreSQL tests.
const HowToRun = "to run the PostgreSQL tests, start a server with `export " + EnvURL +
	"=\"$(scripts/ci-postgres.sh)\"` (as root: it installs Debian's postgresql package when missing) " +
	"or point " + EnvURL + " at a server whose user may CREATE DATABASE; CI=true turns this skip into a failure"

// connectTimeout bounds one attempt to reach a server.
const connectTimeout = 5 * time.Second

// Server returns the URL of a reachable PostgreSQL server (an administrative
// database on it, usually "postgres"). With no server it skips t, or fails
// it when the CI variable is "true".
func Server(t testing.TB) string {
	t.Helper()
	candidates := DefaultURLs()
	if v := os.Getenv(EnvURL); v != "" {
		candidates = []string{v}
	}
	var problems []string
	for _, u := range candidates {
		err := ping(t.Context(), u)
		if err == nil {
			return u
		}
		problems = append(problems, fmt.Sprintf("%s: %v", redact(u), err))
	}
	msg := "no PostgreSQL server reachable (" + strings.Join(problems, "; ") + "); " + HowToRun
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// NewDatabase creates an empty database for t on the server Server finds and
// returns its URL. The database, and every connection still open to it, is
// dropped when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	server := Server(t)
	name := "oore_test_" + randomSuffix()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := adminExec(ctx, server, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s on %s: %v", name, redact(server), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// WITH (FORCE) (PostgreSQL 13+) ends connections left open, e.g. by a
		// host process the test killed.
		if err := adminExec(ctx, server, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := WithDatabase(server, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// WithDatabase returns serverURL with its database replaced by name.
func WithDatabase(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("parse PostgreSQL URL: %w", urlProblem(err))
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

func ping(ctx context.Context, serverURL string) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

func adminExec(ctx context.Context, serverURL, stmt string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, stmt)
	return err
}

func randomSuffix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// urlProblem is what is wrong with a URL, without the URL (it may hold a
// password).
func urlProblem(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return errors.New("not a valid URL")
}

// redact hides a password in a URL before it reaches a log or an error.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
