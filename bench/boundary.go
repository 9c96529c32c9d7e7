package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/oore-ci/oore-scm-gitlab/bench/internal/peerplugin"
	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
	"github.com/oore-ci/oore-scm-gitlab/shared/webhooksession"
)

// webhooks measures goals 1 to 3: the floor, the provider in-process,
// client-go, the plugin (unary, one verify call over the session, one
// receive call, a repository's first delivery) and the peer, interleaved in
// the same rounds, for a 2-commit and a 20-commit push; then the same with
// 8 concurrent callers.
func (r *run) webhooks(ctx context.Context) error {
	rig, err := startWebhookRig(ctx, r.bins, r.dir, rigOptions{env: r.cfg.PluginEnv}, r.progress)
	if err != nil {
		return err
	}
	defer rig.close()
	for _, n := range []int{20, 2} {
		paths, err := rig.paths(ctx, n)
		if err != nil {
			return err
		}
		if paths.receive == nil {
			return errReceiveNotServed
		}
		if err := r.sequentialFigures(n, paths); err != nil {
			return err
		}
		if n == 20 {
			if err := r.concurrentFigures(paths); err != nil {
				return err
			}
		}
	}
	return nil
}

// errReceiveNotServed: the plugin measured predates receive, so the path a
// host's intake takes cannot be measured.
var errReceiveNotServed = errors.New("the plugin does not serve WebhookSession receive (a build older than shared/webhooksession): " +
	"the intake's one-round-trip path cannot be measured; run `make build` and pass -plugin-dir dist/plugins/gitlab")

// webhookRig is everything the webhook figures need running: the plugin,
// two webhook sessions to it, the peer plugin, the echo server, the
// provider in-process, and the deliveries.
type webhookRig struct {
	hooks map[int]*webhook
	prov  *gitlab.Provider
	plug  *launcher.Plugin
	// sess is the session a host's intake keeps: it learns a repository's
	// secret from one verify call with a secret_ref, after which a receive
	// call identifies and verifies a delivery in one round trip. nil when
	// the plugin does not serve WebhookSession.
	sess *webhooksession.Client
	// fresh is a second session, never given a secret_ref: its receive
	// calls answer identity only, as for a repository's first delivery in
	// a session.
	fresh *webhooksession.Client
	peer  *peerplugin.Client
	floor *echoServer
	stops []func()
}

// rigOptions are how a webhook rig launches its plugins.
type rigOptions struct {
	// env is extra environment for the GitLab plugin, peerEnv the peer's.
	env, peerEnv []string
	// maxProcs is launcher.Options.MaxProcs: 0 is what ships (one P), -1
	// leaves GOMAXPROCS to the runtime (one P per core). A GOMAXPROCS in
	// env wins over both.
	maxProcs int
}

// startWebhookRig launches the plugin, the peer and the echo server, opens
// the two webhook sessions and makes 2- and 20-commit pushes. progress may
// be nil.
func startWebhookRig(ctx context.Context, bins *binaries, dir string, opts rigOptions, progress func(string, ...any)) (rig *webhookRig, err error) {
	rig = &webhookRig{prov: gitlab.New()}
	defer func() {
		if err != nil {
			rig.close()
		}
	}()
	if rig.hooks, err = pushWebhooks(ctx, 2, 20); err != nil {
		return nil, err
	}
	if rig.plug, err = launcher.Launch(ctx, bins.plugin, launcher.Options{ChecksumCache: launcher.NewChecksumCache(), Env: opts.env, MaxProcs: opts.maxProcs}); err != nil {
		return nil, err
	}
	rig.stops = append(rig.stops, func() { _ = rig.plug.Close() })
	peerSum, err := fileSHA256(bins.peer)
	if err != nil {
		return nil, err
	}
	if rig.peer, err = peerplugin.Launch(bins.peer, peerplugin.LaunchOptions{Checksum: peerSum, Env: opts.peerEnv}); err != nil {
		return nil, err
	}
	rig.stops = append(rig.stops, rig.peer.Close)
	if rig.floor, err = startEcho(ctx, bins.echo, dir); err != nil {
		return nil, err
	}
	rig.stops = append(rig.stops, func() { _ = rig.floor.stop() })
	if rig.sess, err = openServedSession(ctx, rig.plug, rig.hooks[20]); err != nil {
		return nil, err
	}
	if rig.sess == nil {
		if progress != nil {
			progress("WebhookSession is not served by the plugin: the plugin figures use unary VerifyWebhook")
		}
		return rig, nil
	}
	rig.stops = append(rig.stops, func() { _ = rig.sess.Close() })
	rig.fresh = webhooksession.NewClient(rig.plug.Provider())
	rig.stops = append(rig.stops, func() { _ = rig.fresh.Close() })
	return rig, nil
}

