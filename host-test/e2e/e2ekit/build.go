package e2ekit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

// Binaries are the programs [Main] builds once for every test of a package.
type Binaries struct {
	// Host is the oore-host binary.
	Host string
	// Plugins is the plugins directory: gitlab/{oore-scm-gitlab, manifest.json}.
	Plugins string
}

// Main is the body of a TestMain: it checks the preconditions, builds the
// binaries into a temporary directory and stores them in *bins, runs the
// tests, removes the directory and returns the exit code for os.Exit. name
// prefixes what it reports on standard error (e.g. "clone e2e").
func Main(m *testing.M, name string, bins *Binaries, preconditions ...func() error) int {
	dir, err := os.MkdirTemp("", "oore-e2ekit-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: make the build directory: %v\n", name, err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, check := range preconditions {
		if err := check(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			return 1
		}
	}
	if *bins, err = Build(dir); err != nil {
		fmt.Fprintf(os.Stderr, "%s: build: %v\n", name, err)
		return 1
	}
	return m.Run()
}

// Build compiles oore-host and the GitLab plugin into dir, and seals the
// plugin's manifest beside it.
func Build(dir string) (Binaries, error) {
	root, err := ModuleRoot()
	if err != nil {
		return Binaries{}, err
	}
	goTool := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	b := Binaries{Host: filepath.Join(dir, "bin", "oore-host"), Plugins: filepath.Join(dir, "plugins")}
	pluginBin := filepath.Join(b.Plugins, "gitlab", "oore-scm-gitlab")
	for _, t := range []struct{ out, pkg string }{{b.Host, "./host-test/cmd/oore-host"}, {pluginBin, "."}} {
		cmd := exec.Command(goTool, "build", "-o", t.out, t.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go build %s: %w\n%s", t.pkg, err, out)
		}
	}
	if _, err := manifest.Seal(filepath.Join(root, "manifests", "gitlab.json"), pluginBin, filepath.Join(b.Plugins, "gitlab", manifest.FileName)); err != nil {
		return Binaries{}, fmt.Errorf("seal the gitlab manifest: %w", err)
	}
	return b, nil
}

// ModuleRoot is the directory of the go.mod above the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
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
