package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

// Section of the proposals measured against the shipped configuration.
const secExperiments = "8. experiments: what ships against the alternatives, in the same run"

// experiments measures settings and builds against what ships, interleaved
// in the same run: what the launcher's default of one P saves against
// leaving GOMAXPROCS to the runtime (webhooks, listing), and a plugin binary
// without symbol tables (-ldflags=-s -w) for cold start and size.
func (r *run) experiments(ctx context.Context) error {
	if slices.ContainsFunc(r.cfg.PluginEnv, func(kv string) bool { return strings.HasPrefix(kv, "GOMAXPROCS=") }) {
		r.progress("experiments: the GOMAXPROCS in -plugin-env wins over launcher.Options.MaxProcs, so the one-P experiments compare that setting with itself")
	}
	if err := r.experimentGOMAXPROCS(ctx); err != nil {
		return err
	}
	if err := r.experimentListGOMAXPROCS(ctx); err != nil {
		return err
	}
	if !r.cfg.Quick { // a second link of the plugin: too slow for the smoke test
		if err := r.experimentStripped(ctx); err != nil {
			return err
		}
	}
	if r.cfg.ComparePluginDir != "" {
		return r.experimentVariant(ctx)
	}
	return nil
}

// experimentVariant times the webhook path of another build of the plugin
// (Config.ComparePluginDir) interleaved with the one measured everywhere
// else: how a proposed change to the plugin is measured.
func (r *run) experimentVariant(ctx context.Context) error {
	m, err := manifest.Load(filepath.Join(r.cfg.ComparePluginDir, manifest.FileName))
	if err != nil {
		return fmt.Errorf("the plugin to compare: %w", err)
	}
	variantBins := *r.bins
	variantBins.plugin = m
	shipped, err := startWebhookRig(ctx, r.bins, r.dir, rigOptions{env: r.cfg.PluginEnv}, nil)
	if err != nil {
		return err
	}
	defer shipped.close()
	variant, err := startWebhookRig(ctx, &variantBins, r.dir, rigOptions{env: r.cfg.PluginEnv}, nil)
	if err != nil {
		return err
	}
	defer variant.close()
	a, err := shipped.paths(ctx, 20)
	if err != nil {
		return err
	}
	b, err := variant.paths(ctx, 20)
	if err != nil {
		return fmt.Errorf("the plugin to compare: %w", err)
	}
	// Each build's intake path (receive when it serves it) against its own
	// in-process baseline.
	pathA, inprocA := a.intakePath()
	pathB, inprocB := b.intakePath()
	ss := r.sz.seq
	ss.settle = settleProcesses(a.pids.echo, a.pids.plugin, b.pids.plugin)
	alone, err := ss.sequential(a.floor)
	if err != nil {
		return err
	}
	seq, err := ss.sequential(pathA, pathB, a.floor, inprocA, inprocB)
	if err != nil {
		return err
	}
	conc, err := r.sz.p8.concurrent(r.sz.concurrency, pathA, pathB)
	if err != nil {
		return err
	}
	rtt := median(alone[0])
	note := "variant: " + r.cfg.ComparePluginDir
	if b.receive == nil {
		note += " (serves no receive: a verify call)"
	}
	r.report.add(secExperiments,
		Figure{Name: "exp_variant_base_push20_plugin_us", Value: median(seq[0]), Unit: "us", Label: "push20 through the plugin measured everywhere else (one receive call)"},
		Figure{Name: "exp_variant_push20_plugin_us", Value: median(seq[1]), Unit: "us", Label: "push20 through the variant plugin", Note: note},
		Figure{Name: "exp_variant_base_boundary_ratio", Value: ratio(medianDiff(seq[0], seq[3]), rtt), Unit: "x", Label: "boundary / raw round trip, base"},
		Figure{Name: "exp_variant_boundary_ratio", Value: ratio(medianDiff(seq[1], seq[4]), rtt), Unit: "x", Label: "boundary / raw round trip, variant"},
		Figure{Name: "exp_variant_base_p8_per_s", Value: 1e6 / median(perCalls(conc[0])), Unit: "per_s", Label: fmt.Sprintf("push20, %d callers, base: webhooks per second", r.sz.concurrency)},
		Figure{Name: "exp_variant_p8_per_s", Value: 1e6 / median(perCalls(conc[1])), Unit: "per_s", Label: fmt.Sprintf("push20, %d callers, variant: webhooks per second", r.sz.concurrency)},
	)
	return nil
}

