// Package plugintest builds real plugin binaries for tests and seals their
// manifests, so tests launch the plugin as a subprocess exactly as a host does.
package plugintest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

// ModuleRoot finds the repository root (the folder holding go.mod) from the
// calling test's working directory.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("plugintest: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Build compiles the Go package pkg (an import path or ./relative to the
// module root) into dir/executable and seals manifestSrc beside it as
// dir/manifest.json. It returns the sealed manifest.
func Build(t testing.TB, dir, pkg, manifestSrc string) *manifest.Manifest {
	t.Helper()
	src, err := manifest.Load(manifestSrc)
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	bin := filepath.Join(dir, src.Executable)
	cmd := exec.Command(goTool(), "build", "-o", bin, pkg)
	cmd.Dir = ModuleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("plugintest: go build %s: %v\n%s", pkg, err, out)
	}
	m, err := manifest.Seal(manifestSrc, bin, filepath.Join(dir, manifest.FileName))
	if err != nil {
		t.Fatalf("plugintest: seal: %v", err)
	}
	return m
}

// BuildGitLab builds the real oore-scm-gitlab plugin into dir from this
// repository's main package and manifests/gitlab.json.
func BuildGitLab(t testing.TB, dir string) *manifest.Manifest {
	t.Helper()
	root := ModuleRoot(t)
	return Build(t, dir, ".", filepath.Join(root, "manifests", "gitlab.json"))
}

// goTool is the go command: $GOROOT/bin/go when GOROOT is set, else go on PATH.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}
