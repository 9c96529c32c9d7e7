package clone

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPrivateCloneThroughProxy: a push triggers a build; the owner mints a
// job for it; a runner that holds only the job token clones the private
// repository through the host's checkout proxy with the real git client and
// checks out the triggered sha. The GitLab token is nowhere in the job's
// answer, the runner's environment, the clone's .git directory or the
// host's log (trace level, plugin included).
func TestPrivateCloneThroughProxy(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	integration := s.connect()
	app := s.demo.FlutterApp
	s.hookUp(integration, app)
	delivery, sha := s.push(app, "main")
	j := s.newJob(delivery, nil)
	if j.SHA != sha || j.RepositoryFullName != app.PathWithNamespace ||
		j.CloneURL != s.base+"/v1/runners/"+j.RunnerID+"/jobs/"+j.JobID+"/gitlab/oore-demo/mobile/flutter-app.git" {
		t.Fatalf("job = %s, want sha %s of %s", j.raw, sha, app.PathWithNamespace)
	}
	if left := time.Until(time.Unix(j.ExpiresAt, 0)); left < 59*time.Minute || left > 61*time.Minute {
		t.Fatalf("job token expires in %s, want an hour", left)
	}
	if strings.Contains(string(j.raw), s.demo.Token) {
		t.Fatal("the job answer holds the GitLab token")
	}

	t.Run("bearer token", func(t *testing.T) {
		r := newRunner(t, "OORE_JOB_TOKEN="+j.Token, "OORE_CLONE_URL="+j.CloneURL, "OORE_SHA="+j.SHA)
		start := time.Now()
		r.mustGit(append(bearer(j.Token), "clone", "--no-checkout", j.CloneURL, "src")...)
		r.mustGit("-C", "src", "checkout", "--detach", j.SHA)
		t.Logf("clone and checkout took %s", time.Since(start))
		if head := r.mustGit("-C", "src", "rev-parse", "HEAD"); head != sha {
			t.Fatalf("HEAD = %s, want the triggered %s", head, sha)
		}
		if _, err := os.Stat(filepath.Join(r.dir, "src", "README.md")); err != nil {
			t.Fatalf("the checkout has no README.md: %v", err)
		}
		origin := r.mustGit("-C", "src", "config", "remote.origin.url")
		if origin != j.CloneURL {
			t.Fatalf("origin = %q, want the proxy's clone URL", origin)
		}
		for _, secret := range []struct{ name, value string }{{"GitLab token", s.demo.Token}, {"job token", j.Token}} {
			if hits := filesContaining(t, filepath.Join(r.dir, "src", ".git"), secret.value); len(hits) > 0 {
				t.Errorf("the %s is in the clone: %v", secret.name, hits)
			}
		}
		env := r.mustGit("var", "-l") // git's view, config included
		for _, kv := range append(r.env, env) {
			if strings.Contains(kv, s.demo.Token) {
				t.Errorf("the runner's environment holds the GitLab token: %q", kv)
			}
		}
	})

	t.Run("token as the Basic-auth password", func(t *testing.T) {
		r := newRunner(t, "OORE_JOB_TOKEN="+j.Token)
		r.mustGit(append(credentialHelper(), "clone", "--quiet", j.CloneURL, "src")...)
		if head := r.mustGit("-C", "src", "rev-parse", "origin/main"); head != sha {
			t.Fatalf("origin/main = %s, want %s", head, sha)
		}
		if hits := filesContaining(t, filepath.Join(r.dir, "src", ".git"), j.Token); len(hits) > 0 {
			t.Errorf("the job token is in the clone: %v", hits)
		}
		// In the URL's user info works too (and is then in .git/config).
		u, err := url.Parse(j.CloneURL)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword("runner", j.Token)
		r.mustGit("clone", "--quiet", u.String(), "src2")
		if head := r.mustGit("-C", "src2", "rev-parse", "origin/main"); head != sha {
			t.Fatalf("origin/main = %s, want %s", head, sha)
		}
	})

	t.Run("a push through the proxy is refused", func(t *testing.T) {
		r := newRunner(t)
		r.mustGit(append(bearer(j.Token), "clone", "--quiet", j.CloneURL, "src")...)
		r.mustGit("-C", "src", "-c", "user.name=Runner", "-c", "user.email=runner@example.com", "commit", "--allow-empty", "-m", "from a runner")
		before := s.sim.Requests("POST", "/oore-demo/mobile/flutter-app.git/git-receive-pack")
		res := r.git(append(bearer(j.Token), "-C", "src", "push", "origin", "HEAD:main")...)
		if res.err == nil {
			t.Fatalf("git push through the proxy succeeded:\n%s", res.out)
		}
		if !strings.Contains(res.out, "pushing is not allowed") {
			t.Errorf("git push output does not say why:\n%s", res.out)
		}
		if head, _ := s.sim.BranchHead(app.ID, "main"); head != sha {
			t.Fatalf("main moved to %s after a refused push", head)
		}
		if n := s.sim.Requests("POST", "/oore-demo/mobile/flutter-app.git/git-receive-pack") - before; n != 0 {
			t.Fatalf("the proxy sent %d receive-pack requests to GitLab", n)
		}
		post := s.proxyRequest("POST", strings.TrimSuffix(j.CloneURL, ".git")+".git/git-receive-pack", "Bearer "+j.Token, "application/x-git-receive-pack-request")
		if post.Status != http.StatusForbidden || !strings.HasPrefix(post.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("POST git-receive-pack: %d %s", post.Status, post.Body)
		}
	})

	t.Run("another repository with the same job token is refused", func(t *testing.T) {
		for _, other := range []string{"oore-demo/website", "demo/playground", "oore-demo/mobile/design-system", "oore-demo/mobile/flutter-app/../../website"} {
			cloneURL := s.base + "/v1/runners/" + j.RunnerID + "/jobs/" + j.JobID + "/gitlab/" + other + ".git"
			r := newRunner(t)
			res := r.git(append(bearer(j.Token), "ls-remote", cloneURL)...)
			if res.err == nil {
				t.Errorf("git ls-remote %s with flutter-app's job token succeeded:\n%s", other, res.out)
			}
			refs := s.proxyRequest("GET", cloneURL+"/info/refs?service=git-upload-pack", "Bearer "+j.Token, "")
			if refs.Status/100 == 2 || refs.Status/100 == 3 && !strings.Contains(other, "..") {
				t.Errorf("info/refs of %s: %d", other, refs.Status)
			}
		}
		direct := s.proxyRequest("GET", s.base+"/v1/runners/"+j.RunnerID+"/jobs/"+j.JobID+"/gitlab/oore-demo/website.git/info/refs?service=git-upload-pack", "Bearer "+j.Token, "")
		if direct.Status != http.StatusForbidden || !strings.Contains(string(direct.Body), "may fetch only gitlab/oore-demo/mobile/flutter-app") {
			t.Fatalf("another repository: %d %s", direct.Status, direct.Body)
		}
	})

	t.Run("unknown, wrong and misplaced tokens are 401", func(t *testing.T) {
		other := s.newJob(delivery, map[string]any{"runner_id": "runner-b"})
		if other.RunnerID != "runner-b" || other.JobID == j.JobID || other.Token == j.Token {
			t.Fatalf("second job = %s", other.raw)
		}
		refs := func(runnerID, jobID string) string {
			return s.base + "/v1/runners/" + runnerID + "/jobs/" + jobID + "/gitlab/oore-demo/mobile/flutter-app.git/info/refs?service=git-upload-pack"
		}
		cases := map[string]struct{ url, auth string }{
			"no token":                  {refs(j.RunnerID, j.JobID), ""},
			"unknown token":             {refs(j.RunnerID, j.JobID), "Bearer oore_job_unknown"},
			"the GitLab token":          {refs(j.RunnerID, j.JobID), "Bearer " + s.demo.Token},
			"the owner's API token":     {refs(j.RunnerID, j.JobID), "Bearer " + s.owner},
			"another job's token":       {refs(j.RunnerID, j.JobID), "Bearer " + other.Token},
			"the job under another job": {refs(other.RunnerID, other.JobID), "Bearer " + j.Token},
			"another runner's path":     {refs(other.RunnerID, j.JobID), "Bearer " + j.Token},
			"unknown job":               {refs(j.RunnerID, "0190d0c4-0000-7000-8000-000000000000"), "Bearer " + j.Token},
			"empty Basic password":      {refs(j.RunnerID, j.JobID), "Basic cnVubmVyOg=="},
		}
		for name, c := range cases {
			res := s.proxyRequest("GET", c.url, c.auth, "")
			if res.Status != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") ||
				!strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("%s: %d %v %s, want 401 text with a Basic challenge", name, res.Status, res.Header, res.Body)
			}
		}
		// git asks for credentials after a 401 unless it sent some: with a
		// Bearer header it cannot tell the runner why, with a password it does.
		r := newRunner(t)
		if res := r.git(append(bearer("oore_job_unknown"), "ls-remote", j.CloneURL)...); res.err == nil {
			t.Fatalf("git with an unknown Bearer job token succeeded:\n%s", res.out)
		}
		r = newRunner(t, "OORE_JOB_TOKEN=oore_job_unknown")
		res := r.git(append(credentialHelper(), "ls-remote", j.CloneURL)...)
		if res.err == nil || !strings.Contains(res.out, "remote: oore checkout: the job token is not valid for this job") {
			t.Fatalf("git with an unknown job token: %v\n%s", res.err, res.out)
		}
	})

	t.Run("an expired job token is 401", func(t *testing.T) {
		short := s.newJob(delivery, map[string]any{"ttl_seconds": 1})
		refs := short.CloneURL + "/info/refs?service=git-upload-pack"
		deadline := time.Now().Add(10 * time.Second)
		for {
			res := s.proxyRequest("GET", refs, "Bearer "+short.Token, "")
			if res.Status == http.StatusUnauthorized {
				if !strings.Contains(string(res.Body), "expired") {
					t.Fatalf("expired token: %s", res.Body)
				}
				break
			}
			if res.Status != http.StatusOK || time.Now().After(deadline) {
				t.Fatalf("a job token of one second still answers %d after %s", res.Status, 10*time.Second)
			}
			time.Sleep(100 * time.Millisecond) // poll the host's clock (Unix seconds)
		}
		r := newRunner(t, "OORE_JOB_TOKEN="+short.Token)
		res := r.git(append(credentialHelper(), "clone", short.CloneURL, "src")...)
		if res.err == nil || !strings.Contains(res.out, "remote: oore checkout: the job token expired") {
			t.Fatalf("git clone with an expired token: %v\n%s", res.err, res.out)
		}
	})

	t.Run("dumb HTTP and other paths are refused", func(t *testing.T) {
		base := strings.TrimSuffix(j.CloneURL, ".git") + ".git"
		cases := map[string]struct {
			method, url, contentType string
			want                     int
		}{
			"dumb info/refs":        {"GET", base + "/info/refs", "", http.StatusForbidden},
			"objects":               {"GET", base + "/objects/info/packs", "", http.StatusNotFound},
			"HEAD file":             {"GET", base + "/HEAD", "", http.StatusNotFound},
			"upload-pack by GET":    {"GET", base + "/git-upload-pack", "", http.StatusMethodNotAllowed},
			"upload-pack, not git":  {"POST", base + "/git-upload-pack", "application/json", http.StatusUnsupportedMediaType},
			"receive-pack refs":     {"GET", base + "/info/refs?service=git-receive-pack", "", http.StatusForbidden},
			"unknown service":       {"GET", base + "/info/refs?service=git-upload-archive", "", http.StatusForbidden},
			"info/refs by POST":     {"POST", base + "/info/refs?service=git-upload-pack", "", http.StatusMethodNotAllowed},
			"no repository at all":  {"GET", s.base + "/v1/runners/" + j.RunnerID + "/jobs/" + j.JobID + "/gitlab/info/refs", "", http.StatusNotFound},
			"another provider path": {"GET", strings.Replace(base, "/gitlab/", "/github/", 1) + "/info/refs?service=git-upload-pack", "", http.StatusForbidden},
		}
		for name, c := range cases {
			res := s.proxyRequest(c.method, c.url, "Bearer "+j.Token, c.contentType)
			if res.Status != c.want || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("%s: %d %s, want %d with a text body", name, res.Status, res.Body, c.want)
			}
		}
	})

	// Everything above happened; nothing of it put a secret in the log.
	logs := s.logs.String()
	if !strings.Contains(logs, "checkout refused") || !strings.Contains(logs, "job created") {
		t.Fatalf("the host logged no checkout activity; the check below proves nothing:\n%.3000s", logs)
	}
	for _, secret := range []struct{ name, value string }{{"GitLab token", s.demo.Token}, {"job token", j.Token}} {
		if strings.Contains(logs, secret.value) {
			t.Errorf("the host's log holds the %s", secret.name)
		}
	}
}

// proxyRequest sends one raw request to the checkout proxy.
func (s *stack) proxyRequest(method, rawURL, auth, contentType string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, rawURL, strings.NewReader(""))
	if err != nil {
		s.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return s.send(req)
}
