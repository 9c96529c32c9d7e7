package multihost

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
)

// TestProjectWebhookRegisteredOnceAcrossHosts: registrations of one
// repository's webhook sent at the same instant to two hosts (two admins
// behind the load balancer) leave one hook at GitLab, and the secret every
// host checks is the one that hook sends. GitLab answers each API call after
// 40 ms, so that without the repository's lease in the shared database both
// hosts would list no hook and each create one.
func TestProjectWebhookRegisteredOnceAcrossHosts(t *testing.T) {
	t.Parallel()
	c := newPostgresCluster(t, 2)
	id := c.startPAT(c.host(0))
	app := c.repository(c.host(1), id, "oore-demo/mobile/flutter-app")
	project := c.demo.FlutterApp.ID
	c.sim.SetLatency(40 * time.Millisecond)

	const perHost = 2
	type answer struct {
		status  int
		body    string
		hookID  string
		created bool
	}
	answers := make([]answer, 2*perHost)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			<-start
			r := c.do(c.host(i), "POST", "/v1/integration-repositories/"+app.ID+"/gitlab-webhook", nil)
			var out struct {
				HookID  string `json:"hook_id"`
				Created bool   `json:"created"`
			}
			_ = json.Unmarshal(r.Body, &out)
			answers[i] = answer{status: r.Status, body: string(r.Body), hookID: out.HookID, created: out.Created}
		})
	}
	close(start)
	wg.Wait()
	c.sim.SetLatency(0)

	hooks := c.sim.Hooks(project)
	if len(hooks) != 1 {
		ids := make([]int64, len(hooks))
		for i, h := range hooks {
			ids[i] = h.ID
		}
		t.Fatalf("%d registrations on 2 hosts left %d hooks at GitLab (ids %v), want 1", len(answers), len(hooks), ids)
	}
	hook := hooks[0]
	if hook.URL != publicURL+"/v1/webhooks/gitlab" {
		t.Fatalf("the hook delivers to %s", hook.URL)
	}
	created := 0
	for i, a := range answers {
		if a.status != http.StatusOK || a.hookID != strconv.FormatInt(hook.ID, 10) {
			t.Fatalf("registration %d on %s: %d %s; GitLab has hook %d", i, c.host(i).Name, a.status, a.body, hook.ID)
		}
		if a.created {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d answers say they created the hook, want 1", created)
	}
	// The hook's deliveries reach whichever host the load balancer picks;
	// every one accepts the hook's secret.
	ctx := context.Background()
	for i := range 2 {
		res, err := c.send(ctx, c.host(i), gitlabsim.WebhookSpec{ProjectID: project, Kind: "push", SecretToken: hook.Token})
		if err != nil {
			t.Fatalf("a delivery with the hook's secret on %s: %v", c.host(i).Name, err)
		}
		if res.Status != http.StatusOK {
			t.Fatalf("a delivery with the hook's secret on %s: %d %s", c.host(i).Name, res.Status, res.Body)
		}
	}
}
