package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/pluginkit"
)

// coldStart measures goal 4: launcher.Launch to the first answered call
// (Launch returns after GetProviderInfo has answered and been compared with
// the manifest), in each mode the launcher has, interleaved; and the parts
// that explain it.
func (r *run) coldStart(ctx context.Context) error {
	m := r.bins.plugin
	cache := launcher.NewChecksumCache()
	autoCache := launcher.NewChecksumCache()
	modes := []struct {
		name, label string
		opts        launcher.Options
		goal        *Goal
	}{
		{"cold_start_ms", "Ed25519 mTLS over an inherited pipe, checksum cache (unchanged binary not re-hashed)", launcher.Options{ChecksumCache: cache}, &Goal{AtMost: true, Bound: 20}},
		{"cold_start_hash_ms", "Ed25519 mTLS, SHA-256 of the binary on every launch", launcher.Options{}, nil},
		{"cold_start_automtls_ms", "go-plugin AutoMTLS (P-521), SHA-256 on every launch", launcher.Options{GoPluginAutoMTLS: true}, nil},
		{"cold_start_automtls_cached_ms", "go-plugin AutoMTLS (P-521), checksum cache", launcher.Options{GoPluginAutoMTLS: true, ChecksumCache: autoCache}, nil},
	}
	launch := func(opts launcher.Options) (time.Duration, error) {
		opts.Env = r.cfg.PluginEnv
		start := time.Now()
		p, err := launcher.Launch(ctx, m, opts)
		elapsed := time.Since(start)
		if err != nil {
			return 0, err
		}
		return elapsed, p.Close()
	}
	samples := make([][]float64, len(modes))
	for i := -1; i < r.sz.coldStarts; i++ { // i == -1: warm-up (page cache, checksum caches)
		for j, mode := range modes {
			d, err := launch(mode.opts)
			if err != nil {
				return fmt.Errorf("launch (%s): %w", mode.name, err)
			}
			if i >= 0 {
				samples[j] = append(samples[j], millis(d))
			}
		}
	}
	for j, mode := range modes {
		r.report.add(secColdStart, Figure{Name: mode.name, Value: median(samples[j]), Unit: "ms", Label: mode.label, Goal: mode.goal,
			Note: fmt.Sprintf("median of %d launches, p90 %.1f ms", len(samples[j]), percentile(samples[j], 90))})
	}
	return r.coldStartParts(ctx, m)
}

// coldStartParts times what a launch is made of: hashing the binary,
// generating the mTLS material, and the plugin process alone from exec to
// its handshake line, with the time its package initialisers take.
func (r *run) coldStartParts(ctx context.Context, m *manifest.Manifest) error {
	n := max(r.sz.coldStarts, 3)
	var hash, keys, handshake, inits, startCPU, floorWall, floorCPU []float64
	for range n {
		start := time.Now()
		if _, err := manifest.FileSHA256(m.ExecutablePath()); err != nil {
			return err
		}
		hash = append(hash, millis(time.Since(start)))
		start = time.Now()
		if _, err := pluginkit.NewMTLS(); err != nil {
			return err
		}
		keys = append(keys, millis(time.Since(start)))
		hs, cpu, initMs, err := pluginHandshake(ctx, m.ExecutablePath(), r.dir)
		if err != nil {
			return err
		}
		handshake = append(handshake, millis(hs))
		startCPU = append(startCPU, millis(cpu))
		inits = append(inits, initMs)
		fw, fc, err := processFloor(ctx, r.bins.echo, r.dir)
		if err != nil {
			return err
		}
		floorWall, floorCPU = append(floorWall, millis(fw)), append(floorCPU, millis(fc))
	}
	fi, err := os.Stat(m.ExecutablePath())
	if err != nil {
		return err
	}
	r.report.add(secColdStart,
		Figure{Name: "machine_sha256_mb_per_s", Value: float64(fi.Size()) / (1 << 20) / (median(hash) / 1000), Unit: "MB_per_s", Label: "calibration: SHA-256 speed of this machine during the run", Note: "with SHA-NI and an idle core, expect well over 1000; lower means other load slowed every figure"},
		Figure{Name: "cold_start_checksum_ms", Value: median(hash), Unit: "ms", Label: "part: SHA-256 of the plugin binary"},
		Figure{Name: "cold_start_mtls_keys_ms", Value: median(keys), Unit: "ms", Label: "part: Ed25519 mTLS material (two certificates)"},
		Figure{Name: "plugin_handshake_ms", Value: median(handshake), Unit: "ms", Label: "part: plugin process alone, exec to handshake line", Note: "no TLS, GODEBUG=inittrace=1"},
		Figure{Name: "plugin_start_cpu_ms", Value: median(startCPU), Unit: "ms", Label: "part: CPU the plugin used up to its handshake", Note: "all threads; less sensitive to other load than wall time"},
		Figure{Name: "plugin_init_ms", Value: median(inits), Unit: "ms", Label: "part: of which package initialisers", Note: "sum of inittrace clock times"},
		Figure{Name: "go_process_floor_ms", Value: median(floorWall), Unit: "ms", Label: "floor: a small Go program (the echo helper), exec to its first line", Note: fmt.Sprintf("%.1f ms of CPU; what any Go plugin pays on this machine", median(floorCPU))},
	)
	return nil
}

