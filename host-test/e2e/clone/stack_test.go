package clone

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
)

// stack is the GitLab simulator (in this process) and an oore-host process
// with the real GitLab plugin.
type stack struct {
	t     *testing.T
	sim   *gitlabsim.Server
	demo  gitlabsim.Demo
	base  string
	owner string
	host  *exec.Cmd
	logs  *e2ekit.Logs
	// client calls the host's API (answers are not checked against the
	// contract here: the e2e package does that).
	client *e2ekit.Client
}

// startStack seeds the simulator's demo and starts oore-host (log level
// trace: everything it would ever log is checked for secrets).
func startStack(t *testing.T) *stack {
	t.Helper()
	sim := gitlabsim.NewTestServer(t, gitlabsim.Options{})
	demo := sim.SeedDemo()
	owner := secrets.RandomToken("oore_", 32)
	h := e2ekit.StartHost(t, e2ekit.HostConfig{
		Binary: built.Host, PluginsDir: built.Plugins, LogLevel: "trace",
		Env: []string{"OORE_BOOTSTRAP_TOKEN=" + owner},
	})
	h.WaitHealthy(30*time.Second, 20*time.Millisecond)
	return &stack{t: t, sim: sim, demo: demo, base: h.URL, owner: owner, host: h.Cmd, logs: h.Logs,
		client: &e2ekit.Client{T: t, Base: h.URL, HTTP: e2ekit.NoRedirectClient()}}
}

// response is one API answer.
type response = e2ekit.Response

// api calls the host's API with a bearer token.
func (s *stack) api(method, path, token string, body any) response {
	s.t.Helper()
	return s.client.Do(method, path, token, body)
}

// send sends a request the test built itself.
func (s *stack) send(req *http.Request) response {
	s.t.Helper()
	r, err := s.client.Send(req)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// connect starts a personal-token integration for the demo user and returns
// its id; its projects are synced.
func (s *stack) connect() string {
	s.t.Helper()
	return s.client.StartPAT(s.owner, s.sim.URL, s.demo.Token)
}

// repositoryID finds an integration's repository by full name.
func (s *stack) repositoryID(integrationID, fullName string) string {
	s.t.Helper()
	return s.client.FindRepository(s.owner, integrationID, fullName).ID
}

// hookUp gives the repository a webhook secret and registers the project
// hook on the simulator, as a GitLab user would.
func (s *stack) hookUp(integrationID string, project *gitlabsim.Project) {
	s.t.Helper()
	secret, webhookURL := s.client.WebhookSecret(s.owner, s.repositoryID(integrationID, project.PathWithNamespace), "")
	if _, err := s.sim.AddHook(project.ID, gitlabsim.ProjectHook{URL: webhookURL, Token: secret, PushEvents: true, MergeRequestsEvents: true}); err != nil {
		s.t.Fatal(err)
	}
}

// push commits to a branch of the project and delivers the push to its
// hooks; it returns the host's id of the delivery and the pushed sha.
func (s *stack) push(project *gitlabsim.Project, branch string) (deliveryID, sha string) {
	s.t.Helper()
	results, err := s.sim.TriggerPush(context.Background(), project.ID, branch)
	if err != nil || len(results) != 1 || results[0].Status != http.StatusOK {
		s.t.Fatalf("push to %s: %+v, %v", project.PathWithNamespace, results, err)
	}
	sha, err = s.sim.BranchHead(project.ID, branch)
	if err != nil {
		s.t.Fatal(err)
	}
	r := s.api("GET", "/v1/webhook-deliveries?limit=100", s.owner, nil)
	var out struct {
		Deliveries []struct {
			ID         string `json:"id"`
			DeliveryID string `json:"delivery_id"`
			Builds     []struct {
				SHA string `json:"sha"`
			} `json:"builds"`
		} `json:"deliveries"`
	}
	r.Decode(s.t, &out)
	for _, d := range out.Deliveries {
		if d.DeliveryID == results[0].DeliveryID {
			if len(d.Builds) != 1 || d.Builds[0].SHA != sha {
				s.t.Fatalf("delivery %s builds %+v, want one of %s", d.ID, d.Builds, sha)
			}
			return d.ID, sha
		}
	}
	s.t.Fatalf("delivery %s not listed: %s", results[0].DeliveryID, r.Body)
	return "", ""
}

// job is the answer of POST /v1/webhook-deliveries/{id}/jobs.
type job struct {
	JobID              string `json:"job_id"`
	RunnerID           string `json:"runner_id"`
	Token              string `json:"token"`
	CloneURL           string `json:"clone_url"`
	SHA                string `json:"sha"`
	ExpiresAt          int64  `json:"expires_at"`
	TriggerID          string `json:"trigger_id"`
	RepositoryFullName string `json:"repository_full_name"`
	raw                []byte
}

// newJob mints a job for a delivery's build.
func (s *stack) newJob(deliveryID string, body any) job {
	s.t.Helper()
	r := s.api("POST", "/v1/webhook-deliveries/"+deliveryID+"/jobs", s.owner, body)
	if r.Status != http.StatusCreated {
		s.t.Fatalf("create job: %d %s", r.Status, r.Body)
	}
	var j job
	r.Decode(s.t, &j)
	j.raw = r.Body
	if j.JobID == "" || j.Token == "" || j.SHA == "" || j.ExpiresAt == 0 ||
		!strings.HasPrefix(j.CloneURL, s.base+"/v1/runners/"+j.RunnerID+"/jobs/"+j.JobID+"/gitlab/") {
		s.t.Fatalf("job answer %s", r.Body)
	}
	return j
}

// runner is a build runner's world: a work directory, a HOME of its own,
// and an environment that holds what the job gave it and nothing of the
// host's.
type runner struct {
	t   *testing.T
	dir string
	env []string
}

func newRunner(t *testing.T, vars ...string) *runner {
	home := t.TempDir()
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LANG=C", "LC_ALL=C",
		"GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_ASKPASS=/bin/false", "SSH_ASKPASS=/bin/false",
	}
	return &runner{t: t, dir: t.TempDir(), env: append(env, vars...)}
}