// paths checks every path against the n-commit push and returns them.
func (rig *webhookRig) paths(ctx context.Context, n int) (*webhookPaths, error) {
	return newWebhookPaths(ctx, rig.hooks[n], rig)
}

// close stops everything the rig started, newest first.
func (rig *webhookRig) close() {
	for i := len(rig.stops) - 1; i >= 0; i-- {
		rig.stops[i]()
	}
	rig.stops = nil
}

// openServedSession opens a WebhookSession (the client a host uses) and
// returns nil, nil when the plugin does not serve it yet.
func openServedSession(ctx context.Context, plug *launcher.Plugin, h *webhook) (*webhooksession.Client, error) {
	sess := webhooksession.NewClient(plug.Provider())
	_, err := sess.Verify(ctx, h.request())
	if status.Code(err) == codes.Unimplemented {
		_ = sess.Close()
		return nil, nil
	}
	if err != nil {
		_ = sess.Close()
		return nil, fmt.Errorf("webhook session: %w", err)
	}
	return sess, nil
}

// secretRef is the reference the bench gives a session for h's secret, as a
// host names a repository's current secret: an opaque name, never the
// secret.
func secretRef(h *webhook) string { return "bench-ref-" + h.projectID + "-1" }

// learnSecret makes sess hold h's secret the way a host's intake teaches
// it on a repository's first delivery: one verify call with a secret_ref.
// The answer must equal want (nil: not compared).
func learnSecret(ctx context.Context, sess *webhooksession.Client, h *webhook, want *scmv1.VerifyWebhookResponse) error {
	req := h.request()
	req.SecretRef = secretRef(h)
	got, err := sess.Verify(ctx, req)
	if err != nil {
		return fmt.Errorf("verify a %d-commit push with a secret_ref over a webhook session: %w", h.commits, err)
	}
	if want != nil && !proto.Equal(got, want) {
		return fmt.Errorf("verify a %d-commit push with a secret_ref: the session's answer differs from the in-process one", h.commits)
	}
	return nil
}

// receiveOp is a host's intake of h in steady state: one receive call over
// sess, which must hold h's secret already (learnSecret). Every answer must
// be verified under h's secret_ref: a session that lost the secret (a
// plugin restart) answers identity only, less work that would flatter the
// figure.
func receiveOp(ctx context.Context, sess *webhooksession.Client, h *webhook) op {
	req := &scmv1.ReceiveWebhookRequest{Delivery: deliveryOf(h.header, h.body)}
	ref := secretRef(h)
	return func() error {
		r, err := sess.Receive(ctx, req)
		if err != nil {
			return err
		}
		if r.GetVerified() == nil || r.GetSecretRef() != ref {
			return fmt.Errorf("receive of a %d-commit push answered verified=%v secret_ref=%q, want verified under %q: the session no longer holds the secret",
				h.commits, r.GetVerified() != nil, r.GetSecretRef(), ref)
		}
		return nil
	}
}

