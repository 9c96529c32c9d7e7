//go:build unix

package conformance

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

// caseHostDeath starts the plugin from a helper host process (this binary,
// re-executed), kills the host with SIGKILL, which gives it no chance to
// stop its plugin, and checks that the plugin exits within 5 seconds on
// its own. An orphan plugin is killed at the end either way.
func caseHostDeath(c *C) {
	exe, err := os.Executable()
	if err != nil {
		c.Fatalf("find this binary to re-execute as a host: %v", err)
	}
	host := exec.CommandContext(c.ctx, exe)
	host.Env = append(os.Environ(), helperHostEnv+"="+filepath.Join(c.s.manifest.Dir, manifest.FileName))
	host.Stderr = c.s.logs
	out, err := host.StdoutPipe()
	if err != nil {
		c.Fatalf("pipe from the helper host: %v", err)
	}
	if err := host.Start(); err != nil {
		c.Fatalf("start the helper host: %v", err)
	}
	c.Cleanup(func() { _ = host.Process.Kill(); _ = host.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, convErr := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "pid ")))
	if err != nil || !strings.HasPrefix(line, "pid ") || convErr != nil || pid <= 0 {
		c.Fatalf("the helper host did not launch the plugin: %q (%v)", strings.TrimSpace(line), err)
	}
	c.Cleanup(func() {
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if !alive(pid) {
		c.Fatalf("the plugin (pid %d) is not running right after its launch", pid)
	}
	if err := host.Process.Signal(syscall.SIGKILL); err != nil {
		c.Fatalf("kill the helper host: %v", err)
	}
	_ = host.Wait()
	killed := time.Now()
	for alive(pid) {
		if time.Since(killed) > 5*time.Second {
			c.Fatalf("the plugin (pid %d) outlived its SIGKILLed host by 5s: serve with pluginkit.Serve, which exits when the host is gone", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Logf("the plugin exited %s after its host was killed", time.Since(killed).Round(time.Millisecond))
}

// alive reports whether pid runs (a zombie counts as gone).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		// Without /proc (macOS) kill(pid, 0) is all there is; with it, the
		// process is gone.
		_, procErr := os.Stat("/proc/self/stat")
		return procErr != nil
	}
	// The state follows the command name in parentheses, which may hold spaces.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
