package clone

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

// Built once by TestMain.
var (
	hostBinary string // the oore-host binary
	pluginsDir string // <dir>/gitlab/{oore-scm-gitlab, manifest.json}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "oore-clone-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if _, err := exec.LookPath("git"); err != nil {
		fmt.Fprintln(os.Stderr, "clone e2e: the git client is required:", err)
	} else if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "clone e2e: build:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles oore-host and the GitLab plugin (with its sealed manifest).
func build(dir string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	goTool := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	hostBinary = filepath.Join(dir, "bin", "oore-host")
	pluginsDir = filepath.Join(dir, "plugins")
	pluginBin := filepath.Join(pluginsDir, "gitlab", "oore-scm-gitlab")
	for _, b := range []struct{ out, pkg string }{{hostBinary, "./host-test/cmd/oore-host"}, {pluginBin, "."}} {
		cmd := exec.Command(goTool, "build", "-o", b.out, b.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
		}
	}
	if _, err := manifest.Seal(filepath.Join(root, "manifests", "gitlab.json"), pluginBin, filepath.Join(pluginsDir, "gitlab", manifest.FileName)); err != nil {
		return fmt.Errorf("seal the gitlab manifest: %w", err)
	}
	return nil
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
