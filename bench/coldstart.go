package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/pluginkit"
)

// coldStart measures goal 4: launcher.Launch to the first answered call
// (Launch returns after GetProviderInfo has answered and been compared with
// the manifest), in each mode the launcher has, interleaved; the same-run
// baselines (go-plugin's plain launch of the same binary, and the smallest
// pluginkit plugin launched the default way); and the parts that explain it.
func (r *run) coldStart(ctx context.Context) error {
	m := r.bins.plugin
	secure := func(m *manifest.Manifest, opts launcher.Options) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			opts.Env = r.cfg.PluginEnv
			start := time.Now()
			p, err := launcher.Launch(ctx, m, opts)
			elapsed := time.Since(start)
			if err != nil {
				return 0, err
			}
			return elapsed, p.Close()
		}
	}
	env, err := launchedEnv(ctx, m, r.cfg.PluginEnv)
	if err != nil {
		return err
	}
	type mode struct {
		name, label string
		launch      func() (time.Duration, error)
		goal        *Goal
	}
	modes := []mode{
		{"cold_start_ms", "Ed25519 mTLS over an inherited pipe, checksum cache (unchanged binary not re-hashed)", secure(m, launcher.Options{ChecksumCache: launcher.NewChecksumCache()}), &Goal{AtMost: true, Bound: 20}},
		{"cold_start_plain_ms", "baseline: go-plugin plain launch of the same binary (no TLS, no checksum), the issue's 9 ms anchor", func() (time.Duration, error) { return plainLaunch(ctx, m, env) }, nil},
		{"cold_start_floor_ms", "floor: the smallest pluginkit plugin (GetProviderInfo only), launched like cold_start_ms", secure(r.bins.floor, launcher.Options{ChecksumCache: launcher.NewChecksumCache()}), nil},
		{"cold_start_hash_ms", "Ed25519 mTLS, SHA-256 of the binary on every launch", secure(m, launcher.Options{}), nil},
		{"cold_start_automtls_ms", "go-plugin AutoMTLS (P-521), SHA-256 on every launch", secure(m, launcher.Options{GoPluginAutoMTLS: true}), nil},
		{"cold_start_automtls_cached_ms", "go-plugin AutoMTLS (P-521), checksum cache", secure(m, launcher.Options{GoPluginAutoMTLS: true, ChecksumCache: launcher.NewChecksumCache()}), nil},
	}
	if dir := r.cfg.ComparePluginDir; dir != "" {
		vm, err := manifest.Load(filepath.Join(dir, manifest.FileName))
		if err != nil {
			return fmt.Errorf("the plugin to compare: %w", err)
		}
		modes = append(modes, mode{"cold_start_variant_ms", "the -compare-plugin-dir build, launched like cold_start_ms", secure(vm, launcher.Options{ChecksumCache: launcher.NewChecksumCache()}), nil})
	}
	samples := make([][]float64, len(modes))
	for i := -1; i < r.sz.coldStarts; i++ { // i == -1: warm-up (page cache, checksum caches)
		for j, mode := range modes {
			d, err := mode.launch()
			if err != nil {
				return fmt.Errorf("launch (%s): %w", mode.name, err)
			}
			if i >= 0 {
				samples[j] = append(samples[j], millis(d))
			}
		}
	}
	for j, mode := range modes {
		note := fmt.Sprintf("median of %d launches, p90 %.1f ms", len(samples[j]), percentile(samples[j], 90))
		if mode.name == "cold_start_variant_ms" {
			note += "; variant: " + r.cfg.ComparePluginDir
		}
		r.report.add(secColdStart, Figure{Name: mode.name, Value: median(samples[j]), Unit: "ms", Label: mode.label, Goal: mode.goal, Note: note})
		if j == 1 { // after the plain baseline: the goal as a ratio to it
			r.report.add(secColdStart, Figure{Name: "cold_start_vs_plain_ratio", Value: ratio(median(samples[0]), median(samples[1])), Unit: "x",
				Label: "cold_start_ms / cold_start_plain_ms", Goal: &Goal{AtMost: true, Bound: 20.0 / 9},
				Note: "goal: the issue's 20 ms over its 9 ms plain anchor"})
		}
	}
	return r.coldStartParts(ctx, m)
}

// launchedEnv launches m the launcher's default way and returns the
// environment the launcher gave the process (from /proc), without the TLS
// descriptor and go-plugin's own variables (go-plugin sets those on every
// launch): a plain launch given it differs from the secure one only in its
// security, whatever the launcher passes (GOMAXPROCS included).
func launchedEnv(ctx context.Context, m *manifest.Manifest, extra []string) ([]string, error) {
	p, err := launcher.Launch(ctx, m, launcher.Options{Env: extra})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.Pid()))
	if err != nil {
		return nil, fmt.Errorf("the launched plugin's environment: %w", err)
	}
	var env []string
	for _, kv := range strings.Split(string(raw), "\x00") {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case kv == "", k == pluginkit.EnvTLSFD, k == pluginkit.Handshake.MagicCookieKey, strings.HasPrefix(k, "PLUGIN_"):
			continue
		}
		env = append(env, kv)
	}
	return env, nil
}

// plainLaunch is go-plugin's plain launch of m's binary: no TLS, no
// checksum, the given environment (the host's own is not added), then the
// same first call and manifest comparison as launcher.Launch. It returns the
// time to that answer; the process is ended afterwards, untimed.
func plainLaunch(ctx context.Context, m *manifest.Manifest, env []string) (time.Duration, error) {
	start := time.Now()
	cmd := exec.Command(m.ExecutablePath())
	cmd.Env = env
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginkit.Handshake,
		VersionedPlugins: pluginkit.VersionedPlugins(nil),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.NewNullLogger(),
		GRPCDialOptions:  pluginkit.DialOptions(),
		StartTimeout:     10 * time.Second,
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		return 0, err
	}
	raw, err := rpc.Dispense(pluginkit.PluginName)
	if err != nil {
		return 0, err
	}
	conn, ok := raw.(*pluginkit.Conn)
	if !ok {
		return 0, fmt.Errorf("unexpected client type %T", raw)
	}
	resp, err := scmv1.NewProviderServiceClient(conn).GetProviderInfo(ctx, &scmv1.GetProviderInfoRequest{})
	if err != nil {
		return 0, fmt.Errorf("provider info: %w", err)
	}
	if diff := m.Diff(resp.GetInfo()); len(diff) > 0 {
		return 0, fmt.Errorf("provider info differs from the manifest: %v", diff)
	}
	return time.Since(start), nil
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
