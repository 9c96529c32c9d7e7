package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Config chooses what a run measures and how hard.
type Config struct {
	// Root is the module root; empty: found above the working directory.
	Root string
	// PluginDir holds an already built and sealed GitLab plugin (`make
	// build` writes dist/plugins/gitlab); empty: the run builds one.
	PluginDir string
	// WorkDir is scratch space; empty: a temporary directory, removed after.
	WorkDir string
	// Quick is the smoke mode of `go test`: every figure, a few iterations
	// each and small data. Its numbers mean nothing.
	Quick bool
	// ComparePluginDir, when set, holds a second sealed build of the plugin
	// (a proposed change); the experiments stage times its webhook path
	// interleaved with PluginDir's.
	ComparePluginDir string
	// PluginEnv is extra environment for the GitLab plugin process in the
	// webhook, memory and cold-start figures (experiments such as
	// GOMAXPROCS=1; the launcher passes it through Options.Env).
	PluginEnv []string
	// Only, when not empty, runs only the stages named (webhooks, coldstart,
	// memory, listing, intake); the other figures print as NaN.
	Only []string
	// Progress receives one line per stage (nil: none).
	Progress io.Writer
}

// Stages are the names Config.Only accepts, in the order a run measures them.
var Stages = []string{"webhooks", "coldstart", "memory", "listing", "intake", "intake-postgres", "experiments"}

// sizes are the iteration counts and data sizes of a run.
type sizes struct {
	seq, p8         sampler
	concurrency     int
	coldStarts      int
	rssCalls        int
	listProjects    int
	listOver10k     int // 0: skip the listing above 10,000 projects
	listPageSize    int
	listRounds      int
	listLatency     time.Duration
	intakeSenders   int
	intakePerSender int
	intakeRounds    int
}

func (c Config) sizes() sizes {
	if c.Quick {
		return sizes{
			seq:          sampler{warmup: 3, rounds: 3, batch: 4},
			p8:           sampler{warmup: 8, rounds: 2, batch: 2},
			concurrency:  8,
			coldStarts:   2,
			rssCalls:     40,
			listProjects: 250, listPageSize: 20, listRounds: 1, listLatency: 2 * time.Millisecond,
			intakeSenders: 32, intakePerSender: 2, intakeRounds: 1,
		}
	}
	return sizes{
		seq:          sampler{warmup: 300, rounds: 100, batch: 30},
		p8:           sampler{warmup: 400, rounds: 30, batch: 30},
		concurrency:  8,
		coldStarts:   15,
		rssCalls:     10000,
		listProjects: 10000, listOver10k: 10500, listPageSize: 100, listRounds: 3, listLatency: 20 * time.Millisecond,
		intakeSenders: 32, intakePerSender: 40, intakeRounds: 3,
	}
}

// run is the state of one Run.
type run struct {
	cfg    Config
	sz     sizes
	dir    string
	bins   *binaries
	report *Report
	errs   []error
}

// progress writes a progress line.
func (r *run) progress(format string, args ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "bench: "+format+"\n", args...)
	}
}

// stage runs one group of measurements. A stage that fails leaves its
// figures NaN with the reason; the run goes on and reports every failure.
func (r *run) stage(ctx context.Context, key, name string, fn func(context.Context) error) {
	if len(r.cfg.Only) > 0 && !slices.Contains(r.cfg.Only, key) {
		return
	}
	r.progress("%s", name)
	start := time.Now()
	if err := fn(ctx); err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s: %w", name, err))
		r.progress("%s: FAILED: %v", name, err)
		return
	}
	r.progress("%s: done in %s", name, time.Since(start).Round(time.Millisecond))
}

// Run measures every figure and returns the report. It writes nothing to
// stdout itself: see Report.WriteTable and Report.WriteLines. The error
// names every stage that failed; the report still holds what was measured,
// with NaN (and a note) for the rest.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if cfg.Root, err = ModuleRoot(wd); err != nil {
			return nil, err
		}
	}
	dir := cfg.WorkDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "oore-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if cfg.Progress != nil {
		fmt.Fprintln(cfg.Progress, "bench: building the plugin, the peer plugin and the echo server")
	}
	bins, err := buildBinaries(ctx, cfg.Root, dir, cfg.PluginDir)
	if err != nil {
		return nil, err
	}
	return runWith(ctx, cfg, bins, dir)
}