// receiveRefused: the plugin's session does not know receive (a build from
// before it), as opposed to refusing the delivery. Sessions that predate
// receive answer a call they cannot read InvalidArgument on the field
// "call"; newer ones answer an unknown call Unimplemented.
func receiveRefused(err error) bool {
	d := scmerr.Parse(err)
	return d.Code == codes.Unimplemented || (d.Code == codes.InvalidArgument && slices.Contains(d.FieldNames(), "call"))
}

// The operations sequentialFigures interleaves, by index.
const (
	opFloor    = iota // raw Unix-socket round trip
	opInproc          // VerifyWebhook in-process
	opInprocID        // IdentifyWebhook + VerifyWebhook in-process: what one receive call does in the plugin
	opClientgo        // client-go ParseWebhook
	opUnary           // unary VerifyWebhook through the plugin
	opPeer            // the peer plugin's one call
	opSession         // one verify call over the session
	opReceive         // one receive call, the session holding the secret
	opFirst           // a repository's first delivery in a session: receive (identity only) + verify
	numOps
)

func (r *run) sequentialFigures(n int, w *webhookPaths) error {
	self := os.Getpid()
	plugin, peerPID := cpuMeter{self, w.pids.plugin}, cpuMeter{self, w.pids.peer}
	ops := make([]op, numOps)
	meters := make([]cpuMeter, numOps)
	for i, o := range []struct {
		op op
		m  cpuMeter
	}{
		opFloor: {w.floor, cpuMeter{self, w.pids.echo}}, opInproc: {w.inproc, cpuMeter{self}}, opInprocID: {w.inprocIDV, cpuMeter{self}},
		opClientgo: {w.clientgo, cpuMeter{self}}, opUnary: {w.unary, plugin}, opPeer: {w.peer, peerPID},
		opSession: {w.session, plugin}, opReceive: {w.receive, plugin}, opFirst: {w.firstDelivery, plugin},
	} {
		ops[i], meters[i] = o.op, o.m
	}
	seq := r.sz.seq
	seq.settle = settleProcesses(w.pids.echo, w.pids.plugin, w.pids.peer)
	// The floor alone, back to back, before the interleaved rounds: the
	// stricter baseline (no other process was just woken or left work).
	alone, aloneCPU, err := seq.sequentialCPU([]op{w.floor}, []cpuMeter{{self, w.pids.echo}})
	if err != nil {
		return fmt.Errorf("%d-commit push, floor alone: %w", n, err)
	}
	rounds, cpu, err := seq.sequentialCPU(ops, meters)
	if err != nil {
		return fmt.Errorf("%d-commit push: %w", n, err)
	}
	sfx := sfxOf(n)
	suffix := func(name string) string {
		if n == 20 {
			return name
		}
		return name + "_" + sfx
	}
	cpuFloor := median(aloneCPU[0])
	r.report.add(secCPU,
		Figure{Name: fmt.Sprintf("cpu_%s_floor_us", sfx), Value: cpuFloor, Unit: "us", Label: fmt.Sprintf("%s raw round trip: CPU, both processes", sfx), Note: "alone, back to back"},
		Figure{Name: fmt.Sprintf("cpu_%s_inproc_us", sfx), Value: median(cpu[opInproc]), Unit: "us", Label: fmt.Sprintf("%s verify in-process: CPU", sfx)},
		Figure{Name: fmt.Sprintf("cpu_%s_inproc_identify_verify_us", sfx), Value: median(cpu[opInprocID]), Unit: "us", Label: fmt.Sprintf("%s identify + verify in-process: CPU", sfx)},
		Figure{Name: fmt.Sprintf("cpu_%s_plugin_us", sfx), Value: median(cpu[opSession]), Unit: "us", Label: fmt.Sprintf("%s one verify call over the session: CPU, host + plugin", sfx)},
		Figure{Name: fmt.Sprintf("cpu_%s_plugin_receive_us", sfx), Value: median(cpu[opReceive]), Unit: "us", Label: fmt.Sprintf("%s one receive call: CPU, host + plugin", sfx)},
		Figure{Name: fmt.Sprintf("cpu_%s_peer_us", sfx), Value: median(cpu[opPeer]), Unit: "us", Label: fmt.Sprintf("%s through the peer: CPU, host + peer", sfx)},
		Figure{Name: fmt.Sprintf("cpu_boundary_vs_socket_ratio_%s", sfx), Value: ratio(medianDiff(cpu[opSession], cpu[opInproc]), cpuFloor), Unit: "x", Label: fmt.Sprintf("%s boundary CPU / raw round trip CPU, verify call", sfx), Note: "less sensitive than wall time to other load on the machine"},
		Figure{Name: fmt.Sprintf("cpu_boundary_vs_socket_receive_ratio_%s", sfx), Value: ratio(medianDiff(cpu[opReceive], cpu[opInprocID]), cpuFloor), Unit: "x", Label: fmt.Sprintf("%s boundary CPU / raw round trip CPU, receive call", sfx), Note: "receive − identify + verify in-process"},
	)
	rtt := median(alone[0]) // the headline floor: measured alone, the stricter and steadier reading
	rttInterleaved := median(rounds[opFloor])
	overhead := medianDiff(rounds[opSession], rounds[opInproc])
	overheadReceive := medianDiff(rounds[opReceive], rounds[opInprocID])
	overheadUnary := medianDiff(rounds[opUnary], rounds[opInproc])
	floorNote := fmt.Sprintf("echo server in a child process over a Unix socket, %d bytes out, %d back; alone, back to back", w.reqSize, w.respSize)
	r.report.add(secBoundary,
		Figure{Name: suffix("raw_socket_rtt_us"), Value: rtt, Unit: "us", Label: fmt.Sprintf("raw Unix-socket round trip (%s sizes)", sfx), Note: floorNote},
		Figure{Name: fmt.Sprintf("webhook_%s_plugin_unary_us", sfx), Value: median(rounds[opUnary]), Unit: "us", Label: fmt.Sprintf("%s through the plugin, unary VerifyWebhook", sfx), Note: "sequential, mTLS on"},
		Figure{Name: fmt.Sprintf("webhook_%s_plugin_session_us", sfx), Value: median(rounds[opSession]), Unit: "us", Label: fmt.Sprintf("%s through the plugin, one verify call over WebhookSession", sfx), Note: "sequential, mTLS on, one long-lived stream"},
		Figure{Name: fmt.Sprintf("webhook_%s_plugin_receive_us", sfx), Value: median(rounds[opReceive]), Unit: "us", Label: fmt.Sprintf("%s through the plugin, one receive call (identify + verify, the session holding the secret)", sfx), Note: "an intake's delivery in steady state; every answer checked verified under its secret_ref"},
		Figure{Name: fmt.Sprintf("webhook_boundary_overhead_unary_us_%s", sfx), Value: overheadUnary, Unit: "us", Label: fmt.Sprintf("boundary overhead, unary (%s)", sfx), Note: "plugin − in-process, per round"},
		Figure{Name: fmt.Sprintf("boundary_vs_socket_ratio_unary_%s", sfx), Value: ratio(overheadUnary, rtt), Unit: "x", Label: fmt.Sprintf("unary overhead / raw round trip (%s)", sfx)},
		Figure{Name: suffix("webhook_boundary_overhead_us"), Value: overhead, Unit: "us", Label: fmt.Sprintf("boundary overhead, verify call (%s)", sfx), Note: "one verify call over the session − VerifyWebhook in-process, per round"},
		Figure{Name: suffix("boundary_vs_socket_ratio"), Value: ratio(overhead, rtt), Unit: "x", Label: fmt.Sprintf("boundary overhead / raw round trip, verify call (%s)", sfx), Goal: &Goal{AtMost: true, Bound: 6}},
		Figure{Name: fmt.Sprintf("webhook_%s_inproc_identify_verify_us", sfx), Value: median(rounds[opInprocID]), Unit: "us", Label: fmt.Sprintf("%s identify + verify in-process", sfx), Note: "the provider's work in one receive call"},
		Figure{Name: suffix("webhook_boundary_overhead_receive_us"), Value: overheadReceive, Unit: "us", Label: fmt.Sprintf("boundary overhead, receive call (%s)", sfx), Note: "one receive call − identify + verify in-process, per round"},
		Figure{Name: suffix("boundary_vs_socket_receive_ratio"), Value: ratio(overheadReceive, rtt), Unit: "x", Label: fmt.Sprintf("boundary overhead / raw round trip, receive call (%s)", sfx), Goal: &Goal{AtMost: true, Bound: 6}},
		Figure{Name: suffix("raw_socket_rtt_interleaved_us"), Value: rttInterleaved, Unit: "us", Label: fmt.Sprintf("raw round trip, interleaved with the other paths (%s)", sfx), Note: "bimodal on a VM: a wake-up on the other vCPU costs an IPI"},
		Figure{Name: suffix("boundary_vs_socket_interleaved_ratio"), Value: ratio(overhead, rttInterleaved), Unit: "x", Label: fmt.Sprintf("boundary overhead, verify call / interleaved round trip (%s)", sfx)},
	)
	inproc, clientgo := rounds[opInproc], rounds[opClientgo]
	r.report.add(secDecode,
		Figure{Name: fmt.Sprintf("webhook_%s_inproc_us", sfx), Value: median(inproc), Unit: "us", Label: fmt.Sprintf("%s verify + normalise in-process", sfx), Note: "plugin/gitlab Provider.VerifyWebhook called directly"},
		Figure{Name: fmt.Sprintf("webhook_%s_clientgo_us", sfx), Value: median(clientgo), Unit: "us", Label: fmt.Sprintf("%s client-go ParseWebhook", sfx), Note: "gitlab.ParseWebhook of the same payload (decode only)"},
		Figure{Name: suffix("decode_speedup"), Value: ratio(median(clientgo), median(inproc)), Unit: "x", Label: fmt.Sprintf("client-go / in-process (%s)", sfx), Goal: &Goal{Bound: 3}},
	)
	peer, receive, first := median(rounds[opPeer]), median(rounds[opReceive]), median(rounds[opFirst])
	r.report.add(secPeer,
		Figure{Name: fmt.Sprintf("webhook_%s_plugin_us", sfx), Value: receive, Unit: "us", Label: fmt.Sprintf("%s through our plugin: one receive call, a delivery in steady state", sfx), Note: fmt.Sprintf("= webhook_%s_plugin_receive_us: identify + verify in one round trip", sfx)},
		Figure{Name: fmt.Sprintf("webhook_%s_peer_us", sfx), Value: peer, Unit: "us", Label: fmt.Sprintf("%s through the peer plugin (one call)", sfx), Note: "go-plugin net/rpc + AutoMTLS, JSON []byte, client-go ParseWebhook"},
		Figure{Name: suffix("peer_speedup"), Value: ratio(peer, receive), Unit: "x", Label: fmt.Sprintf("peer / ours, one receive call (%s)", sfx), Goal: &Goal{Bound: 3}},
		Figure{Name: suffix("peer_speedup_verify"), Value: ratio(peer, median(rounds[opSession])), Unit: "x", Label: fmt.Sprintf("peer / ours, one verify call over the session (%s)", sfx), Note: fmt.Sprintf("the earlier headline: webhook_%s_plugin_session_us", sfx)},
		Figure{Name: fmt.Sprintf("webhook_%s_plugin_first_delivery_us", sfx), Value: first, Unit: "us", Label: fmt.Sprintf("%s through our plugin, a repository's first delivery in a session", sfx), Note: "receive (answers identity only) + verify: two round trips, once per repository and session"},
		Figure{Name: suffix("peer_speedup_first_delivery"), Value: ratio(peer, first), Unit: "x", Label: fmt.Sprintf("peer / ours, first delivery: receive + verify (%s)", sfx)},
	)
	return nil
}

