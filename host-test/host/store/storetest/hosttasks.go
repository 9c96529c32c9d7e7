package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// testHostTaskLeaseOneHolder: of many rounds on several hosts racing for a
// task's lease, exactly one gets it; another task's lease is independent.
func testHostTaskLeaseOneHolder(t *testing.T, e *env) {
	hosts := e.hosts(t, 3)
	n := raceForLease(t, hosts, func(h *store.SQL, holder string) (bool, error) {
		return h.AcquireHostTaskLease(ctx(t), "credential-check", holder, 120)
	})
	if n != 1 {
		t.Fatalf("%d rounds got the lease of one task, want 1", n)
	}
	if ok, err := hosts[1].AcquireHostTaskLease(ctx(t), "another-task", "other", 120); err != nil || !ok {
		t.Fatalf("the lease of another task: %v, %v, want it free", ok, err)
	}
}

// testHostTaskLastRun: a task's last run is 0 until a round that holds the
// lease records it, then every host reads it; a holder that lost the lease
// records nothing; the record outlives the lease's release.
func testHostTaskLastRun(t *testing.T, e *env) {
	a, b := e.host(t), e.host(t)
	const task = "credential-check"
	if at, err := b.HostTaskLastRun(ctx(t), task); err != nil || at != 0 {
		t.Fatalf("last run of a task that never ran: %d, %v, want 0", at, err)
	}
	if err := a.RecordHostTaskRun(ctx(t), task, "A", startTime); !errors.Is(err, store.ErrHostTaskLeaseNotHeld) {
		t.Fatalf("record without the lease: %v, want ErrHostTaskLeaseNotHeld", err)
	}
	if ok, err := a.AcquireHostTaskLease(ctx(t), task, "A", 120); err != nil || !ok {
		t.Fatalf("A acquire = %v, %v", ok, err)
	}
	if err := a.RecordHostTaskRun(ctx(t), task, "A", startTime); err != nil {
		t.Fatal(err)
	}
	if at, err := b.HostTaskLastRun(ctx(t), task); err != nil || at != startTime {
		t.Fatalf("B reads last run %d, %v, want %d", at, err, startTime)
	}
	e.advance(121 * time.Second) // A's host stalled past its lease
	if ok, _ := b.AcquireHostTaskLease(ctx(t), task, "B", 120); !ok {
		t.Fatal("B could not take an expired lease")
	}
	if err := a.RecordHostTaskRun(ctx(t), task, "A", startTime+200); !errors.Is(err, store.ErrHostTaskLeaseNotHeld) {
		t.Fatalf("A recorded a run after losing its lease: %v", err)
	}
	if err := b.RecordHostTaskRun(ctx(t), task, "B", startTime+121); err != nil {
		t.Fatal(err)
	}
	if err := a.ReleaseHostTaskLease(ctx(t), task, "A"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.AcquireHostTaskLease(ctx(t), task, "C", 120); ok {
		t.Fatal("A's release freed B's lease")
	}
	if err := b.ReleaseHostTaskLease(ctx(t), task, "B"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, a, `SELECT COUNT(*) FROM host_task_leases`); n != 0 {
		t.Fatalf("%d lease rows after every holder released, want 0", n)
	}
	if at, err := a.HostTaskLastRun(ctx(t), task); err != nil || at != startTime+121 {
		t.Fatalf("last run after the leases: %d, %v, want %d", at, err, startTime+121)
	}
}

// testTokenExpiresAt: a credentials check's expiry is seen by every host
// and leaves the status alone; an unknown integration is ErrNotFound.
func testTokenExpiresAt(t *testing.T, e *env) {
	a, b := e.host(t), e.host(t)
	integration(t, a, "i1", store.Credentials{AccessToken: "x", ExpiresAt: startTime + 86400})
	if err := a.SetTokenExpiresAt(ctx(t), "i1", startTime+7*86400); err != nil {
		t.Fatal(err)
	}
	in, err := b.GetIntegration(ctx(t), "i1")
	if err != nil || in.TokenExpiresAt != startTime+7*86400 || in.Status != store.StatusActive {
		t.Fatalf("after SetTokenExpiresAt: expires %d status %q, %v; want %d, active", in.TokenExpiresAt, in.Status, err, startTime+7*86400)
	}
	if err := a.SetTokenExpiresAt(ctx(t), "nope", 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown integration: %v, want ErrNotFound", err)
	}
}