// initLine matches a GODEBUG=inittrace=1 line: "init pkg @0.1 ms, 0.2 ms clock, ...".
var initLine = regexp.MustCompile(`^init \S+ @[0-9.]+ ms, ([0-9.]+) ms clock`)

// pluginHandshake runs the plugin binary as go-plugin would (the magic
// cookie, a socket directory) and returns the time until it printed its
// handshake line, the CPU time it had used by then, and the total clock
// time of its package initialisers (ms).
func pluginHandshake(ctx context.Context, path, dir string) (time.Duration, time.Duration, float64, error) {
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = []string{
		pluginkit.Handshake.MagicCookieKey + "=" + pluginkit.Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS=" + strconv.Itoa(pluginkit.ProtocolVersion),
		"PLUGIN_UNIX_SOCKET_DIR=" + dir,
		"GODEBUG=inittrace=1",
		"PATH=" + os.Getenv("PATH"),
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, 0, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, 0, 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, fmt.Errorf("start %s: %w", path, err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	initTotal := make(chan float64, 1)
	go func() {
		total := 0.0
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := initLine.FindStringSubmatch(sc.Text()); m != nil {
				v, _ := strconv.ParseFloat(m[1], 64)
				total += v
			}
		}
		initTotal <- total
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	elapsed := time.Since(start)
	if err != nil || strings.Count(line, "|") < 4 {
		return 0, 0, 0, fmt.Errorf("plugin %s printed no handshake (%q): %v", path, line, err)
	}
	cpu, err := processCPU(cmd.Process.Pid)
	if err != nil {
		return 0, 0, 0, err
	}
	_ = cmd.Process.Kill()
	select {
	case v := <-initTotal:
		return elapsed, cpu, v, nil
	case <-time.After(5 * time.Second):
		return 0, 0, 0, fmt.Errorf("plugin %s: stderr did not close after kill", path)
	}
}

// processFloor starts the echo helper, a small Go program, and returns the
// time until it printed its first line and the CPU it had used by then: the
// floor of starting any Go process on this machine.
func processFloor(ctx context.Context, echoBin, dir string) (time.Duration, time.Duration, error) {
	start := time.Now()
	srv, err := startEcho(ctx, echoBin, dir)
	if err != nil {
		return 0, 0, err
	}
	wall := time.Since(start)
	cpu, cerr := processCPU(srv.cmd.Process.Pid)
	if err := srv.stop(); err != nil && cerr == nil {
		cerr = err
	}
	return wall, cpu, cerr
}
