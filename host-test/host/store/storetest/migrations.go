package storetest

import (
	"sync"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// testMigrationsConcurrent: hosts that start at the same time on an empty
// database all come up, and each migration is recorded once.
func testMigrationsConcurrent(t *testing.T, e *env) {
	const hosts = 4
	var wg sync.WaitGroup
	opened := make(chan *store.SQL, hosts)
	errs := make(chan error, hosts)
	for range hosts {
		wg.Go(func() {
			s, err := e.open(ctx(t), e.kr, store.Options{Now: e.clock})
			if err != nil {
				errs <- err
				return
			}
			opened <- s
		})
	}
	wg.Wait()
	close(opened)
	close(errs)
	for s := range opened {
		t.Cleanup(func() { s.Close() })
	}
	for err := range errs {
		t.Errorf("a host starting with the others: %v", err)
	}
	if t.Failed() {
		return
	}
	s := e.host(t)
	rows := count(t, s, `SELECT COUNT(*) FROM schema_migrations`)
	distinct := count(t, s, `SELECT COUNT(DISTINCT version) FROM schema_migrations`)
	highest := count(t, s, `SELECT MAX(version) FROM schema_migrations`)
	if rows == 0 || rows != distinct || rows != highest {
		t.Fatalf("schema_migrations: %d rows, %d versions, highest %d; want each of 1..n once", rows, distinct, highest)
	}
	// The schema works: a host that started with the others writes, another reads.
	integration(t, s, "i1", store.Credentials{AccessToken: "glpat-x"})
	if _, err := e.host(t).GetIntegration(ctx(t), "i1"); err != nil {
		t.Fatal(err)
	}
}