// experimentListGOMAXPROCS checks what the launcher's one P costs the
// listing, which decodes GitLab's JSON pages on several workers, against
// GOMAXPROCS left to the runtime.
func (r *run) experimentListGOMAXPROCS(ctx context.Context) error {
	sz := r.sz
	ls := newListSim(sz.listProjects, sz.listLatency)
	defer ls.close()
	cache := launcher.NewChecksumCache()
	shipped, err := launcher.Launch(ctx, r.bins.plugin, launcher.Options{ChecksumCache: cache, Env: r.cfg.PluginEnv})
	if err != nil {
		return err
	}
	defer shipped.Close()
	runtimeP, err := launcher.Launch(ctx, r.bins.plugin, launcher.Options{ChecksumCache: cache, Env: r.cfg.PluginEnv, MaxProcs: -1})
	if err != nil {
		return err
	}
	defer runtimeP.Close()
	req := ls.request(sz.listPageSize)
	var a, b []float64
	for i := -1; i < sz.listRounds; i++ {
		da, err := listThrough(ctx, shipped.Provider(), req, ls.n)
		if err != nil {
			return err
		}
		db, err := listThrough(ctx, runtimeP.Provider(), req, ls.n)
		if err != nil {
			return err
		}
		if i >= 0 {
			a, b = append(a, millis(da)), append(b, millis(db))
		}
	}
	r.report.add(secExperiments,
		Figure{Name: "exp_list_10k_ms", Value: median(a), Unit: "ms", Label: "list 10,000 projects as shipped (parallel, one P)"},
		Figure{Name: "exp_list_10k_maxprocs_runtime_ms", Value: median(b), Unit: "ms", Label: fmt.Sprintf("the same, GOMAXPROCS left to the runtime (%d P)", runtime.NumCPU()), Note: "launcher.Options.MaxProcs -1"},
	)
	return nil
}

// experimentGOMAXPROCS measures what the launcher's default of one P
// (launcher.Options.MaxProcs 0) saves on the intake's path (one receive
// call) against GOMAXPROCS left to the runtime (MaxProcs -1, one P per
// core), sequentially and with 8 callers. The peer runs as it ships
// (runtime default) beside the latter, and with GOMAXPROCS=1 beside the
// former, so either comparison with it is like for like.
func (r *run) experimentGOMAXPROCS(ctx context.Context) error {
	shipped, err := startWebhookRig(ctx, r.bins, r.dir, rigOptions{env: r.cfg.PluginEnv, peerEnv: []string{"GOMAXPROCS=1"}}, nil)
	if err != nil {
		return err
	}
	defer shipped.close()
	runtimeP, err := startWebhookRig(ctx, r.bins, r.dir, rigOptions{env: r.cfg.PluginEnv, maxProcs: -1}, nil)
	if err != nil {
		return err
	}
	defer runtimeP.close()
	a, err := shipped.paths(ctx, 20)
	if err != nil {
		return err
	}
	b, err := runtimeP.paths(ctx, 20)
	if err != nil {
		return err
	}
	if a.receive == nil || b.receive == nil {
		return errReceiveNotServed
	}
	ss := r.sz.seq
	ss.settle = settleProcesses(a.pids.echo, a.pids.plugin, a.pids.peer, b.pids.plugin, b.pids.peer)
	alone, err := ss.sequential(a.floor)
	if err != nil {
		return err
	}
	seq, err := ss.sequential(a.receive, b.receive, a.floor, a.inprocIDV, a.peer, b.peer)
	if err != nil {
		return err
	}
	conc, err := r.sz.p8.concurrent(r.sz.concurrency, a.receive, b.receive)
	if err != nil {
		return err
	}
	rtt := median(alone[0])
	procs := fmt.Sprintf("GOMAXPROCS left to the runtime (%d P)", runtime.NumCPU())
	r.report.add(secExperiments,
		Figure{Name: "exp_push20_plugin_us", Value: median(seq[0]), Unit: "us", Label: "push20 through the plugin as shipped (one P), one receive call"},
		Figure{Name: "exp_push20_plugin_maxprocs_runtime_us", Value: median(seq[1]), Unit: "us", Label: "the same, " + procs, Note: "launcher.Options.MaxProcs -1: the launcher's default before one P"},
		Figure{Name: "exp_boundary_vs_socket_ratio", Value: ratio(medianDiff(seq[0], seq[3]), rtt), Unit: "x", Label: "receive overhead / raw round trip, as shipped (one P)"},
		Figure{Name: "exp_boundary_vs_socket_ratio_maxprocs_runtime", Value: ratio(medianDiff(seq[1], seq[3]), rtt), Unit: "x", Label: "receive overhead / raw round trip, " + procs},
		Figure{Name: "exp_peer_speedup", Value: ratio(median(seq[4]), median(seq[0])), Unit: "x", Label: "peer / ours, both on one P", Note: "ours as shipped; the peer given GOMAXPROCS=1 too, for fairness"},
		Figure{Name: "exp_peer_speedup_maxprocs_runtime", Value: ratio(median(seq[5]), median(seq[1])), Unit: "x", Label: "peer / ours, both with " + procs, Note: "the peer as it ships"},
		Figure{Name: "exp_push20_plugin_p8_per_s", Value: 1e6 / median(perCalls(conc[0])), Unit: "per_s", Label: fmt.Sprintf("push20, %d callers, as shipped (one P): webhooks per second", r.sz.concurrency)},
		Figure{Name: "exp_push20_plugin_p8_maxprocs_runtime_per_s", Value: 1e6 / median(perCalls(conc[1])), Unit: "per_s", Label: fmt.Sprintf("push20, %d callers, %s: webhooks per second", r.sz.concurrency, procs)},
	)
	return nil
}

