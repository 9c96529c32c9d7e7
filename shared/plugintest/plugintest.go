// Package plugintest builds real plugin binaries for tests and seals their
// manifests, so tests launch the plugin as a subprocess exactly as a host does.
package plugintest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
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
	built, err := compiled(ModuleRoot(t), pkg)
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	if err := copyFile(built, bin); err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	m, err := manifest.Seal(manifestSrc, bin, filepath.Join(dir, manifest.FileName))
	if err != nil {
		t.Fatalf("plugintest: seal: %v", err)
	}
	return m
}

// builds holds, per package, the binary this test process compiled: tests
// that build the same plugin many times (each in its own folder, often
// altering it) pay for one compilation, and concurrent tests do not compile
// side by side.
var builds sync.Map // "root|pkg" -> *build

type build struct {
	once sync.Once
	path string
	err  error
}

// compiled builds pkg once per test process into a per-user cache folder
// (written under a temporary name, then renamed, so concurrent test processes
// never see a half-written file) and returns its path.
func compiled(root, pkg string) (string, error) {
	key := root + "|" + pkg
	v, _ := builds.LoadOrStore(key, &build{})
	b := v.(*build)
	b.once.Do(func() {
		sum := sha256.Sum256([]byte(key))
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("oore-plugintest-%d", os.Getuid()), hex.EncodeToString(sum[:8]))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			b.err = err
			return
		}
		final := filepath.Join(dir, "plugin")
		tmp := fmt.Sprintf("%s.%d.tmp", final, os.Getpid())
		cmd := exec.Command(goTool(), "build", "-o", tmp, pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
			return
		}
		if err := os.Rename(tmp, final); err != nil {
			b.err = err
			return
		}
		b.path = final
	})
	return b.path, b.err
}

// copyFile copies a built binary to dst with mode 0755. A copy, not a link:
// tests change their copy (to see a checksum refused) without touching others.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
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
