package launcher_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

// TestMain lets this test binary act as a host process for
// TestPluginExitsWhenItsHostDies.
func TestMain(m *testing.M) {
	if path := os.Getenv("LAUNCHER_TEST_HOST_MANIFEST"); path != "" {
		mf, err := manifest.Load(path)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		p, err := launcher.Launch(context.Background(), mf, launcher.Options{})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("pid", p.Pid())
		select {} // until killed
	}
	os.Exit(m.Run())
}

func TestPluginExitsWhenItsHostDies(t *testing.T) {
	t.Parallel()
	m := buildTestProvider(t)
	host := exec.Command(os.Args[0], "-test.run=^$")
	host.Env = append(os.Environ(), "LAUNCHER_TEST_HOST_MANIFEST="+m.Dir+"/"+manifest.FileName)
	out, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "pid ") {
		_ = host.Process.Kill()
		t.Fatalf("host said %q (%v)", line, err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "pid ")))
	if !alive(pid) {
		t.Fatalf("plugin %d not running", pid)
	}
	_ = host.Process.Signal(syscall.SIGKILL)
	_ = host.Wait()
	deadline := time.Now().Add(3 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("plugin %d outlived its killed host by 3s", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
