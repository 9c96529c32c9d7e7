package clone

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
)

// walkthroughFile holds the README's walkthrough (and what `make run`
// prints): connect GitLab, make the simulator push, mint a job for the
// build, and clone the private repository through the host's checkout proxy
// at the triggered sha. It runs with OORE, OORE_TOKEN, GITLAB_URL and
// GITLAB_TOKEN set, as `make run` prints them.
const walkthroughFile = "host-test/cmd/oore-run/walkthrough.sh"

// TestWalkthroughClonesThroughTheProxy runs the walkthrough's commands, as
// they are in walkthroughFile, in bash against the oore-host binary and the
// simulator: the private repository ends up checked out at the sha the push
// triggered.
func TestWalkthroughClonesThroughTheProxy(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "sed", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the walkthrough needs %s: %v", tool, err)
		}
	}
	root, err := e2ekit.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	walkthrough, err := os.ReadFile(filepath.Join(root, walkthroughFile))
	if err != nil {
		t.Fatal(err)
	}
	s := startStack(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", string(walkthrough))
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LANG=C", "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1",
		"OORE=" + s.base, "OORE_TOKEN=" + s.owner, "GITLAB_URL=" + s.sim.URL, "GITLAB_TOKEN=" + s.demo.Token}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the walkthrough failed: %v\n%s\nhost log:\n%.4000s", err, out, s.logs.String())
	}
	head, err := s.sim.BranchHead(s.demo.FlutterApp.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "checked out "+head) {
		t.Fatalf("the walkthrough did not check out the pushed %s:\n%s", head, out)
	}
	if hits := filesContaining(t, filepath.Join(dir, "flutter-app", ".git"), s.demo.Token); len(hits) > 0 {
		t.Fatalf("the GitLab token is in the clone: %v", hits)
	}
}