// runWith measures with binaries already built.
func runWith(ctx context.Context, cfg Config, bins *binaries, dir string) (*Report, error) {
	r := &run{cfg: cfg, sz: cfg.sizes(), dir: dir, bins: bins, report: &Report{Machine: machine()}}

	r.stage(ctx, "webhooks", "webhooks: floor, in-process, client-go, plugin, peer", r.webhooks)
	r.stage(ctx, "coldstart", "cold start", r.coldStart)
	r.stage(ctx, "memory", "plugin memory and size", r.memory)
	r.stage(ctx, "listing", "listing projects", r.listing)
	r.stage(ctx, "intake", "end-to-end intake", r.intake)
	if os.Getenv(EnvPostgresURL) != "" {
		r.stage(ctx, "intake-postgres", "end-to-end intake on PostgreSQL", r.intakePostgres)
	} else {
		r.progress("end-to-end intake on PostgreSQL: skipped (set %s, as `make bench` does, to measure it)", EnvPostgresURL)
	}
	r.stage(ctx, "experiments", "proposals measured against what ships", r.experiments)
	r.fillMissing()
	// Stages add sections as they go; print them in the order.
	slices.SortStableFunc(r.report.Sections, func(a, b Section) int { return strings.Compare(a.Title, b.Title) })
	return r.report, errors.Join(r.errs...)
}

// required are the figures every run prints (the list); a stage that
// failed leaves them NaN.
var required = []struct{ section, name, unit string }{
	{secBoundary, "raw_socket_rtt_us", "us"},
	{secBoundary, "webhook_boundary_overhead_us", "us"},
	{secBoundary, "boundary_vs_socket_ratio", "x"},
	{secDecode, "webhook_push20_inproc_us", "us"},
	{secDecode, "webhook_push20_clientgo_us", "us"},
	{secDecode, "decode_speedup", "x"},
	{secPeer, "webhook_push20_plugin_us", "us"},
	{secPeer, "webhook_push20_peer_us", "us"},
	{secPeer, "peer_speedup", "x"},
	{secBoundary, "webhook_push20_plugin_p8_us", "us"},
	{secColdStart, "cold_start_ms", "ms"},
	{secColdStart, "cold_start_plain_ms", "ms"},
	{secColdStart, "cold_start_vs_plain_ratio", "x"},
	{secColdStart, "cold_start_floor_ms", "ms"},
	{secList, "list_10k_ms", "ms"},
	{secList, "list_10k_sequential_ms", "ms"},
	{secList, "list_speedup", "x"},
	{secIntake, "intake_per_s", "per_s"},
	{secIntake, "intake_p50_ms", "ms"},
	{secIntake, "intake_p99_ms", "ms"},
	{secMemory, "plugin_rss_mb", "MB"},
	{secMemory, "plugin_binary_mb", "MB"},
}

// RequiredFigures are the names every run prints.
func RequiredFigures() []string {
	out := make([]string, len(required))
	for i, f := range required {
		out[i] = f.name
	}
	return out
}

// Section titles.
const (
	secBoundary  = "1. the boundary: webhook through the plugin vs the same code in-process, against a raw Unix-socket round trip"
	secDecode    = "2. the provider's own work: verify + normalise in-process vs client-go ParseWebhook"
	secPeer      = "3. against the peer: the whole plugin path vs a Woodpecker-addon-style plugin (net/rpc, JSON, ParseWebhook)"
	secColdStart = "4. cold start: launch to first answered call"
	secList      = "5. listing projects from the simulator with injected latency"
	secIntake    = "6. end-to-end intake on the reference host"
	secMemory    = "7. plugin memory and size"
	secCPU       = "1b. CPU time per webhook, summed over the processes involved"
)

// fillMissing adds a NaN figure for every required one a failed stage left out.
func (r *run) fillMissing() {
	for _, f := range required {
		if _, ok := r.report.Lookup(f.name); ok {
			continue
		}
		note := "not measured: its stage failed (see the errors)"
		if len(r.cfg.Only) > 0 {
			note = "not measured in this run (-only)"
		}
		r.report.add(f.section, Figure{Name: f.name, Value: math.NaN(), Unit: f.unit, Label: f.name, Note: note})
	}
}

// machine describes the machine: CPU model, cores, Go, OS.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := runtime.GOOS
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel += " " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d cores (GOMAXPROCS %d), %s, %s/%s", cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), kernel, runtime.GOARCH)
}
