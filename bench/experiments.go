package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

// Section of the proposals measured against the shipped configuration.
const secExperiments = "8. proposals, each measured against what ships, in the same run"

// experiments measures changes this benchmark proposes, each interleaved
// with the configuration that ships: the plugin process on one P
// (GOMAXPROCS=1) for the webhook path, and a plugin binary without symbol
// tables (-ldflags=-s -w) for cold start and size.
func (r *run) experiments(ctx context.Context) error {
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
	shipped, err := startWebhookRig(ctx, r.bins, r.dir, r.cfg.PluginEnv, nil, nil)
	if err != nil {
		return err
	}
	defer shipped.close()
	variant, err := startWebhookRig(ctx, &variantBins, r.dir, r.cfg.PluginEnv, nil, nil)
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
	pick := func(w *webhookPaths) op {
		if w.session != nil {
			return w.session
		}
		return w.unary
	}
	ss := r.sz.seq
	ss.settle = settleProcesses(a.pids.echo, a.pids.plugin, b.pids.plugin)
	alone, err := ss.sequential(a.floor)
	if err != nil {
		return err
	}
	seq, err := ss.sequential(pick(a), pick(b), a.floor, a.inproc, b.inproc)
	if err != nil {
		return err
	}
	conc, err := r.sz.p8.concurrent(r.sz.concurrency, pick(a), pick(b))
	if err != nil {
		return err
	}
	rtt := median(alone[0])
	note := "variant: " + r.cfg.ComparePluginDir
	r.report.add(secExperiments,
		Figure{Name: "exp_variant_base_push20_plugin_us", Value: median(seq[0]), Unit: "us", Label: "push20 through the plugin measured everywhere else"},
		Figure{Name: "exp_variant_push20_plugin_us", Value: median(seq[1]), Unit: "us", Label: "push20 through the variant plugin", Note: note},
		Figure{Name: "exp_variant_base_boundary_ratio", Value: ratio(medianDiff(seq[0], seq[3]), rtt), Unit: "x", Label: "boundary / raw round trip, base"},
		Figure{Name: "exp_variant_boundary_ratio", Value: ratio(medianDiff(seq[1], seq[4]), rtt), Unit: "x", Label: "boundary / raw round trip, variant"},
		Figure{Name: "exp_variant_base_p8_per_s", Value: 1e6 / median(perCalls(conc[0])), Unit: "per_s", Label: fmt.Sprintf("push20, %d callers, base: webhooks per second", r.sz.concurrency)},
		Figure{Name: "exp_variant_p8_per_s", Value: 1e6 / median(perCalls(conc[1])), Unit: "per_s", Label: fmt.Sprintf("push20, %d callers, variant: webhooks per second", r.sz.concurrency)},
	)
	return nil
}

// experimentListGOMAXPROCS checks what one P costs the listing, which
// decodes GitLab's JSON pages on several workers.
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
	oneP, err := launcher.Launch(ctx, r.bins.plugin, launcher.Options{ChecksumCache: cache, Env: append([]string{"GOMAXPROCS=1"}, r.cfg.PluginEnv...)})
	if err != nil {
		return err
	}
	defer oneP.Close()
	req := ls.request(sz.listPageSize)
	var a, b []float64
	for i := -1; i < sz.listRounds; i++ {
		da, err := listThrough(ctx, shipped.Provider(), req, ls.n)
		if err != nil {
			return err
		}
		db, err := listThrough(ctx, oneP.Provider(), req, ls.n)
		if err != nil {
			return err
		}
		if i >= 0 {
			a, b = append(a, millis(da)), append(b, millis(db))
		}
	}
	r.report.add(secExperiments,
		Figure{Name: "exp_list_10k_ms", Value: median(a), Unit: "ms", Label: "list 10,000 projects as shipped (parallel)"},
		Figure{Name: "exp_list_10k_gomaxprocs1_ms", Value: median(b), Unit: "ms", Label: "the same, plugin with GOMAXPROCS=1"},
	)
	return nil
}

func (r *run) experimentGOMAXPROCS(ctx context.Context) error {
	shipped, err := startWebhookRig(ctx, r.bins, r.dir, r.cfg.PluginEnv, nil, nil)
	if err != nil {
		return err
	}
	defer shipped.close()
	oneP, err := startWebhookRig(ctx, r.bins, r.dir, append([]string{"GOMAXPROCS=1"}, r.cfg.PluginEnv...), []string{"GOMAXPROCS=1"}, nil)
	if err != nil {
		return err
	}
	defer oneP.close()
	a, err := shipped.paths(ctx, 20)
	if err != nil {
		return err
	}
	b, err := oneP.paths(ctx, 20)
	if err != nil {
		return err
	}
	pick := func(w *webhookPaths) op {
		if w.session != nil {
			return w.session
		}
		return w.unary
	}
	ss := r.sz.seq
	ss.settle = settleProcesses(a.pids.echo, a.pids.plugin, a.pids.peer, b.pids.plugin, b.pids.peer)
	alone, err := ss.sequential(a.floor)
	if err != nil {
		return err
	}
	seq, err := ss.sequential(pick(a), pick(b), a.floor, a.inproc, a.peer, b.peer)
	if err != nil {
		return err
	}
	conc, err := r.sz.p8.concurrent(r.sz.concurrency, pick(a), pick(b))
	if err != nil {
		return err
	}
	rtt := median(alone[0])
	r.report.add(secExperiments,
		Figure{Name: "exp_push20_plugin_us", Value: median(seq[0]), Unit: "us", Label: "push20 through the plugin as shipped (sequential)"},
		Figure{Name: "exp_push20_plugin_gomaxprocs1_us", Value: median(seq[1]), Unit: "us", Label: "the same, plugin with GOMAXPROCS=1", Note: "fewer cross-thread wake-ups per call"},
		Figure{Name: "exp_boundary_vs_socket_ratio", Value: ratio(medianDiff(seq[0], seq[3]), rtt), Unit: "x", Label: "boundary overhead / raw round trip, as shipped"},
		Figure{Name: "exp_boundary_vs_socket_ratio_gomaxprocs1", Value: ratio(medianDiff(seq[1], seq[3]), rtt), Unit: "x", Label: "boundary overhead / raw round trip, GOMAXPROCS=1", Goal: &Goal{AtMost: true, Bound: 6}},
		Figure{Name: "exp_peer_speedup", Value: ratio(median(seq[4]), median(seq[0])), Unit: "x", Label: "peer / ours, both as shipped"},
		Figure{Name: "exp_peer_speedup_gomaxprocs1", Value: ratio(median(seq[5]), median(seq[1])), Unit: "x", Label: "peer / ours, both with GOMAXPROCS=1", Goal: &Goal{Bound: 3}, Note: "the peer given the same setting, for fairness"},
		Figure{Name: "exp_push20_plugin_p8_per_s", Value: 1e6 / median(perCalls(conc[0])), Unit: "per_s", Label: fmt.Sprintf("push20, %d callers, as shipped: webhooks per second", r.sz.concurrency)},
		Figure{Name: "exp_push20_plugin_p8_gomaxprocs1_per_s", Value: 1e6 / median(perCalls(conc[1])), Unit: "per_s", Label: fmt.Sprintf("push20, %d callers, GOMAXPROCS=1: webhooks per second", r.sz.concurrency)},
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
