package clone

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// walkthrough is the README's walkthrough, copied verbatim: connect GitLab,
// make the simulator push, mint a job for the build, and clone the private
// repository through the host's checkout proxy at the triggered sha. It
// runs with OORE, OORE_TOKEN, GITLAB_URL and GITLAB_TOKEN set, as `make run`
// prints them.
const walkthrough = `
# 1. Connect GitLab with the personal token; its projects are synced.
curl -s -X POST $OORE/v1/integrations/gitlab/start \
  -H "Authorization: Bearer $OORE_TOKEN" \
  -d "{\"host_url\":\"$GITLAB_URL\",\"auth_mode\":\"personal_token\",\"access_token\":\"$GITLAB_TOKEN\"}"
INTEGRATION=$(curl -s $OORE/v1/integrations -H "Authorization: Bearer $OORE_TOKEN" | sed 's/.*"id":"\([^"]*\)".*/\1/')

# 2. Find the private demo repository.
REPO=$(curl -s "$OORE/v1/integrations/$INTEGRATION/repositories?q=flutter-app" -H "Authorization: Bearer $OORE_TOKEN" | sed 's/.*"repositories":\[{"id":"\([^"]*\)".*/\1/')

# 3. Get the repository's webhook secret (shown once).
SECRET=$(curl -s -X POST $OORE/v1/integration-repositories/$REPO/gitlab-webhook-secret \
  -H "Authorization: Bearer $OORE_TOKEN" | sed 's/.*"webhook_secret":"\([^"]*\)".*/\1/')

# 4. Make the simulator push a commit and deliver the push, as GitLab would.
curl -s -X POST $GITLAB_URL/-/sim/webhooks -d "{\"project\":\"oore-demo/mobile/flutter-app\",\"kind\":\"push\",\"url\":\"$OORE/v1/webhooks/gitlab\",\"secret_token\":\"$SECRET\"}"

# 5. The delivery and the build it triggered.
DELIVERY=$(curl -s $OORE/v1/webhook-deliveries -H "Authorization: Bearer $OORE_TOKEN" | sed 's/.*"deliveries":\[{"id":"\([^"]*\)".*/\1/')

# 6. Mint a job for that build: a job token (1 hour) and a clone URL on the host's checkout proxy.
JOB=$(curl -s -X POST $OORE/v1/webhook-deliveries/$DELIVERY/jobs -H "Authorization: Bearer $OORE_TOKEN")
JOB_TOKEN=$(echo "$JOB" | sed 's/.*"token":"\([^"]*\)".*/\1/')
CLONE_URL=$(echo "$JOB" | sed 's/.*"clone_url":"\([^"]*\)".*/\1/')
SHA=$(echo "$JOB" | sed 's/.*"sha":"\([^"]*\)".*/\1/')

# 7. Clone as a runner would: with the job token only (the GitLab token never leaves the host).
git -c http.extraHeader="Authorization: Bearer $JOB_TOKEN" clone "$CLONE_URL" flutter-app
git -C flutter-app checkout --detach "$SHA"
git -C flutter-app log -1 --format='checked out %H'
`

// TestWalkthroughClonesThroughTheProxy runs the walkthrough's commands in
// bash against the oore-host binary and the simulator: the private
// repository ends up checked out at the sha the push triggered.
func TestWalkthroughClonesThroughTheProxy(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "sed", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the walkthrough needs %s: %v", tool, err)
		}
	}
	s := startStack(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", walkthrough)
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
