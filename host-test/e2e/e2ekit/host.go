package e2ekit

import (
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// stopTimeout is how long a host has to stop after SIGINT before it is
// killed and the test fails.
const stopTimeout = 20 * time.Second

// HostConfig is how to run one oore-host process: the flags of
// `oore-host serve` and the environment. Zero fields take the defaults
// named on them.
type HostConfig struct {
	// Binary is the oore-host binary ([Binaries.Host]).
	Binary string
	// Name names the host in failures; "oore-host" when empty.
	Name string
	// Listen is --listen; a free loopback port ([FreeAddr]) when empty.
	Listen string
	// PublicURL is --public-url; "http://" + Listen when empty.
	PublicURL string
	// DataDir is --data-dir; a fresh t.TempDir() when empty.
	DataDir string
	// PluginsDir is --plugins-dir ([Binaries.Plugins]).
	PluginsDir string
	// LogLevel is --log-level; the host's default when empty.
	LogLevel string
	// ExtraArgs follow the flags above.
	ExtraArgs []string
	// Env is added to the test process's environment (e.g.
	// OORE_BOOTSTRAP_TOKEN, OORE_DATABASE_URL: secrets go here, never in
	// the process list).
	Env []string
}

// Host is one running oore-host process.
type Host struct {
	// Name names the host in failures.
	Name string
	// URL is where it listens, e.g. http://127.0.0.1:40123.
	URL string
	// DataDir is its --data-dir.
	DataDir string
	// Cmd is the process.
	Cmd *exec.Cmd
	// Logs is everything it wrote to stdout and stderr.
	Logs *Logs

	t       testing.TB
	done    chan struct{}
	waitErr error // set before done is closed
}

// StartHost starts `oore-host serve` as cfg says, without waiting for it to
// be healthy ([Host.WaitHealthy]). The test's cleanup stops it ([Host.Stop]).
func StartHost(t testing.TB, cfg HostConfig) *Host {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "oore-host"
	}
	if cfg.Listen == "" {
		cfg.Listen = FreeAddr(t)
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + cfg.Listen
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	args := []string{"serve", "--listen", cfg.Listen, "--public-url", cfg.PublicURL, "--data-dir", cfg.DataDir, "--plugins-dir", cfg.PluginsDir}
	if cfg.LogLevel != "" {
		args = append(args, "--log-level", cfg.LogLevel)
	}
	args = append(args, cfg.ExtraArgs...)
	h := &Host{Name: cfg.Name, URL: "http://" + cfg.Listen, DataDir: cfg.DataDir, Logs: &Logs{}, t: t, done: make(chan struct{})}
	h.Cmd = exec.Command(cfg.Binary, args...)
	h.Cmd.Env = append(os.Environ(), cfg.Env...)
	h.Cmd.Stdout, h.Cmd.Stderr = h.Logs, h.Logs
	if err := h.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", h.Name, err)
	}
	go func() { h.waitErr = h.Cmd.Wait(); close(h.done) }()
	t.Cleanup(h.Stop)
	return h
}

// WaitHealthy polls GET /healthz every poll until it answers 200, and fails
// the test if the host exits first or is not healthy within timeout.
func (h *Host) WaitHealthy(timeout, poll time.Duration) {
	h.t.Helper()
	client := &http.Client{Timeout: timeout}
	deadline := time.Now().Add(timeout)
	for {
		res, err := client.Get(h.URL + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-h.done:
			h.t.Fatalf("%s exited before it was healthy: %v\n%s", h.Name, h.waitErr, h.Logs.Bytes())
		case <-time.After(poll):
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s not healthy after %s:\n%s", h.Name, timeout, h.Logs.Bytes())
		}
	}
}

// Stop ends the host gracefully (SIGINT); if it has not stopped within 20 s
// it is killed and the test fails. Stopping a stopped host does nothing.
func (h *Host) Stop() {
	select {
	case <-h.done:
		return
	default:
	}
	_ = h.Cmd.Process.Signal(os.Interrupt)
	select {
	case <-h.done:
	case <-time.After(stopTimeout):
		_ = h.Cmd.Process.Kill()
		<-h.done
		h.t.Errorf("%s did not stop within %s of SIGINT", h.Name, stopTimeout)
	}
}

// Kill ends the host at once, as a crash would (SIGKILL), and waits for it
// to be gone. It may be called from any goroutine.
func (h *Host) Kill() {
	if err := h.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		h.t.Errorf("kill %s: %v", h.Name, err)
	}
	<-h.done
}
