package main

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
)

// TestRunByHandExplainsAndExits runs the real binary as a person would,
// without a host's handshake: it must say what it is and how a host launches
// it, and exit 1 rather than wait for a host forever.
func TestRunByHandExplainsAndExits(t *testing.T) {
	t.Parallel()
	m := plugintest.BuildGitLab(t, t.TempDir())
	cmd := exec.Command(m.ExecutablePath())
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("run by hand: %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{"oore-scm-gitlab is an Oore SCM provider plugin", "go-plugin protocol 1", "manifest.json", "--plugins-dir"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if filepath.Base(m.ExecutablePath()) != "oore-scm-gitlab" {
		t.Fatalf("binary is %s", m.ExecutablePath())
	}
}
