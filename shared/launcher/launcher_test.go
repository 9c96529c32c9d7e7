package launcher_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// buildTestProvider builds the misbehaving test plugin into a fresh folder.
func buildTestProvider(t *testing.T) *manifest.Manifest {
	t.Helper()
	src, err := filepath.Abs("testdata/testprovider.json")
	if err != nil {
		t.Fatal(err)
	}
	return plugintest.Build(t, t.TempDir(), "./shared/launcher/internal/testprovider", src)
}

func launch(t *testing.T, m *manifest.Manifest) *launcher.Plugin {
	t.Helper()
	p, err := launcher.Launch(context.Background(), m, launcher.Options{Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatalf("launch: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func delivery(kind string, body []byte, extra ...string) *scmv1.VerifyWebhookRequest {
	h := map[string]string{"x-test": kind}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return &scmv1.VerifyWebhookRequest{Delivery: &scmv1.WebhookDelivery{Headers: h, Body: body}}
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	if err != nil {
		return false
	}
	// A zombie still answers kill(0); treat it as gone.
	b, err := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(itoa(pid)), "stat"))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b))
	return len(fields) > 2 && fields[2] != "Z"
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}

func TestPanicAnswersInternalAndKeepsServing(t *testing.T) {
	t.Parallel()
	p := launch(t, buildTestProvider(t))
	pid := p.Pid()
	_, err := p.Provider().VerifyWebhook(context.Background(), delivery("panic", nil))
	if got := scmerr.Parse(err); got.Code != codes.Internal || got.Reason != scmerr.ReasonInternal {
		t.Fatalf("panic answered %v (%s), want Internal/INTERNAL", got.Code, got.Reason)
	}
	resp, err := p.Provider().VerifyWebhook(context.Background(), delivery("ok", nil))
	if err != nil || resp.GetDeliveryId() != "ok" {
		t.Fatalf("after panic: %v %v", resp, err)
	}
	if p.Pid() != pid || p.Restarts() != 0 {
		t.Fatalf("plugin was restarted (pid %d -> %d, restarts %d); a panic must not kill it", pid, p.Pid(), p.Restarts())
	}
}

