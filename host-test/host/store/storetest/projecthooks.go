package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// testProjectHookLeaseOneHolder: of many registrations on several hosts
// racing for one repository's project-webhook lease, exactly one gets it;
// another repository's lease is independent.
func testProjectHookLeaseOneHolder(t *testing.T, e *env) {
	hosts := e.hosts(t, 3)
	integration(t, hosts[0], "i1", store.Credentials{AccessToken: "x"})
	repos := repositories(t, hosts[0], "i1", 7, 8)
	n := raceForLease(t, hosts, func(h *store.SQL, holder string) (bool, error) {
		return h.AcquireProjectHookLease(ctx(t), repos[0].ID, holder, 30)
	})
	if n != 1 {
		t.Fatalf("%d registrations got the lease of one repository, want 1", n)
	}
	if ok, err := hosts[1].AcquireProjectHookLease(ctx(t), repos[1].ID, "other-repo", 30); err != nil || !ok {
		t.Fatalf("the lease of another repository: %v, %v, want it free", ok, err)
	}
}

// testProjectHookLease: the lease excludes a second holder until it is
// released or expires; its holder may extend it; a holder that lost it
// cannot save its hook and secret over the new holder's, and its release
// does not free the new holder's lease.
func testProjectHookLease(t *testing.T, e *env) {
	a, b := e.host(t), e.host(t)
	integration(t, a, "i1", store.Credentials{AccessToken: "x"})
	r := repositories(t, a, "i1", 7)[0]
	const url = "https://ci.example.com/v1/webhooks/gitlab"

	if _, err := a.SaveProjectHook(ctx(t), r.ID, "A", "41", url, "secret-unleased", startTime); !errors.Is(err, store.ErrLeaseNotHeld) {
		t.Fatalf("save without the lease: %v, want ErrLeaseNotHeld", err)
	}
	if ok, err := a.AcquireProjectHookLease(ctx(t), r.ID, "A", 30); err != nil || !ok {
		t.Fatalf("A acquire = %v, %v", ok, err)
	}
	if ok, err := b.AcquireProjectHookLease(ctx(t), r.ID, "B", 30); err != nil || ok {
		t.Fatalf("B took a held lease: %v, %v", ok, err)
	}
	e.advance(20 * time.Second)
	if ok, _ := a.AcquireProjectHookLease(ctx(t), r.ID, "A", 30); !ok {
		t.Fatal("A could not extend its lease")
	}
	e.advance(20 * time.Second)
	if ok, _ := b.AcquireProjectHookLease(ctx(t), r.ID, "B", 30); ok {
		t.Fatal("B took a lease A had extended")
	}
	e.advance(11 * time.Second) // A's host stalled past its lease
	if ok, _ := b.AcquireProjectHookLease(ctx(t), r.ID, "B", 30); !ok {
		t.Fatal("B could not take an expired lease")
	}
	if _, err := b.SaveProjectHook(ctx(t), r.ID, "B", "42", url, "secret-b", startTime+51); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SaveProjectHook(ctx(t), r.ID, "A", "42", url, "secret-a", startTime+52); !errors.Is(err, store.ErrLeaseNotHeld) {
		t.Fatalf("A saved after losing its lease: %v", err)
	}
	targets, err := a.WebhookTargets(ctx(t), "gitlab", "7")
	if err != nil || len(targets) != 1 || targets[0].Secret != "secret-b" {
		t.Fatalf("after A's refused save the secret is not B's: %d targets, %v", len(targets), err)
	}
	if err := a.ReleaseProjectHookLease(ctx(t), r.ID, "A"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.AcquireProjectHookLease(ctx(t), r.ID, "C", 30); ok {
		t.Fatal("A's release freed B's lease")
	}
	if err := b.ReleaseProjectHookLease(ctx(t), r.ID, "B"); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.AcquireProjectHookLease(ctx(t), r.ID, "C", 30); err != nil || !ok {
		t.Fatalf("a released lease could not be taken: %v, %v", ok, err)
	}
	if err := a.ReleaseProjectHookLease(ctx(t), r.ID, "C"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, a, `SELECT COUNT(*) FROM project_hook_leases`); n != 0 {
		t.Fatalf("%d lease rows after every holder released, want 0", n)
	}
	if h, err := b.GetProjectHook(ctx(t), r.ID); err != nil || h.HookID != "42" {
		t.Fatalf("hook after the leases: %+v, %v", h, err)
	}
}
