package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
)

// TestSelfManagedGitLabBehindAPrivateCA connects to a GitLab (the simulator)
// served over TLS with a certificate from a private CA: a host started with
// --scm-ca-file trusts it; a host without it refuses, with an error that
// names the certificate problem, and stores nothing.
func TestSelfManagedGitLabBehindAPrivateCA(t *testing.T) {
	t.Parallel()
	sim := gitlabsim.NewTLSTestServer(t, gitlabsim.Options{})
	demo := sim.SeedDemo()
	caFile := filepath.Join(t.TempDir(), "gitlab-ca.pem")
	if err := os.WriteFile(caFile, sim.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sim.URL, "https://") {
		t.Fatalf("the TLS simulator serves %s", sim.URL)
	}
	body := map[string]any{"host_url": sim.URL, "auth_mode": "personal_token", "access_token": demo.Token}

	trusting := startBinary(t, "--scm-ca-file", caFile)
	r := trusting.do("POST", "/v1/integrations/gitlab/start", trusting.owner, body)
	if r.Status != 200 {
		t.Fatalf("start with the private CA trusted: %d %s", r.Status, r.Body)
	}
	var out struct {
		Integration struct{ ID, Status string } `json:"integration"`
	}
	r.Decode(t, &out)
	repos := trusting.do("GET", "/v1/integrations/"+out.Integration.ID+"/repositories?q=flutter-app", trusting.owner, nil)
	if repos.Status != 200 || !strings.Contains(string(repos.Body), "oore-demo/mobile/flutter-app") {
		t.Fatalf("repositories over TLS: %d %s", repos.Status, repos.Body)
	}

	plain := startBinary(t)
	r = plain.do("POST", "/v1/integrations/gitlab/start", plain.owner, body)
	if r.Status < 400 || r.ErrorCode() != "gitlab_unreachable" || !strings.Contains(strings.ToLower(string(r.Body)), "certificate") {
		t.Fatalf("start without the CA: %d %s; want gitlab_unreachable naming the certificate", r.Status, r.Body)
	}
	if n := plain.rows("integrations"); n != 0 {
		t.Fatalf("%d integrations stored after a refused start", n)
	}
	assertNoSecretIn(t, "host log", plain.logs.Bytes(), map[string]string{"GitLab token": demo.Token})

	if bad := startBinaryExpectFailure(t, "--scm-ca-file", filepath.Join(t.TempDir(), "missing.pem")); !strings.Contains(bad, "--scm-ca-file") {
		t.Fatalf("a missing CA file was not reported: %s", bad)
	}
}

// startBinaryExpectFailure runs `oore-host serve` with args that must make
// it refuse to start, and returns what it printed.
func startBinaryExpectFailure(t *testing.T, extraArgs ...string) string {
	t.Helper()
	args := append([]string{"serve", "--listen", e2ekit.FreeAddr(t), "--data-dir", t.TempDir(), "--plugins-dir", built.Plugins}, extraArgs...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, built.Host, args...).CombinedOutput()
	if err == nil {
		t.Fatalf("oore-host started with %v", extraArgs)
	}
	return string(out)
}