func TestDeadlineCrossesTheBoundary(t *testing.T) {
	t.Parallel()
	p := launch(t, buildTestProvider(t))
	marker := filepath.Join(t.TempDir(), "cancelled")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Provider().VerifyWebhook(ctx, delivery("slow", nil, "x-test-marker", marker))
	if code := scmerr.CodeOf(err); code != codes.DeadlineExceeded {
		t.Fatalf("slow handler answered %v, want DeadlineExceeded", code)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("call took %v; the deadline did not bound it", el)
	}
	// The handler's context is cancelled inside the plugin: it writes the marker.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(marker)
		if err == nil {
			if !strings.Contains(string(b), "deadline") && !strings.Contains(string(b), "canceled") {
				t.Fatalf("handler context ended with %q", b)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the handler's context was never cancelled")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSixteenMiBCrossesBothWays(t *testing.T) {
	t.Parallel()
	p := launch(t, buildTestProvider(t))
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	resp, err := p.Provider().VerifyWebhook(context.Background(), delivery("echo", body))
	if err != nil {
		t.Fatalf("16 MiB echo: %v", err)
	}
	got := resp.GetEvents()[0].GetPush().GetCommits()[0].GetMessage()
	if len(got) != len(body) || got != string(body) {
		t.Fatalf("echoed %d bytes, want %d identical bytes", len(got), len(body))
	}
}

func TestKilledPluginIsRestartedAndCallsFailFastMeanwhile(t *testing.T) {
	t.Parallel()
	p := launch(t, buildTestProvider(t))
	pid := p.Pid()
	if !alive(pid) {
		t.Fatalf("plugin pid %d not alive", pid)
	}
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	sawUnavailable := false
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := p.Provider().VerifyWebhook(ctx, delivery("ok", nil))
		cancel()
		if err == nil && p.Pid() != pid {
			break
		}
		if err != nil {
			if code := scmerr.CodeOf(err); code != codes.Unavailable {
				t.Fatalf("call during restart answered %v (%v), want Unavailable", code, err)
			}
			sawUnavailable = true
		}
		if time.Since(killed) > 3*time.Second {
			t.Fatal("plugin not back within 3s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	back := time.Since(killed)
	if back > time.Second {
		t.Errorf("plugin back after %v, want within 1s", back)
	}
	if !sawUnavailable {
		t.Error("no call saw Unavailable while the plugin was down")
	}
	if p.Restarts() != 1 {
		t.Errorf("restarts = %d, want 1", p.Restarts())
	}
	newPid := p.Pid()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if alive(newPid) || alive(pid) {
		t.Fatalf("plugin process still alive after Close (pids %d, %d)", pid, newPid)
	}
	_, err := p.Provider().VerifyWebhook(context.Background(), delivery("ok", nil))
	if scmerr.CodeOf(err) != codes.Unavailable {
		t.Fatalf("call after Close: %v, want Unavailable", err)
	}
}

func TestChangedBinaryIsRefusedBeforeItRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	script := filepath.Join(dir, "testprovider")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	src, _ := filepath.Abs("testdata/testprovider.json")
	m, err := manifest.Seal(src, script, filepath.Join(dir, manifest.FileName))
	if err != nil {
		t.Fatal(err)
	}
	// Change one byte of the binary after sealing.
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntouch "+marker+"\n#\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]launcher.Options{
		"go-plugin SecureConfig": {},
		"checksum cache":         {ChecksumCache: launcher.NewChecksumCache()},
	} {
		_, err = launcher.Launch(context.Background(), m, opts)
		if !errors.Is(err, manifest.ErrChecksumMismatch) {
			t.Fatalf("%s: launch of a changed binary: %v, want ErrChecksumMismatch", name, err)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the changed binary ran")
	}
}

func TestChecksumCacheSeesReplacedBinary(t *testing.T) {
	t.Parallel()
	m := buildTestProvider(t)
	cache := launcher.NewChecksumCache()
	p, err := launcher.Launch(context.Background(), m, launcher.Options{ChecksumCache: cache})
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Close()
	b, err := os.ReadFile(m.ExecutablePath())
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0xff
	if err := os.WriteFile(m.ExecutablePath(), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := launcher.Launch(context.Background(), m, launcher.Options{ChecksumCache: cache}); !errors.Is(err, manifest.ErrChecksumMismatch) {
		t.Fatalf("relaunch after the binary changed: %v, want ErrChecksumMismatch", err)
	}
}

func TestManifestWithoutChecksumIsRefused(t *testing.T) {
	t.Parallel()
	m := buildTestProvider(t)
	m.SHA256 = ""
	if _, err := launcher.Launch(context.Background(), m, launcher.Options{}); !errors.Is(err, manifest.ErrNoChecksum) {
		t.Fatalf("launch without sha256: %v, want ErrNoChecksum", err)
	}
}

func TestInfoDifferentFromManifestIsRefused(t *testing.T) {
	t.Parallel()
	m := buildTestProvider(t)
	m.Capabilities = append(m.Capabilities, "commit_status")
	m.Version = "9.9.9"
	_, err := launcher.Launch(context.Background(), m, launcher.Options{})
	if !errors.Is(err, launcher.ErrInfoMismatch) {
		t.Fatalf("launch: %v, want ErrInfoMismatch", err)
	}
	for _, want := range []string{"version", "capabilities"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestLaunchDirServesGoodPluginsAndReportsBadOnes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "testprov")
	if err := os.Mkdir(good, 0o755); err != nil {
		t.Fatal(err)
	}
	src, _ := filepath.Abs("testdata/testprovider.json")
	plugintest.Build(t, good, "./shared/launcher/internal/testprovider", src)
	bad := filepath.Join(dir, "broken")
	if err := os.Mkdir(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, manifest.FileName), []byte(`{"name":"broken","protocol_versions":[7]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	reg, errs := launcher.LaunchDir(context.Background(), dir, launcher.Options{})
	defer reg.Close()
	if got := reg.Names(); len(got) != 1 || got[0] != "testprov" {
		t.Fatalf("serving %v, want [testprov]", got)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "protocol_versions") {
		t.Fatalf("errors %v, want one naming protocol_versions", errs)
	}
	p, _ := reg.Get("testprov")
	pid := p.Pid()
	reg.Close()
	if alive(pid) {
		t.Fatal("plugin alive after Registry.Close")
	}
}

// TestMaxProcs: plugins run on one P unless the host says otherwise, and an
// explicit GOMAXPROCS in Options.Env wins.
func TestMaxProcs(t *testing.T) {
	m := buildTestProvider(t)
	cases := []struct {
		name string
		opts launcher.Options
		want func(got int) bool
		says string
	}{
		{"default", launcher.Options{}, func(got int) bool { return got == 1 }, "1"},
		{"two", launcher.Options{MaxProcs: 2}, func(got int) bool { return got == 2 }, "2"},
		{"env wins", launcher.Options{MaxProcs: 2, Env: []string{"GOMAXPROCS=3"}}, func(got int) bool { return got == 3 }, "3"},
		{"runtime decides", launcher.Options{MaxProcs: -1}, func(got int) bool { return got >= 1 && (runtime.NumCPU() == 1 || got > 1) }, "the runtime's choice (more than 1 on a machine with more cores)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = hclog.NewNullLogger()
			p, err := launcher.Launch(context.Background(), m, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			resp, err := p.Provider().VerifyWebhook(context.Background(), delivery("gomaxprocs", nil))
			if err != nil {
				t.Fatal(err)
			}
			got, err := strconv.Atoi(resp.GetDeliveryId())
			if err != nil || !tc.want(got) {
				t.Errorf("plugin GOMAXPROCS = %q, want %s", resp.GetDeliveryId(), tc.says)
			}
		})
	}
}