// experimentStripped builds the plugin again without symbol tables and
// DWARF (the same code; panics still print stack traces) and compares
// cold start and size with what `make build` ships.
func (r *run) experimentStripped(ctx context.Context) error {
	dir, err := os.MkdirTemp(r.dir, "stripped-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	m := r.bins.plugin
	bin := filepath.Join(dir, m.Executable)
	root := r.cfg.Root
	if root == "" {
		if root, err = ModuleRoot("."); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, goTool(), "build", "-trimpath", "-ldflags=-s -w", "-o", bin, pluginPkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build a stripped plugin: %w\n%s", err, out)
	}
	src := filepath.Join(root, "manifests", "gitlab.json")
	stripped, err := manifest.Seal(src, bin, filepath.Join(dir, manifest.FileName))
	if err != nil {
		return err
	}
	launch := func(m *manifest.Manifest, cache *launcher.ChecksumCache) (time.Duration, error) {
		start := time.Now()
		p, err := launcher.Launch(ctx, m, launcher.Options{ChecksumCache: cache, Env: r.cfg.PluginEnv})
		elapsed := time.Since(start)
		if err != nil {
			return 0, err
		}
		return elapsed, p.Close()
	}
	kinds := []struct {
		m     *manifest.Manifest
		cache *launcher.ChecksumCache
	}{{m, launcher.NewChecksumCache()}, {stripped, launcher.NewChecksumCache()}, {m, nil}, {stripped, nil}}
	samples := make([][]float64, len(kinds))
	for i := -1; i < r.sz.coldStarts; i++ {
		for j, k := range kinds {
			d, err := launch(k.m, k.cache)
			if err != nil {
				return err
			}
			if i >= 0 {
				samples[j] = append(samples[j], millis(d))
			}
		}
	}
	size := func(path string) float64 {
		fi, err := os.Stat(path)
		if err != nil {
			return 0
		}
		return float64(fi.Size()) / (1 << 20)
	}
	r.report.add(secExperiments,
		Figure{Name: "exp_cold_start_ms", Value: median(samples[0]), Unit: "ms", Label: "cold start as shipped, checksum cache"},
		Figure{Name: "exp_cold_start_stripped_ms", Value: median(samples[1]), Unit: "ms", Label: "cold start, -ldflags=-s -w, checksum cache"},
		Figure{Name: "exp_cold_start_hash_ms", Value: median(samples[2]), Unit: "ms", Label: "cold start as shipped, hashing every launch"},
		Figure{Name: "exp_cold_start_hash_stripped_ms", Value: median(samples[3]), Unit: "ms", Label: "cold start, -ldflags=-s -w, hashing every launch"},
		Figure{Name: "exp_plugin_binary_stripped_mb", Value: size(bin), Unit: "MB", Label: "plugin binary, -ldflags=-s -w", Note: fmt.Sprintf("as shipped: %.1f MiB", size(m.ExecutablePath()))},
	)
	return nil
}
