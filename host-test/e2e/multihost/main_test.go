package multihost

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

// binaries are the programs TestMain builds once for every test.
type binaries struct {
	host    string // the oore-host binary
	plugins string // <dir>/gitlab/{oore-scm-gitlab, manifest.json}
}

// built is set by TestMain before any test runs and only read afterwards.
var built binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "oore-multihost-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if built, err = build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "multihost: build:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles oore-host and the GitLab plugin, and seals the plugin's
// manifest, into dir.
func build(dir string) (binaries, error) {
	root, err := moduleRoot()
	if err != nil {
		return binaries{}, err
	}
	goTool := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	b := binaries{host: filepath.Join(dir, "bin", "oore-host"), plugins: filepath.Join(dir, "plugins")}
	pluginBin := filepath.Join(b.plugins, "gitlab", "oore-scm-gitlab")
	for _, t := range []struct{ out, pkg string }{{b.host, "./host-test/cmd/oore-host"}, {pluginBin, "."}} {
		cmd := exec.Command(goTool, "build", "-o", t.out, t.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return binaries{}, fmt.Errorf("go build %s: %w\n%s", t.pkg, err, out)
		}
	}
	if _, err := manifest.Seal(filepath.Join(root, "manifests", "gitlab.json"), pluginBin, filepath.Join(b.plugins, "gitlab", manifest.FileName)); err != nil {
		return binaries{}, fmt.Errorf("seal the gitlab manifest: %w", err)
	}
	return b, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above %s", dir)
		}
		dir = parent
	}
}
