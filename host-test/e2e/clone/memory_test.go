package clone

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLargeCloneKeepsHostMemoryFlat: a 50 MB repository (incompressible)
// clones through the proxy while the host process's peak resident memory
// grows by a small fraction of that: the pack is streamed, never held.
func TestLargeCloneKeepsHostMemoryFlat(t *testing.T) {
	t.Parallel()
	const size = 50 << 20
	s := startStack(t)
	integration := s.connect()
	app := s.demo.FlutterApp
	s.hookUp(integration, app)
	if _, err := s.sim.AddLargeFile(app.ID, size); err != nil {
		t.Fatal(err)
	}
	delivery, sha := s.push(app, "main")
	j := s.newJob(delivery, nil)

	r := newRunner(t)
	r.mustGit(append(bearer(j.Token), "ls-remote", j.CloneURL)...) // the proxy's path is warm
	pid := s.host.Process.Pid
	resetPeak(t, pid)
	before, _ := memory(t, pid)
	sent := s.checkoutBytes()
	r.mustGit(append(bearer(j.Token), "clone", "--quiet", "--no-checkout", j.CloneURL, "src")...)
	_, peak := memory(t, pid)
	streamed := s.checkoutBytes() - sent
	growth := peak - before
	t.Logf("host RSS %.1f MiB before, peak %.1f MiB during the clone (+%.1f MiB); %.1f MiB streamed",
		mib(before), mib(peak), mib(growth), mib(streamed))
	if streamed < size {
		t.Fatalf("the proxy streamed %d bytes, less than the %d-byte file; the test proves nothing", streamed, size)
	}
	if growth > size/5 {
		t.Errorf("the host's peak RSS grew by %.1f MiB while streaming %.1f MiB; the pack is being held in memory", mib(growth), mib(streamed))
	}
	r.mustGit("-C", "src", "checkout", "--quiet", "--detach", sha)
	fi, err := os.Stat(filepath.Join(r.dir, "src", "large.bin"))
	if err != nil || fi.Size() != size {
		t.Fatalf("large.bin after checkout: %v, %v", fi, err)
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// checkoutBytes reads oore_host_checkout_response_bytes_total{provider="gitlab"}
// from the host's /metrics.
func (s *stack) checkoutBytes() int64 {
	s.t.Helper()
	r := s.api("GET", "/metrics", "", nil)
	sc := bufio.NewScanner(bytes.NewReader(r.Body))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || name != `oore_host_checkout_response_bytes_total{provider="gitlab"}` {
			continue
		}
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			s.t.Fatalf("metric value %q", value)
		}
		return int64(f)
	}
	return 0
}
