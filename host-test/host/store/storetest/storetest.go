// Package storetest is the conformance suite of the reference host's store:
// every database the host runs on (SQLite, PostgreSQL) passes the same cases,
// so no behaviour exists on one and not the other.
//
// Each case opens the database several times, as several host processes
// sharing it would, and checks what multi-host deployments rely on: one-time
// OAuth states used once across all hosts, deliveries deduplicated whichever
// host receives their copies, one refresh-lock holder across hosts, one
// project-webhook lease holder per repository across hosts,
// one lease holder per periodic host task across hosts, a rotated
// webhook secret seen by every host at once, migrations that tolerate hosts
// starting together, and values that round-trip unchanged (64-bit times,
// booleans, bytes, text).
//
// A backend's test calls Run:
//
//	func TestConformancePostgres(t *testing.T) {
//		storetest.Run(t, storetest.Backend{NewDatabase: ...})
//	}
//
// What it is not: a test of one store's private details (file permissions,
// PRAGMAs, connection settings); those stay beside each store.
package storetest

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// Opener opens a store on one database. Every call is another host
// process's view of the same data: its own connections, its own clock
// (opts.Now) and keyring. It may be called from several goroutines at once;
// the caller closes what it returns.
type Opener func(ctx context.Context, kr *secrets.Keyring, opts store.Options) (*store.SQL, error)

// Backend is a database the store runs on.
type Backend struct {
	// NewDatabase creates an empty database that lives as long as t (or
	// skips t when the backend is not available) and returns its Opener.
	NewDatabase func(t *testing.T) Opener
}

// Run runs every conformance case against b, each in its own database, in
// parallel.
func Run(t *testing.T, b Backend) {
	t.Helper()
	for name, c := range cases() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c(t, newEnv(t, b))
		})
	}
}

// cases are the conformance cases by name.
func cases() map[string]func(t *testing.T, e *env) {
	return map[string]func(t *testing.T, e *env){
		"MigrationsWhileHostsStartTogether":       testMigrationsConcurrent,
		"APITokensAcrossHosts":                    testAPITokens,
		"IntegrationLifecycleAcrossHosts":         testIntegrationLifecycle,
		"ListIntegrationsFiltersAndSorts":         testListIntegrations,
		"ValuesRoundTrip":                         testValuesRoundTrip,
		"RepositorySyncFromTwoHosts":              testRepositorySyncTwoHosts,
		"WebhookSecretRotationSeenAtOnce":         testWebhookSecretRotation,
		"OAuthStateConsumedOnceAcrossHosts":       testOAuthStateOnce,
		"OAuthStateExpiry":                        testOAuthStateExpiry,
		"RefreshLockOneHolderAcrossHosts":         testRefreshLockOneHolder,
		"RefreshLockLeaseExpiry":                  testRefreshLockLease,
		"CredentialStoreExcludesAcrossHosts":      testCredentialStoreExclusion,
		"ProjectHookLeaseOneHolderAcrossHosts":    testProjectHookLeaseOneHolder,
		"ProjectHookLeaseExpiryAndRelease":        testProjectHookLease,
		"OneRefreshAcrossHosts":                   testOneRefreshAcrossHosts,
		"HostTaskLeaseOneHolderAcrossHosts":       testHostTaskLeaseOneHolder,
		"HostTaskLastRunAcrossHosts":              testHostTaskLastRun,
		"TokenExpiresAtAcrossHosts":               testTokenExpiresAt,
		"DeliveriesDedupedAcrossHosts":            testDeliveryDedupe,
		"DeliveryRacingDeleteLeavesNoQueuedBuild": testDeliveryRacingDelete,
		"DeleteBlockedByRunningBuild":             testDeleteBlockedByRunningBuild,
		"DeleteRemovesEverything":                 testDeleteRemovesEverything,
		"SecretsSealedAtRest":                     testSecretsSealedAtRest,
		"HostWithAnotherKeyReadsNoSecret":         testAnotherKey,
		"AuditAcrossHosts":                        testAudit,
		"CanceledContext":                         testCanceledContext,
	}
}

// env is one case's database and clock.
type env struct {
	open Opener
	kr   *secrets.Keyring
	now  atomic.Int64
}

func newEnv(t *testing.T, b Backend) *env {
	t.Helper()
	kr, err := secrets.New(bytes.Repeat([]byte{7}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{open: b.NewDatabase(t), kr: kr}
	e.now.Store(startTime)
	return e
}

// startTime is the cases' clock at start: past 2^31 seconds would be year
// 2038; this is 2027, and cases add more than 2^32 to some values.
const startTime = 1_800_000_000

// clock is the shared clock of every host of a case.
func (e *env) clock() time.Time { return time.Unix(e.now.Load(), 0) }

func (e *env) advance(d time.Duration) { e.now.Add(int64(d / time.Second)) }

// host opens the case's database once more, as another host process.
func (e *env) host(t *testing.T) *store.SQL {
	t.Helper()
	s, err := e.open(ctx(t), e.kr, store.Options{Now: e.clock})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// hosts opens n hosts.
func (e *env) hosts(t *testing.T, n int) []*store.SQL {
	t.Helper()
	out := make([]*store.SQL, n)
	for i := range out {
		out[i] = e.host(t)
	}
	return out
}

func ctx(t *testing.T) context.Context { return t.Context() }
