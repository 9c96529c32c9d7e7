package bench

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/oore-ci/oore-scm-gitlab/bench/internal/floorplugin"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

// Import paths of the binaries a run launches, relative to the module root.
const (
	pluginPkg = "."
	peerPkg   = "./bench/internal/peerplugin/cmd/oore-bench-peer"
	echoPkg   = "./bench/internal/echo/cmd/oore-bench-echo"
	floorPkg  = "./bench/internal/floorplugin/cmd/oore-bench-floor"
)

// binaries are the programs a run starts as child processes.
type binaries struct {
	// plugin is the sealed manifest of the GitLab plugin (its binary beside it).
	plugin *manifest.Manifest
	// peer is the Woodpecker-addon-style peer plugin.
	peer string
	// echo is the Unix-socket echo server (the floor).
	echo string
	// floor is the sealed manifest of the smallest pluginkit plugin (the
	// cold-start floor), in its own folder beside its binary.
	floor *manifest.Manifest
}

// ModuleRoot finds the folder holding go.mod at or above dir.
func ModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above " + dir)
		}
		dir = parent
	}
}

// buildBinaries compiles the peer, echo and floor helpers into dir (the
// floor plugin, sealed, in dir/floor), and the GitLab
// plugin too unless pluginDir names an already built and sealed one (the
// output of `make build`). The plugin is built like `make build` does
// (-trimpath, CGO off) so its size and start-up are what ships.
func buildBinaries(ctx context.Context, root, dir, pluginDir string) (*binaries, error) {
	pkgs := []string{peerPkg, echoPkg, floorPkg}
	if pluginDir == "" {
		pkgs = append(pkgs, pluginPkg)
	}
	args := append([]string{"build", "-trimpath", "-o", dir + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build benchmark binaries: %w\n%s", err, out)
	}
	b := &binaries{
		peer: filepath.Join(dir, "oore-bench-peer"),
		echo: filepath.Join(dir, "oore-bench-echo"),
	}
	floor, err := sealFloor(dir)
	if err != nil {
		return nil, err
	}
	b.floor = floor
	if pluginDir != "" {
		b.plugin, err = manifest.Load(filepath.Join(pluginDir, manifest.FileName))
	} else {
		src := filepath.Join(root, "manifests", "gitlab.json")
		b.plugin, err = manifest.Seal(src, filepath.Join(dir, "oore-scm-gitlab"), filepath.Join(dir, manifest.FileName))
	}
	if err != nil {
		return nil, fmt.Errorf("plugin manifest: %w", err)
	}
	return b, nil
}

// sealFloor moves the floor plugin's binary into dir/floor and seals its
// manifest there: a manifest is found beside its binary, and dir already
// holds the GitLab plugin's.
func sealFloor(dir string) (*manifest.Manifest, error) {
	fdir := filepath.Join(dir, "floor")
	if err := os.MkdirAll(fdir, 0o755); err != nil {
		return nil, err
	}
	bin := filepath.Join(fdir, floorplugin.Executable)
	if err := os.Rename(filepath.Join(dir, floorplugin.Executable), bin); err != nil {
		return nil, fmt.Errorf("floor plugin: %w", err)
	}
	src := filepath.Join(fdir, "manifest.src.json")
	if err := os.WriteFile(src, []byte(floorplugin.Manifest), 0o644); err != nil {
		return nil, err
	}
	m, err := manifest.Seal(src, bin, filepath.Join(fdir, manifest.FileName))
	if err != nil {
		return nil, fmt.Errorf("floor plugin manifest: %w", err)
	}
	return m, nil
}

// goTool is $GOROOT/bin/go when GOROOT is set, else go on PATH.
func goTool() string {
	if r := os.Getenv("GOROOT"); r != "" {
		return filepath.Join(r, "bin", "go")
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// fileSHA256 is the SHA-256 of a file.
func fileSHA256(path string) ([]byte, error) {
	sum, err := manifest.FileSHA256(path)
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(sum)
}