func (r *run) concurrentFigures(w *webhookPaths) error {
	c := r.sz.concurrency
	p8 := r.sz.p8
	p8.settle = settleProcesses(w.pids.plugin, w.pids.peer)
	rounds, err := p8.concurrent(c, w.inproc, w.inprocIDV, w.unary, w.peer, w.session, w.receive)
	if err != nil {
		return fmt.Errorf("%d callers: %w", c, err)
	}
	inproc, inprocIDV, unary, peer, session, receive := rounds[0], rounds[1], rounds[2], rounds[3], rounds[4], rounds[5]
	perSecond := func(rs []concurrentRound) float64 { return 1e6 / median(perCalls(rs)) }
	r.report.add(secBoundary,
		Figure{Name: "webhook_push20_plugin_p8_us", Value: median(latencies(session)), Unit: "us", Label: fmt.Sprintf("push20 through the plugin, %d concurrent callers, verify call: latency per call", c), Note: "one WebhookSession shared by the callers"},
		Figure{Name: "webhook_push20_plugin_receive_p8_us", Value: median(latencies(receive)), Unit: "us", Label: fmt.Sprintf("push20 through the plugin, %d callers, receive call: latency per call", c), Note: "the session holding the secret"},
		Figure{Name: "webhook_push20_plugin_unary_p8_us", Value: median(latencies(unary)), Unit: "us", Label: fmt.Sprintf("push20, unary, %d callers: latency per call", c)},
		Figure{Name: "webhook_push20_inproc_p8_us", Value: median(latencies(inproc)), Unit: "us", Label: fmt.Sprintf("push20 verify in-process, %d callers: latency per call", c)},
		Figure{Name: "webhook_push20_plugin_p8_per_s", Value: perSecond(session), Unit: "per_s", Label: fmt.Sprintf("push20 through the plugin, %d callers, verify call: webhooks per second", c)},
		Figure{Name: "webhook_push20_plugin_receive_p8_per_s", Value: perSecond(receive), Unit: "per_s", Label: fmt.Sprintf("push20 through the plugin, %d callers, receive call: webhooks per second", c)},
		Figure{Name: "webhook_push20_inproc_p8_per_s", Value: perSecond(inproc), Unit: "per_s", Label: fmt.Sprintf("push20 verify in-process, %d callers: webhooks per second", c)},
		Figure{Name: "webhook_boundary_overhead_p8_us", Value: medianDiff(perCalls(session), perCalls(inproc)), Unit: "us", Label: fmt.Sprintf("boundary cost per webhook, %d callers, verify call", c), Note: "(wall / calls) plugin − in-process verify"},
		Figure{Name: "webhook_boundary_overhead_receive_p8_us", Value: medianDiff(perCalls(receive), perCalls(inprocIDV)), Unit: "us", Label: fmt.Sprintf("boundary cost per webhook, %d callers, receive call", c), Note: "(wall / calls) plugin − in-process identify + verify"},
	)
	r.report.add(secPeer,
		Figure{Name: "webhook_push20_peer_p8_us", Value: median(latencies(peer)), Unit: "us", Label: fmt.Sprintf("push20 through the peer, %d callers: latency per call", c)},
		Figure{Name: "peer_speedup_p8", Value: ratio(median(latencies(peer)), median(latencies(receive))), Unit: "x", Label: fmt.Sprintf("peer / ours, %d callers, one receive call", c)},
		Figure{Name: "peer_speedup_verify_p8", Value: ratio(median(latencies(peer)), median(latencies(session))), Unit: "x", Label: fmt.Sprintf("peer / ours, %d callers, one verify call over the session", c)},
	)
	return nil
}

// medianDiff is the median over rounds of a[i] − b[i] (rounds interleave,
// so a round's two numbers saw the same machine).
func medianDiff(a, b []float64) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return math.NaN()
	}
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return median(d)
}

// sfxOf names a push of n commits in figure names.
func sfxOf(n int) string { return fmt.Sprintf("push%d", n) }
