package store_test

import (
	"context"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store/storetest"
	"github.com/oore-ci/oore-scm-gitlab/host-test/pgtest"
)

// The same conformance cases run on every database the host supports.

func TestConformanceSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.Backend{NewDatabase: func(t *testing.T) storetest.Opener {
		dir := t.TempDir()
		return func(ctx context.Context, kr *secrets.Keyring, opts store.Options) (*store.SQL, error) {
			return store.OpenSQLite(ctx, dir, kr, opts)
		}
	}})
}

func TestConformancePostgres(t *testing.T) {
	t.Parallel()
	pgtest.Server(t) // skip (or, under CI, fail) once rather than in every case
	storetest.Run(t, storetest.Backend{NewDatabase: func(t *testing.T) storetest.Opener {
		url := pgtest.NewDatabase(t)
		return func(ctx context.Context, kr *secrets.Keyring, opts store.Options) (*store.SQL, error) {
			return store.OpenPostgres(ctx, url, kr, opts)
		}
	}})
}
