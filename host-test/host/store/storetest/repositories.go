package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// testRepositorySyncTwoHosts: two hosts sync the same integration at once,
// in opposite orders and in batches. Neither fails (no deadlock), the newer
// sync's view wins, and the older one's late finish removes nothing it saw.
func testRepositorySyncTwoHosts(t *testing.T, e *env) {
	a, b := e.host(t), e.host(t)
	integration(t, a, "i1", store.Credentials{AccessToken: "x"})
	stale := repositories(t, a, "i1", 900, 901) // gone from GitLab by the next sync
	if len(stale) != 2 {
		t.Fatalf("seeded %d repositories", len(stale))
	}
	inst, err := b.UpsertInstallation(ctx(t), store.Installation{IntegrationID: "i1", ExternalID: "42", AccountName: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for i := 1; i <= 120; i++ {
		ids = append(ids, i)
	}
	reversed := slices.Clone(ids)
	slices.Reverse(reversed)
	genA, err := a.BeginRepositorySync(ctx(t), "i1")
	if err != nil {
		t.Fatal(err)
	}
	genB, err := b.BeginRepositorySync(ctx(t), "i1")
	if err != nil || genB <= genA {
		t.Fatalf("generations %d then %d, %v", genA, genB, err)
	}
	syncAll := func(s *store.SQL, gen int64, order []int) error {
		for batch := range slices.Chunk(order, 10) {
			if err := s.UpsertRepositories(ctx(t), "i1", inst.ID, gen, repoSpecs(batch...)); err != nil {
				return err
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, w := range []struct {
		s     *store.SQL
		gen   int64
		order []int
	}{{a, genA, ids}, {b, genB, reversed}, {a, genA, reversed}, {b, genB, ids}} {
		wg.Go(func() {
			if err := syncAll(w.s, w.gen, w.order); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent sync batch: %v", err)
	}
	if t.Failed() {
		return
	}
	if removed, err := b.FinishRepositorySync(ctx(t), "i1", genB); err != nil || removed != 2 {
		t.Fatalf("newer sync removed %d, %v; want the 2 stale ones", removed, err)
	}
	if removed, err := a.FinishRepositorySync(ctx(t), "i1", genA); err != nil || removed != 0 {
		t.Fatalf("older sync finishing late removed %d, %v", removed, err)
	}
	list, total, err := a.ListRepositories(ctx(t), store.RepositoryQuery{IntegrationID: "i1", Limit: 100, Offset: 100})
	if err != nil || total != 120 || len(list) != 20 || list[0].FullName != "group/repo-101" {
		t.Fatalf("after both syncs: total %d, page %d, first %+v, %v", total, len(list), list, err)
	}
	if _, err := b.GetRepository(ctx(t), stale[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("stale repository: %v", err)
	}
	if ni, nr, err := b.IntegrationCounts(ctx(t), "i1"); err != nil || ni != 1 || nr != 120 {
		t.Fatalf("counts %d, %d, %v", ni, nr, err)
	}
	_, total, _ = b.ListRepositories(ctx(t), store.RepositoryQuery{Q: "REPO-1", Limit: 1})
	if total != 21 { // repo-100 .. repo-120
		t.Fatalf("search REPO-1 total %d, want 21", total)
	}
}

// testWebhookSecretRotation: a secret set on one host is the only one any
// host accepts from then on.
func testWebhookSecretRotation(t *testing.T, e *env) {
	hosts := e.hosts(t, 3)
	integration(t, hosts[0], "i1", store.Credentials{AccessToken: "x"})
	repos := repositories(t, hosts[0], "i1", 7, 8)
	r := repos[0]
	for _, s := range hosts {
		if targets, err := s.WebhookTargets(ctx(t), "gitlab", "7"); err != nil || len(targets) != 0 {
			t.Fatalf("a repository without a secret is a target: %+v, %v", targets, err)
		}
	}
	for i, secret := range []string{"whsec-first", "whsec-second", "whsec-third"} {
		setter := hosts[i%3]
		if err := setter.SetWebhookSecret(ctx(t), r.ID, secret, startTime+int64(i)); err != nil {
			t.Fatal(err)
		}
		for j, s := range hosts {
			targets, err := s.WebhookTargets(ctx(t), "gitlab", "7")
			if err != nil || len(targets) != 1 {
				t.Fatalf("host %d: targets %+v, %v", j, targets, err)
			}
			if targets[0].Secret != secret || targets[0].Repository.ID != r.ID || targets[0].Integration.ID != "i1" {
				t.Fatalf("host %d after rotation %d on host %d: secret or target differs", j, i, i%3)
			}
			got, err := s.GetRepository(ctx(t), r.ID)
			if err != nil || !got.HasWebhookSecret || got.WebhookSecretRotatedAt != startTime+int64(i) {
				t.Fatalf("host %d: repository %+v, %v", j, got, err)
			}
		}
	}
	if targets, _ := hosts[1].WebhookTargets(ctx(t), "gitea", "7"); len(targets) != 0 {
		t.Fatal("a secret of a gitlab repository answers for another provider")
	}
	if err := hosts[2].SetWebhookSecret(ctx(t), "nope", "s", 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("secret of an unknown repository: %v", err)
	}
}
