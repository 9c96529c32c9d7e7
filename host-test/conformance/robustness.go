package conformance

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// robustnessCases: many callers, deadlines, garbage, and a dying host.
func robustnessCases() []testCase {
	return []testCase{
		{name: "robustness/concurrent-callers", run: caseConcurrent},
		{name: "robustness/deadlines-and-cancellation", run: caseDeadlines},
		{name: "robustness/malformed-burst", run: caseBurst},
		{name: "robustness/exits-when-host-dies", run: caseHostDeath},
	}
}

// tryConn is the working connection, or nil when the backend has none.
func (c *C) tryConn() *TokenConnection {
	if _, err := fetch(c.s, &c.s.conn, c.s.cfg.Backend.Connection); isUnsupported(err) {
		return nil
	}
	return c.conn()
}

// tryWebhook is the genuine delivery, or nil when the backend has none.
func (c *C) tryWebhook() *Webhook {
	if _, err := fetch(c.s, &c.s.webhook, c.s.cfg.Backend.Webhook); isUnsupported(err) {
		return nil
	}
	return c.webhook()
}

// problems collects what many goroutines find, counting repeats, so a
// failing burst reports a few lines rather than hundreds.
type problems struct {
	mu    sync.Mutex
	count map[string]int
}

func (p *problems) add(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.count == nil {
		p.count = map[string]int{}
	}
	p.count[fmt.Sprintf(format, args...)]++
}

func (p *problems) report(c *C) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msgs := make([]string, 0, len(p.count))
	for m := range p.count {
		msgs = append(msgs, m)
	}
	sort.Strings(msgs)
	for i, m := range msgs {
		if i == 10 {
			c.Errorf("… and %d more distinct problems", len(msgs)-10)
			return
		}
		c.Errorf("%s (%d times)", m, p.count[m])
	}
}

