package clone

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// failFast bounds how long git may take to fail when GitLab refuses or is
// gone: the runner must get an error, not a hang. (Generous: CI machines
// are shared; a hang would last until git's own timeouts, minutes.)
const failFast = 30 * time.Second

// TestRevokedGitLabTokenFailsClearly: the integration's GitLab token is
// revoked after the job was minted. The runner's clone fails at once with
// the proxy's explanation (a 502 with a text body that git prints as
// "remote: ..."), never a 401 that would make git ask for a password.
func TestRevokedGitLabTokenFailsClearly(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	integration := s.connect()
	app := s.demo.FlutterApp
	s.hookUp(integration, app)
	delivery, _ := s.push(app, "main")
	j := s.newJob(delivery, nil)
	if !s.sim.RevokeToken(s.demo.Token) {
		t.Fatal("the simulator does not know the demo token")
	}

	for name, args := range map[string][]string{
		"password": append(credentialHelper(), "clone", j.CloneURL, "src"),
		"bearer":   append(bearer(j.Token), "clone", j.CloneURL, "src"),
	} {
		r := newRunner(t, "OORE_JOB_TOKEN="+j.Token)
		res := r.git(args...)
		if res.err == nil {
			t.Fatalf("%s: git clone with a revoked GitLab token succeeded:\n%s", name, res.out)
		}
		if res.duration > failFast {
			t.Errorf("%s: git took %s to fail", name, res.duration)
		}
		for _, want := range []string{"remote: oore checkout: gitlab refused the integration's credentials for repository oore-demo/mobile/flutter-app (HTTP 401)",
			"HTTP Basic: Access denied", "/v1/integrations/" + integration + "/gitlab-token/check"} {
			if !strings.Contains(res.out, want) {
				t.Errorf("%s: git's output lacks %q:\n%s", name, want, res.out)
			}
		}
		if strings.Contains(res.out, "Username") {
			t.Errorf("%s: git asked for a user name; the proxy passed GitLab's 401 on:\n%s", name, res.out)
		}
	}
	raw := s.proxyRequest("GET", j.CloneURL+"/info/refs?service=git-upload-pack", "Bearer "+j.Token, "")
	if raw.Status != http.StatusBadGateway || !strings.HasPrefix(raw.Header.Get("Content-Type"), "text/plain") || raw.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("info/refs with a revoked GitLab token: %d %v %s", raw.Status, raw.Header, raw.Body)
	}
	if logs := s.logs.String(); strings.Contains(logs, s.demo.Token) || strings.Contains(logs, j.Token) {
		t.Fatal("the host's log holds a token")
	} else if !strings.Contains(logs, "upstream_refused") {
		t.Fatalf("the host did not log the refusal:\n%.3000s", logs)
	}
}

// TestGitLabDownFailsClearly: GitLab stops answering; the runner gets a 502
// with the reason, fast.
func TestGitLabDownFailsClearly(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	integration := s.connect()
	app := s.demo.FlutterApp
	s.hookUp(integration, app)
	delivery, _ := s.push(app, "main")
	j := s.newJob(delivery, nil)
	if err := s.sim.Close(); err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, "OORE_JOB_TOKEN="+j.Token)
	res := r.git(append(credentialHelper(), "clone", j.CloneURL, "src")...)
	if res.err == nil || res.duration > failFast || !strings.Contains(res.out, "remote: oore checkout: gitlab could not be reached for oore-demo/mobile/flutter-app") {
		t.Fatalf("git clone with GitLab down: %v after %s\n%s", res.err, res.duration, res.out)
	}
	raw := s.proxyRequest("GET", j.CloneURL+"/info/refs?service=git-upload-pack", "Bearer "+j.Token, "")
	if raw.Status != http.StatusBadGateway || !strings.HasPrefix(raw.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("info/refs with GitLab down: %d %s", raw.Status, raw.Body)
	}
}
