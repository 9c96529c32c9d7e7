package conformance_test

import (
	"path/filepath"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/conformance"
	"github.com/oore-ci/oore-scm-gitlab/host-test/conformance/gitlabbackend"
	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/plugin/localgit/localgitbackend"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
)

// TestLocalGitProvider runs the whole suite against the real
// oore-scm-localgit binary over temporary git repositories.
func TestLocalGitProvider(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root := plugintest.ModuleRoot(t)
	plugintest.Build(t, dir, "./plugin/localgit/cmd/oore-scm-localgit", filepath.Join(root, "manifests", "localgit.json"))
	cfg := conformance.NewConfig(filepath.Join(dir, manifest.FileName), localgitbackend.New(t.TempDir()))
	// Each local repository costs a few file system calls to lay out; 4000
	// keep the run short and still span 40 pages of the default size.
	cfg.LargeListing = 4000
	conformance.Run(t, cfg)
}

// TestGitLabProvider runs the whole suite against the real oore-scm-gitlab
// binary over the GitLab simulator. Cases for capabilities the provider
// does not announce yet skip.
func TestGitLabProvider(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plugintest.BuildGitLab(t, dir)
	backend := gitlabbackend.Start(gitlabsim.Options{})
	t.Cleanup(backend.Close)
	conformance.Run(t, conformance.NewConfig(filepath.Join(dir, manifest.FileName), backend))
}
