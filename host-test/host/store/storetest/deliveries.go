package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

func delivery(integrationID, repoID, deliveryID string) store.Delivery {
	return store.Delivery{Provider: "gitlab", DeliveryID: deliveryID, IntegrationID: integrationID, RepositoryID: repoID,
		RepositoryFullName: "group/repo-001", EventKind: "push", EventName: "Push Hook", Events: `[{"kind":"push"}]`}
}

func pushTrigger(sha string) []store.BuildTrigger {
	return []store.BuildTrigger{{Kind: "push", Ref: "refs/heads/main", Branch: "main", SHA: sha}}
}

// testDeliveryDedupe: every delivery arrives twice, on different hosts, in
// random order and all at once: each is stored once with its trigger, and
// the other copy is answered as a duplicate.
func testDeliveryDedupe(t *testing.T, e *env) {
	hosts := e.hosts(t, 3)
	integration(t, hosts[0], "i1", store.Credentials{AccessToken: "x"})
	integration(t, hosts[0], "i2", store.Credentials{AccessToken: "y"})
	r := repositories(t, hosts[0], "i1", 1)[0]
	const deliveries = 150
	type copyOf struct{ n, host int }
	var work []copyOf
	for n := range deliveries {
		first := rand.IntN(3)
		work = append(work, copyOf{n, first}, copyOf{n, (first + 1 + rand.IntN(2)) % 3})
	}
	rand.Shuffle(len(work), func(i, j int) { work[i], work[j] = work[j], work[i] })
	var wg sync.WaitGroup
	var fresh, dups atomic.Int32
	errs := make(chan error, len(work))
	sem := make(chan struct{}, 24) // in flight at once
	for _, w := range work {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			id := fmt.Sprintf("uuid-%04d", w.n)
			dup, err := hosts[w.host].RecordDelivery(ctx(t), delivery("i1", r.ID, id), pushTrigger(fmt.Sprintf("%040d", w.n)))
			switch {
			case err != nil:
				errs <- err
			case dup:
				dups.Add(1)
			default:
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if fresh.Load() != deliveries || dups.Load() != deliveries {
		t.Fatalf("%d stored and %d duplicates, want %d of each", fresh.Load(), dups.Load(), deliveries)
	}
	if n := count(t, hosts[1], `SELECT COUNT(*) FROM build_triggers`); n != deliveries {
		t.Fatalf("%d build triggers, want %d", n, deliveries)
	}
	if n, err := hosts[2].CountDeliveries(ctx(t)); err != nil || n != deliveries {
		t.Fatalf("CountDeliveries = %d, %v", n, err)
	}
	list, total, err := hosts[1].ListDeliveries(ctx(t), store.DeliveryQuery{IntegrationID: "i1", Limit: 10, Offset: 5})
	if err != nil || total != deliveries || len(list) != 10 {
		t.Fatalf("ListDeliveries = %d of %d, %v", len(list), total, err)
	}
	for _, d := range list {
		if len(d.Triggers) != 1 || !d.Triggered || d.Triggers[0].DeliveryID != d.ID || d.Triggers[0].Status != store.TriggerQueued {
			t.Fatalf("delivery %s listed with triggers %+v", d.DeliveryID, d.Triggers)
		}
	}
	// The same delivery id for another integration is its own delivery.
	if dup, err := hosts[2].RecordDelivery(ctx(t), delivery("i2", "r9", "uuid-0000"), nil); err != nil || dup {
		t.Fatalf("another integration's delivery = duplicate %v, %v", dup, err)
	}
	// A delivery for an integration that does not exist stores nothing.
	if _, err := hosts[0].RecordDelivery(ctx(t), delivery("gone", "r", "x"), pushTrigger("abc")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delivery for an unknown integration: %v", err)
	}
	if n, _ := hosts[0].CountDeliveries(ctx(t)); n != deliveries+1 {
		t.Fatalf("deliveries = %d, want %d", n, deliveries+1)
	}
}

// testDeliveryRacingDelete: deliveries recorded on some hosts while another
// deletes the integration either fail (nothing stored) or are stored before
// the delete, which then cancels their builds: no queued build survives its
// integration.
func testDeliveryRacingDelete(t *testing.T, e *env) {
	hosts := e.hosts(t, 3)
	const rounds, perRound = 8, 6
	for round := range rounds {
		id := fmt.Sprintf("i%d", round)
		integration(t, hosts[0], id, store.Credentials{AccessToken: "x"})
		var wg sync.WaitGroup
		errs := make(chan error, perRound+1)
		start := make(chan struct{})
		for k := range perRound {
			wg.Go(func() {
				<-start
				_, err := hosts[k%2].RecordDelivery(ctx(t), delivery(id, "r1", fmt.Sprintf("d-%d", k)), pushTrigger("abc"))
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					errs <- err
				}
			})
		}
		wg.Go(func() {
			<-start
			if err := hosts[2].DeleteIntegration(ctx(t), id); err != nil {
				errs <- err
			}
		})
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	if n := count(t, hosts[0], `SELECT COUNT(*) FROM build_triggers WHERE status = 'queued'`); n != 0 {
		t.Fatalf("%d queued builds belong to deleted integrations", n)
	}
}

// testDeleteBlockedByRunningBuild: a build another host runs keeps the
// integration; once it ends, the delete goes through.
func testDeleteBlockedByRunningBuild(t *testing.T, e *env) {
	a, b := e.host(t), e.host(t)
	integration(t, a, "i1", store.Credentials{AccessToken: "x"})
	if _, err := a.RecordDelivery(ctx(t), delivery("i1", "r1", "d1"), pushTrigger("abc")); err != nil {
		t.Fatal(err)
	}
	list, _, err := b.ListDeliveries(ctx(t), store.DeliveryQuery{IntegrationID: "i1", Limit: 1})
	if err != nil || len(list) != 1 || len(list[0].Triggers) != 1 {
		t.Fatalf("ListDeliveries = %+v, %v", list, err)
	}
	trig := list[0].Triggers[0]
	if err := b.SetBuildTriggerStatus(ctx(t), trig.ID, store.TriggerRunning); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteIntegration(ctx(t), "i1"); !errors.Is(err, store.ErrActiveBuilds) {
		t.Fatalf("delete with a build running on another host: %v", err)
	}
	if _, err := b.GetIntegration(ctx(t), "i1"); err != nil {
		t.Fatalf("integration gone after a refused delete: %v", err)
	}
	if err := b.SetBuildTriggerStatus(ctx(t), trig.ID, store.TriggerDone); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteIntegration(ctx(t), "i1"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetBuildTriggerStatus(ctx(t), "nope", store.TriggerDone); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("status of an unknown trigger: %v", err)
	}
}

// testDeleteRemovesEverything: after a delete on one host, no host finds the
// integration's repositories, secrets, states or lock; its delivery history
// stays, its queued builds are canceled.
func testDeleteRemovesEverything(t *testing.T, e *env) {
	a, b := e.host(t), e.host(t)
	integration(t, a, "i1", store.Credentials{AccessToken: "x"})
	integration(t, a, "keep", store.Credentials{AccessToken: "y"})
	repos := repositories(t, a, "i1", 1, 2, 3)
	repositories(t, a, "keep", 1)
	if err := a.SetWebhookSecret(ctx(t), repos[0].ID, "whsec-1", startTime); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateOAuthState(ctx(t), store.OAuthState{ID: "st", IntegrationID: "i1", RedirectURL: "https://x/", Verifier: "v", ExpiresAt: startTime + 600}); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.AcquireRefreshLock(ctx(t), "i1", "A", 30); err != nil || !ok {
		t.Fatalf("lock: %v, %v", ok, err)
	}
	if _, err := a.RecordDelivery(ctx(t), delivery("i1", repos[0].ID, "d1"), pushTrigger("abc")); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteIntegration(ctx(t), "i1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetIntegration(ctx(t), "i1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted integration: %v", err)
	}
	if err := a.DeleteIntegration(ctx(t), "i1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := a.GetRepository(ctx(t), repos[1].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("repository of a deleted integration: %v", err)
	}
	if targets, err := a.WebhookTargets(ctx(t), "gitlab", "1"); err != nil || len(targets) != 0 {
		t.Fatalf("webhook targets of a deleted integration: %+v, %v", targets, err)
	}
	if _, err := a.ConsumeOAuthState(ctx(t), "st"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("OAuth state of a deleted integration: %v", err)
	}
	for table, want := range map[string]int64{"repositories": 1, "installations": 1, "refresh_locks": 0, "webhook_deliveries": 1} {
		if n := count(t, a, `SELECT COUNT(*) FROM `+table); n != want {
			t.Errorf("%s has %d rows after the delete, want %d", table, n, want)
		}
	}
	ds, _, err := b.ListDeliveries(ctx(t), store.DeliveryQuery{IntegrationID: "i1", Limit: 5})
	if err != nil || len(ds) != 1 || ds[0].Triggers[0].Status != store.TriggerCanceled {
		t.Fatalf("history after delete: %+v, %v", ds, err)
	}
	if _, _, err := b.ListRepositories(ctx(t), store.RepositoryQuery{IntegrationID: "keep", Limit: 5}); err != nil {
		t.Fatal(err)
	}
}
