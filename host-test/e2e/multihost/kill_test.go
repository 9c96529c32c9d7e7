package multihost

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestHostKilledMidFlood: a flood of deliveries spread over three hosts, and
// one host is killed (SIGKILL) while it has deliveries in flight. Every
// delivery any host acknowledged is stored; the ones the killed host did not
// answer succeed on the others when resent; in the end each delivery is
// stored once with one build.
func TestHostKilledMidFlood(t *testing.T) {
	t.Parallel()
	c := newPostgresCluster(t, 3)
	id := c.startPAT(c.hosts[0])
	app := c.repository(c.hosts[0], id, "oore-demo/mobile/flutter-app")
	secret := c.webhookSecret(c.hosts[0], app.ID)
	tpl := c.pushTemplate(secret)
	victim := c.hosts[2]

	const deliveries = 600
	const killAfter = 40 // deliveries the victim acknowledged before it dies
	type outcome struct {
		host  int
		acked bool
	}
	outcomes := make([]outcome, deliveries)
	var victimAcks atomic.Int32
	killed := make(chan struct{})
	var killOnce sync.Once
	ctx := context.Background()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 36)
	for n := range deliveries {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			hi := n % 3
			res, err := c.deliverCopy(ctx, c.hosts[hi], tpl, secret, fmt.Sprintf("mh-kill-%04d", n))
			ok, dup := webhookAnswer(res)
			outcomes[n] = outcome{host: hi, acked: err == nil && ok}
			if hi != 2 && (err != nil || !ok || dup) {
				t.Errorf("delivery %d on a surviving host: %v %+v", n, err, res)
			}
			if hi == 2 && err == nil && ok && victimAcks.Add(1) == killAfter {
				killOnce.Do(func() {
					victim.Kill()
					close(killed)
				})
			}
		})
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("the victim acknowledged only %d deliveries; it was never killed", victimAcks.Load())
	}

	db := c.db()
	stored := map[string]bool{}
	rows, err := db.Query(`SELECT delivery_id FROM webhook_deliveries`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		stored[d] = true
	}
	rows.Close()
	var lostAcked, unanswered []int
	for n, o := range outcomes {
		if !o.acked {
			unanswered = append(unanswered, n)
			continue
		}
		if !stored[fmt.Sprintf("mh-kill-%04d", n)] {
			lostAcked = append(lostAcked, n)
		}
	}
	if len(lostAcked) > 0 {
		t.Fatalf("%d acknowledged deliveries are not stored: %v", len(lostAcked), lostAcked)
	}
	if len(unanswered) == 0 {
		t.Fatal("the victim answered everything: it was not killed mid-flood")
	}
	for _, n := range unanswered {
		if outcomes[n].host != 2 {
			t.Fatalf("delivery %d to a surviving host was not acknowledged", n)
		}
	}
	t.Logf("the victim acknowledged %d deliveries before SIGKILL; %d went unanswered", victimAcks.Load(), len(unanswered))

	// Resent by GitLab (or the load balancer) to the hosts still up.
	for i, n := range unanswered {
		h := c.hosts[i%2]
		res, err := c.deliverCopy(ctx, h, tpl, secret, fmt.Sprintf("mh-kill-%04d", n))
		if ok, _ := webhookAnswer(res); err != nil || !ok {
			t.Fatalf("resending delivery %d to %s: %v %+v", n, h.Name, err, res)
		}
	}
	if n := count(t, db, `SELECT COUNT(*) FROM webhook_deliveries`); n != deliveries {
		t.Fatalf("%d deliveries stored after the resends, want %d", n, deliveries)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM build_triggers`); n != deliveries {
		t.Fatalf("%d builds after the resends, want %d", n, deliveries)
	}
}