// gitResult is what one git command did.
type gitResult struct {
	out      string
	err      error
	duration time.Duration
}

// git runs the real git client in the runner's work directory.
func (r *runner) git(args ...string) gitResult {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir, cmd.Env = r.dir, r.env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	return gitResult{out: string(out), err: err, duration: time.Since(start)}
}

// mustGit runs git and fails the test when it fails.
func (r *runner) mustGit(args ...string) string {
	r.t.Helper()
	res := r.git(args...)
	if res.err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), res.err, res.out)
	}
	return strings.TrimSpace(res.out)
}

// bearer is git's option to send the job token as a Bearer token; given
// before the subcommand it is not written into the clone's config.
func bearer(token string) []string {
	return []string{"-c", "http.extraHeader=Authorization: Bearer " + token}
}

// credentialHelper is git's option to take the job token from the
// runner's environment variable OORE_JOB_TOKEN as the Basic-auth password:
// nothing is written into the clone's config, and when the token is refused
// git shows the proxy's message instead of asking for a user name.
func credentialHelper() []string {
	return []string{"-c", `credential.helper=!f() { echo username=runner; echo "password=$OORE_JOB_TOKEN"; }; f`}
}

// filesContaining lists the files under dir whose content holds secret.
func filesContaining(t *testing.T, dir, secret string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(raw, []byte(secret)) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// memory reads a process's resident set size and its peak (VmRSS and
// VmHWM, in bytes) from /proc.
func memory(t *testing.T, pid int) (rss, peak int64) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("%s: %q", k, v)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	if rss == 0 || peak == 0 {
		t.Fatalf("/proc/%d/status has no VmRSS or VmHWM", pid)
	}
	return rss, peak
}

// resetPeak resets a process's VmHWM to its current RSS (Linux: writing 5
// to /proc/<pid>/clear_refs), so the next peak is the one a clone causes.
func resetPeak(t *testing.T, pid int) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatalf("reset the peak RSS of process %d: %v", pid, err)
	}
}