// caseConcurrent: Config.Concurrency callers, released at once, each make
// one call of every announced cheap RPC; every answer is the serial one.
func caseConcurrent(c *C) {
	tc, w := c.tryConn(), c.tryWebhookIfAnnounced()
	var p problems
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range c.s.cfg.Concurrency {
		wg.Go(func() {
			<-start
			resp, err := c.s.client.GetProviderInfo(c.ctx, &scmv1.GetProviderInfoRequest{})
			switch {
			case err != nil:
				p.add("GetProviderInfo failed: %s", scmerr.CodeOf(err))
			case !proto.Equal(resp.GetInfo(), c.s.info):
				p.add("GetProviderInfo answered differently under load")
			}
			if tc != nil && c.s.announces(scmv1.Capability_CAPABILITY_VALIDATE_CONNECTION) {
				resp, err := c.s.client.ValidateConnection(c.ctx, &scmv1.ValidateConnectionRequest{Connection: tc.Connection})
				switch {
				case err != nil:
					p.add("ValidateConnection failed: %s: %s", scmerr.CodeOf(err), c.redact(scmerr.Parse(err).Message))
				case tc.Account != nil && tc.Account.GetId() != "" && resp.GetAccount().GetId() != tc.Account.GetId():
					p.add("ValidateConnection answered account %q, want %q", resp.GetAccount().GetId(), tc.Account.GetId())
				}
			}
			if tc != nil && c.s.announces(scmv1.Capability_CAPABILITY_LIST_REPOSITORIES) {
				l, err := listAll(c.ctx, c.s.client, &scmv1.ListRepositoriesRequest{Connection: tc.Connection})
				switch {
				case err != nil:
					p.add("ListRepositories failed: %s: %s", scmerr.CodeOf(err), c.redact(scmerr.Parse(err).Message))
				case !sameIDs(l.repos, tc.Repositories):
					p.add("ListRepositories streamed other repositories than the backend's %d", len(tc.Repositories))
				}
			}
			if w != nil {
				resp, err := c.s.client.IdentifyWebhook(c.ctx, &scmv1.IdentifyWebhookRequest{Delivery: w.Delivery})
				switch {
				case err != nil:
					p.add("IdentifyWebhook failed: %s", scmerr.CodeOf(err))
				case resp.GetRepositoryExternalId() != w.RepositoryExternalID:
					p.add("IdentifyWebhook named repository %q, want %q", resp.GetRepositoryExternalId(), w.RepositoryExternalID)
				}
			}
			if tc != nil && len(tc.Repositories) > 0 && c.s.announces(scmv1.Capability_CAPABILITY_CLONE_CREDENTIALS) {
				repo := tc.Repositories[i%len(tc.Repositories)]
				_, err := c.s.client.GetCloneCredentials(c.ctx, &scmv1.GetCloneCredentialsRequest{Connection: tc.Connection, RepositoryExternalId: repo.GetExternalId(), FullName: repo.GetFullName()})
				if err != nil {
					p.add("GetCloneCredentials failed: %s: %s", scmerr.CodeOf(err), c.redact(scmerr.Parse(err).Message))
				}
			}
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	p.report(c)
	c.Logf("%d concurrent callers done in %s", c.s.cfg.Concurrency, time.Since(began).Round(time.Millisecond))
}

// sameIDs reports whether got and want hold the same set of external ids
// (duplicates are list_repositories/duplicate-free's business).
func sameIDs(got, want []*scmv1.Repository) bool {
	set := func(rs []*scmv1.Repository) map[string]bool {
		m := map[string]bool{}
		for _, r := range rs {
			m[r.GetExternalId()] = true
		}
		return m
	}
	return maps.Equal(set(got), set(want))
}

// contextWithCancel is a child of the case's context.
func contextWithCancel(c *C) (context.Context, context.CancelFunc) {
	return context.WithCancel(c.ctx)
}

// quiesceGrace is how soon after the host gives up on a call the provider
// must have no request left at the SCM.
const quiesceGrace = time.Second

// quiesceHold is how long a request started after the host gave up may
// stay at the SCM before it counts: a provider may race the cancellation
// into one more request, but it must abandon that at once.
const quiesceHold = 250 * time.Millisecond

// quiesce checks that the provider has no request left at the backend
// within quiesceGrace after the host gave up on a call, and keeps none
// there in the moments after: it passed the call's context to its requests
// and stopped paging. Callers set a latency longer than quiesceGrace, so a
// provider that ignores the context is still waiting when the grace ends.
func (c *C) quiesce(what string, slow SlowBackend) {
	deadline := time.Now().Add(quiesceGrace)
	for slow.InFlight() > 0 {
		if time.Now().After(deadline) {
			c.Errorf("%s, the provider still waited on %d request(s) to the SCM %s later: pass the call's context to every request", what, slow.InFlight(), quiesceGrace)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	var busySince time.Time
	for watch := time.Now().Add(2 * quiesceHold); time.Now().Before(watch) || !busySince.IsZero(); {
		n := slow.InFlight()
		switch {
		case n == 0:
			busySince = time.Time{}
		case busySince.IsZero():
			busySince = time.Now()
		case time.Since(busySince) >= quiesceHold:
			c.Errorf("%s, the provider started %d new request(s) to the SCM and still waited on them %s later: stop when the call ends", what, n, quiesceHold)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// caseDeadlines: while the SCM answers slowly, a call whose deadline passes
// ends with DeadlineExceeded, a call the host cancels ends with Canceled,
// and in both the provider abandons its requests to the SCM at once. Then
// the plugin serves normally. Needs a SlowBackend.
func caseDeadlines(c *C) {
	slow, ok := c.s.cfg.Backend.(SlowBackend)
	if !ok {
		c.Skipf("the backend cannot delay its answers (implement conformance.SlowBackend)")
	}
	var name string
	var call func(ctx context.Context, conn *scmv1.Connection) error
	switch {
	case c.s.announces(scmv1.Capability_CAPABILITY_LIST_REPOSITORIES):
		name = "ListRepositories"
		call = func(ctx context.Context, conn *scmv1.Connection) error {
			_, err := listAll(ctx, c.s.client, &scmv1.ListRepositoriesRequest{Connection: conn})
			return err
		}
	case c.s.announces(scmv1.Capability_CAPABILITY_VALIDATE_CONNECTION):
		name = "ValidateConnection"
		call = func(ctx context.Context, conn *scmv1.Connection) error {
			_, err := c.s.client.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: conn})
			return err
		}
	default:
		c.Skipf("the provider announces neither list_repositories nor validate_connection, the calls that reach the SCM")
	}
	tc := c.conn()
	const latency, limit = 3 * time.Second, 300 * time.Millisecond
	slow.SetLatency(latency)
	c.Cleanup(func() { slow.SetLatency(0) })

	ctx, cancel := context.WithTimeout(c.ctx, limit)
	began := time.Now()
	err := call(ctx, tc.Connection)
	took := time.Since(began)
	cancel()
	c.code(fmt.Sprintf("%s with a %s deadline while the SCM takes %s", name, limit, latency), err, codes.DeadlineExceeded)
	if took > limit+2*time.Second {
		c.Errorf("%s returned %s after its %s deadline", name, took-limit, limit)
	}
	c.quiesce(fmt.Sprintf("after %s's deadline passed", name), slow)

	ctx, cancel = context.WithCancel(c.ctx)
	timer := time.AfterFunc(limit, cancel)
	err = call(ctx, tc.Connection)
	timer.Stop()
	cancel()
	if st, _ := status.FromError(err); st.Code() != codes.Canceled {
		c.Errorf("%s cancelled by the host answered %s, want Canceled", name, describe(err))
	}
	c.quiesce(fmt.Sprintf("after %s was cancelled", name), slow)

	slow.SetLatency(0)
	c.ok(name+" once the SCM is fast again", call(c.ctx, tc.Connection))
}

// caseBurst sends Config.MalformedCalls malformed requests (garbage URLs,
// tokens, ids, webhook headers and bodies, from a fixed seed) to every
// announced RPC, eight at a time. None may answer Unknown or Internal (a
// recovered panic answers Internal), none may echo a secret, and afterwards
// the same plugin process still serves: it neither crashed nor restarted.
func caseBurst(c *C) {
	pid, restarts := c.s.plugin.Pid(), c.s.plugin.Restarts()
	calls := malformedCalls(c, c.s.cfg.MalformedCalls, c.tryConn(), c.tryWebhookIfAnnounced())
	var p problems
	codeCount := map[codes.Code]int{}
	var mu sync.Mutex
	work := make(chan malformedCall)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for mc := range work {
				ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
				err := mc.call(ctx)
				cancel()
				st, isStatus := status.FromError(err)
				mu.Lock()
				codeCount[st.Code()]++
				mu.Unlock()
				switch {
				case !isStatus:
					p.add("%s failed with a non-status error", mc.what)
				case st.Code() == codes.Unknown || st.Code() == codes.Internal:
					p.add("%s answered %s (%q): a provider maps every failure onto a contract code; Internal is a bug or a recovered panic", mc.what, st.Code(), c.redact(st.Message()))
				}
				if err != nil {
					if s, found := c.s.secrets.find(st.Message()); found {
						p.add("%s's error contains a secret: %s", mc.what, s)
					}
				}
			}
		})
	}
	for _, mc := range calls {
		work <- mc
	}
	close(work)
	wg.Wait()
	p.report(c)
	c.Logf("%d malformed calls answered: %v", len(calls), codeCount)
	if got := c.s.plugin.Pid(); got != pid {
		c.Errorf("the plugin process changed from pid %d to %d during the burst: it crashed", pid, got)
	}
	if got := c.s.plugin.Restarts(); got != restarts {
		c.Errorf("the plugin was restarted %d times during the burst", got-restarts)
	}
	_, err := c.s.client.GetProviderInfo(c.ctx, &scmv1.GetProviderInfoRequest{})
	c.ok("GetProviderInfo after the burst", err)
}

// tryWebhookIfAnnounced is the genuine delivery when the provider announces
// webhooks and the backend has one.
func (c *C) tryWebhookIfAnnounced() *Webhook {
	if !c.s.announces(scmv1.Capability_CAPABILITY_WEBHOOKS) {
		return nil
	}
	return c.tryWebhook()
}
