package bench

import (
	"context"
	"fmt"
	"math"
	"os"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/oore-ci/oore-scm-gitlab/bench/internal/peerplugin"
	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/webhooksession"
)

// webhooks measures goals 1 to 3: the floor, the provider in-process,
// client-go, the plugin (unary and session) and the peer, interleaved in the
// same rounds, for a 2-commit and a 20-commit push; then the same with 8
// concurrent callers.
func (r *run) webhooks(ctx context.Context) error {
	rig, err := startWebhookRig(ctx, r.bins, r.dir, r.cfg.PluginEnv, nil, r.progress)
	if err != nil {
		return err
	}
	defer rig.close()
	for _, n := range []int{20, 2} {
		paths, err := rig.paths(ctx, n)
		if err != nil {
			return err
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

// webhookRig is everything the webhook figures need running: the plugin,
// a webhook session to it, the peer plugin, the echo server, the provider
// in-process, and the deliveries.
type webhookRig struct {
	hooks map[int]*webhook
	prov  *gitlab.Provider
	plug  *launcher.Plugin
	sess  *webhooksession.Client // nil when the plugin does not serve WebhookSession
	peer  *peerplugin.Client
	floor *echoServer
	stops []func()
}

// startWebhookRig launches the plugin, the peer and the echo server and
// makes 2- and 20-commit pushes. env is extra environment for the plugin,
// peerEnv the peer's; progress may be nil.
func startWebhookRig(ctx context.Context, bins *binaries, dir string, env, peerEnv []string, progress func(string, ...any)) (rig *webhookRig, err error) {
	rig = &webhookRig{prov: gitlab.New()}
	defer func() {
		if err != nil {
			rig.close()
		}
	}()
	if rig.hooks, err = pushWebhooks(ctx, 2, 20); err != nil {
		return nil, err
	}
	if rig.plug, err = launcher.Launch(ctx, bins.plugin, launcher.Options{ChecksumCache: launcher.NewChecksumCache(), Env: env}); err != nil {
		return nil, err
	}
	rig.stops = append(rig.stops, func() { _ = rig.plug.Close() })
	peerSum, err := fileSHA256(bins.peer)
	if err != nil {
		return nil, err
	}
	if rig.peer, err = peerplugin.Launch(bins.peer, peerplugin.LaunchOptions{Checksum: peerSum, Env: peerEnv}); err != nil {
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
	} else {
		rig.stops = append(rig.stops, func() { _ = rig.sess.Close() })
	}
	return rig, nil
}

// paths checks every path against the n-commit push and returns them.
func (rig *webhookRig) paths(ctx context.Context, n int) (*webhookPaths, error) {
	return newWebhookPaths(ctx, rig.hooks[n], rig.prov, rig.plug, rig.sess, rig.peer, rig.floor)
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

func (r *run) sequentialFigures(n int, w *webhookPaths) error {
	self := os.Getpid()
	ops := []op{w.floor, w.inproc, w.clientgo, w.unary, w.peer}
	meters := []cpuMeter{{self, w.pids.echo}, {self}, {self}, {self, w.pids.plugin}, {self, w.pids.peer}}
	if w.session != nil {
		ops = append(ops, w.session)
		meters = append(meters, cpuMeter{self, w.pids.plugin})
	}
	// Last, so the indexes above stay put: identify + verify, as an intake does.
	ops = append(ops, w.identifyVerify)
	meters = append(meters, cpuMeter{self, w.pids.plugin})
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
	cpuPlugin := cpu[3]
	if w.session != nil {
		cpuPlugin = cpu[5]
	}
	r.report.add(secCPU,
		Figure{Name: fmt.Sprintf("cpu_%s_floor_us", sfxOf(n)), Value: median(aloneCPU[0]), Unit: "us", Label: fmt.Sprintf("%s raw round trip: CPU, both processes", sfxOf(n)), Note: "alone, back to back"},
		Figure{Name: fmt.Sprintf("cpu_%s_inproc_us", sfxOf(n)), Value: median(cpu[1]), Unit: "us", Label: fmt.Sprintf("%s in-process: CPU", sfxOf(n))},
		Figure{Name: fmt.Sprintf("cpu_%s_plugin_us", sfxOf(n)), Value: median(cpuPlugin), Unit: "us", Label: fmt.Sprintf("%s through the plugin: CPU, host + plugin", sfxOf(n))},
		Figure{Name: fmt.Sprintf("cpu_%s_peer_us", sfxOf(n)), Value: median(cpu[4]), Unit: "us", Label: fmt.Sprintf("%s through the peer: CPU, host + peer", sfxOf(n))},
		Figure{Name: fmt.Sprintf("cpu_boundary_vs_socket_ratio_%s", sfxOf(n)), Value: ratio(medianDiff(cpuPlugin, cpu[1]), median(aloneCPU[0])), Unit: "x", Label: fmt.Sprintf("%s boundary CPU / raw round trip CPU", sfxOf(n)), Note: "less sensitive than wall time to other load on the machine"},
	)
	floor, inproc, clientgo, unary, peer := rounds[0], rounds[1], rounds[2], rounds[3], rounds[4]
	plugin, transport := unary, "unary VerifyWebhook (WebhookSession not served)"
	var session []float64
	if w.session != nil {
		session = rounds[5]
		plugin, transport = session, "WebhookSession stream"
	}
	rtt := median(alone[0]) // the headline floor: measured alone, the stricter and steadier reading
	rttInterleaved := median(floor)
	overhead := medianDiff(plugin, inproc)
	overheadUnary := medianDiff(unary, inproc)
	sfx := sfxOf(n)
	suffix := func(name string) string {
		if n == 20 {
			return name
		}
		return name + "_" + sfx
	}
	floorNote := fmt.Sprintf("echo server in a child process over a Unix socket, %d bytes out, %d back; alone, back to back", w.reqSize, w.respSize)
	r.report.add(secBoundary,
		Figure{Name: suffix("raw_socket_rtt_us"), Value: rtt, Unit: "us", Label: fmt.Sprintf("raw Unix-socket round trip (%s sizes)", sfx), Note: floorNote},
		Figure{Name: fmt.Sprintf("webhook_%s_plugin_unary_us", sfx), Value: median(unary), Unit: "us", Label: fmt.Sprintf("%s through the plugin, unary VerifyWebhook", sfx), Note: "sequential, mTLS on"},
	)
	if session != nil {
		r.report.add(secBoundary, Figure{Name: fmt.Sprintf("webhook_%s_plugin_session_us", sfx), Value: median(session), Unit: "us", Label: fmt.Sprintf("%s through the plugin, WebhookSession", sfx), Note: "sequential, mTLS on, one long-lived stream"})
	}
	r.report.add(secBoundary,
		Figure{Name: fmt.Sprintf("webhook_boundary_overhead_unary_us_%s", sfx), Value: overheadUnary, Unit: "us", Label: fmt.Sprintf("boundary overhead, unary (%s)", sfx), Note: "plugin − in-process, per round"},
		Figure{Name: fmt.Sprintf("boundary_vs_socket_ratio_unary_%s", sfx), Value: ratio(overheadUnary, rtt), Unit: "x", Label: fmt.Sprintf("unary overhead / raw round trip (%s)", sfx)},
		Figure{Name: suffix("webhook_boundary_overhead_us"), Value: overhead, Unit: "us", Label: fmt.Sprintf("boundary overhead (%s)", sfx), Note: "plugin − in-process over " + transport},
		Figure{Name: suffix("boundary_vs_socket_ratio"), Value: ratio(overhead, rtt), Unit: "x", Label: fmt.Sprintf("boundary overhead / raw round trip (%s)", sfx), Goal: &Goal{AtMost: true, Bound: 6}},
		Figure{Name: suffix("raw_socket_rtt_interleaved_us"), Value: rttInterleaved, Unit: "us", Label: fmt.Sprintf("raw round trip, interleaved with the other paths (%s)", sfx), Note: "bimodal on a VM: a wake-up on the other vCPU costs an IPI"},
		Figure{Name: suffix("boundary_vs_socket_interleaved_ratio"), Value: ratio(overhead, rttInterleaved), Unit: "x", Label: fmt.Sprintf("boundary overhead / interleaved round trip (%s)", sfx)},
	)
	r.report.add(secDecode,
		Figure{Name: fmt.Sprintf("webhook_%s_inproc_us", sfx), Value: median(inproc), Unit: "us", Label: fmt.Sprintf("%s verify + normalise in-process", sfx), Note: "plugin/gitlab Provider.VerifyWebhook called directly"},
		Figure{Name: fmt.Sprintf("webhook_%s_clientgo_us", sfx), Value: median(clientgo), Unit: "us", Label: fmt.Sprintf("%s client-go ParseWebhook", sfx), Note: "gitlab.ParseWebhook of the same payload (decode only)"},
		Figure{Name: suffix("decode_speedup"), Value: ratio(median(clientgo), median(inproc)), Unit: "x", Label: fmt.Sprintf("client-go / in-process (%s)", sfx), Goal: &Goal{Bound: 3}},
	)
	idv := rounds[len(rounds)-1]
	r.report.add(secPeer,
		Figure{Name: fmt.Sprintf("webhook_%s_plugin_identify_verify_us", sfx), Value: median(idv), Unit: "us", Label: fmt.Sprintf("%s through our plugin, identify then verify (two calls, as an intake makes)", sfx), Note: transport},
		Figure{Name: suffix("peer_speedup_identify_verify"), Value: ratio(median(peer), median(idv)), Unit: "x", Label: fmt.Sprintf("peer (one call) / ours identify + verify (%s)", sfx), Note: "the peer's host names the secret up front; ours learns the repository first"},
	)
	r.report.add(secPeer,
		Figure{Name: fmt.Sprintf("webhook_%s_plugin_us", sfx), Value: median(plugin), Unit: "us", Label: fmt.Sprintf("%s through our plugin", sfx), Note: transport},
		Figure{Name: fmt.Sprintf("webhook_%s_peer_us", sfx), Value: median(peer), Unit: "us", Label: fmt.Sprintf("%s through the peer plugin", sfx), Note: "go-plugin net/rpc + AutoMTLS, JSON []byte, client-go ParseWebhook"},
		Figure{Name: suffix("peer_speedup"), Value: ratio(median(peer), median(plugin)), Unit: "x", Label: fmt.Sprintf("peer / ours (%s)", sfx), Goal: &Goal{Bound: 3}},
	)
	return nil
}

func (r *run) concurrentFigures(w *webhookPaths) error {
	c := r.sz.concurrency
	ops := []op{w.inproc, w.unary, w.peer}
	if w.session != nil {
		ops = append(ops, w.session)
	}
	p8 := r.sz.p8
	p8.settle = settleProcesses(w.pids.plugin, w.pids.peer)
	rounds, err := p8.concurrent(c, ops...)
	if err != nil {
		return fmt.Errorf("%d callers: %w", c, err)
	}
	inproc, unary, peer := rounds[0], rounds[1], rounds[2]
	plugin, transport := unary, "unary VerifyWebhook"
	if w.session != nil {
		plugin, transport = rounds[3], "WebhookSession stream"
	}
	perSecond := func(rs []concurrentRound) float64 { return 1e6 / median(perCalls(rs)) }
	r.report.add(secBoundary,
		Figure{Name: "webhook_push20_plugin_p8_us", Value: median(latencies(plugin)), Unit: "us", Label: fmt.Sprintf("push20 through the plugin, %d concurrent callers: latency per call", c), Note: transport},
		Figure{Name: "webhook_push20_plugin_unary_p8_us", Value: median(latencies(unary)), Unit: "us", Label: fmt.Sprintf("push20, unary, %d callers: latency per call", c)},
		Figure{Name: "webhook_push20_inproc_p8_us", Value: median(latencies(inproc)), Unit: "us", Label: fmt.Sprintf("push20 in-process, %d callers: latency per call", c)},
		Figure{Name: "webhook_push20_plugin_p8_per_s", Value: perSecond(plugin), Unit: "per_s", Label: fmt.Sprintf("push20 through the plugin, %d callers: webhooks per second", c), Note: transport},
		Figure{Name: "webhook_push20_inproc_p8_per_s", Value: perSecond(inproc), Unit: "per_s", Label: fmt.Sprintf("push20 in-process, %d callers: webhooks per second", c)},
		Figure{Name: "webhook_boundary_overhead_p8_us", Value: medianDiff(perCalls(plugin), perCalls(inproc)), Unit: "us", Label: fmt.Sprintf("boundary cost per webhook, %d callers", c), Note: "(wall / calls) plugin − in-process"},
	)
	r.report.add(secPeer,
		Figure{Name: "webhook_push20_peer_p8_us", Value: median(latencies(peer)), Unit: "us", Label: fmt.Sprintf("push20 through the peer, %d callers: latency per call", c)},
		Figure{Name: "peer_speedup_p8", Value: ratio(median(latencies(peer)), median(latencies(plugin))), Unit: "x", Label: fmt.Sprintf("peer / ours, %d callers", c)},
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
