package gitlabsim_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
)

// gitClone runs the real git binary; it returns the clone's directory and
// git's output.
func gitClone(t *testing.T, cloneURL string) (string, string, error) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := filepath.Join(t.TempDir(), "clone")
	cmd := exec.Command("git", "clone", "--quiet", cloneURL, dir)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_ASKPASS=", "SSH_ASKPASS=")
	out, err := cmd.CombinedOutput()
	return dir, string(out), err
}

func withUser(rawURL, user, password string) string {
	u, _ := url.Parse(rawURL)
	u.User = url.UserPassword(user, password)
	return u.String()
}

func headOf(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func TestClonePrivateRepositoryWithPersonalAccessToken(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	sha, err := s.CommitFile(d.FlutterApp.ID, "lib/feature.dart", "// new feature\n", "Add a feature")
	if err != nil {
		t.Fatal(err)
	}
	dir, out, err := gitClone(t, withUser(d.FlutterApp.HTTPURLToRepo, "anything", d.Token))
	if err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	for _, f := range []string{"README.md", "pubspec.yaml", "lib/main.dart", "lib/feature.dart"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("clone lacks %s", f)
		}
	}
	if got := headOf(t, dir); got != sha {
		t.Errorf("HEAD %s, want %s", got, sha)
	}
	pub, _ := os.ReadFile(filepath.Join(dir, "pubspec.yaml"))
	if !strings.Contains(string(pub), "name: flutter_app") {
		t.Errorf("pubspec.yaml = %s", pub)
	}
}

func TestClonePrivateRepositoryWithOAuthToken(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	tok, err := s.IssueOAuthToken(d.ClientID, d.User.ID, []string{"read_api", "read_repository"})
	if err != nil {
		t.Fatal(err)
	}
	if _, out, err := gitClone(t, withUser(d.FlutterApp.HTTPURLToRepo, "oauth2", tok.AccessToken)); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	// An expired OAuth token no longer clones.
	s.AdvanceTime(2*time.Hour + time.Second)
	if _, out, err := gitClone(t, withUser(d.FlutterApp.HTTPURLToRepo, "oauth2", tok.AccessToken)); err == nil {
		t.Fatalf("expired token cloned:\n%s", out)
	}
}

func TestCloneRefusals(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	repo := d.FlutterApp.HTTPURLToRepo
	if _, out, err := gitClone(t, repo); err == nil || !strings.Contains(out, "Authentication failed") && !strings.Contains(out, "could not read Username") {
		t.Errorf("anonymous clone of a private project: %v\n%s", err, out)
	}
	readUser := s.AddPersonalAccessToken(d.User.ID, "ru", []string{"read_user"}, nil, false)
	if _, out, err := gitClone(t, withUser(repo, "demo", readUser)); err == nil {
		t.Errorf("read_user token cloned:\n%s", out)
	}
	if _, out, err := gitClone(t, withUser(d.OtherProjects[0].HTTPURLToRepo, "demo", d.Token)); err == nil {
		t.Errorf("non-member cloned:\n%s", out)
	}
	// Public projects clone anonymously.
	if _, out, err := gitClone(t, d.Website.HTTPURLToRepo); err != nil {
		t.Errorf("anonymous clone of a public project: %v\n%s", err, out)
	}

	info := "/oore-demo/mobile/flutter-app.git/info/refs?service=git-upload-pack"
	a := get(t, s, info, "")
	if a.status != http.StatusUnauthorized || a.header.Get("WWW-Authenticate") != `Basic realm="GitLab"` ||
		!strings.HasPrefix(string(a.body), "HTTP Basic: Access denied.") {
		t.Errorf("no credentials: %d %q %s", a.status, a.header.Get("WWW-Authenticate"), a.body)
	}
	a = do(t, s, "GET", info, "", "", "Authorization", basic("demo", d.Token))
	if a.status != 200 || a.header.Get("Content-Type") != "application/x-git-upload-pack-advertisement" {
		t.Errorf("with a PAT: %d %s", a.status, a.header.Get("Content-Type"))
	}
	if a := do(t, s, "GET", "/oore-demo/mobile/flutter-app.git/info/refs?service=git-receive-pack", "", "", "Authorization", basic("demo", d.Token)); a.status != http.StatusForbidden {
		t.Errorf("push: %d %s", a.status, a.body)
	}
	if a := do(t, s, "GET", "/alice/secret-app.git/info/refs?service=git-upload-pack", "", "", "Authorization", basic("demo", d.Token)); a.status != http.StatusNotFound {
		t.Errorf("invisible project: %d", a.status)
	}
	if a := do(t, s, "GET", info, "", "", "Authorization", basic("", d.Token)); a.status != http.StatusUnauthorized {
		t.Errorf("empty username: %d", a.status)
	}
}

func TestCloneLargeRepository(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	size := int64(50 << 20)
	if testing.Short() {
		size = 5 << 20
	}
	start := time.Now()
	sha, err := s.AddLargeFile(d.FlutterApp.ID, size)
	if err != nil {
		t.Fatal(err)
	}
	added := time.Since(start)
	dir, out, err := gitClone(t, withUser(d.FlutterApp.HTTPURLToRepo, "demo", d.Token))
	if err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	fi, err := os.Stat(filepath.Join(dir, "large.bin"))
	if err != nil || fi.Size() != size {
		t.Fatalf("large.bin: %v %v", fi, err)
	}
	if headOf(t, dir) != sha {
		t.Error("HEAD is not the large-file commit")
	}
	t.Logf("%d MiB: committed in %v, cloned in %v", size>>20, added, time.Since(start)-added)
}

func TestRepositoryLivesInTheDataDir(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	s := gitlabsim.NewTestServer(t, gitlabsim.Options{DataDir: dataDir})
	d := s.SeedDemo()
	dir, err := s.RepositoryDir(d.Website.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dir, dataDir) {
		t.Errorf("repository %s outside %s", dir, dataDir)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("a configured data dir was removed: %v", err)
	}
}

func TestTemporaryDataDirIsRemovedOnClose(t *testing.T) {
	t.Parallel()
	s := gitlabsim.New(gitlabsim.Options{})
	d := s.SeedDemo()
	dir, err := s.RepositoryDir(d.Website.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary repository %s still there: %v", dir, err)
	}
	if _, err := s.RepositoryDir(d.FlutterApp.ID); err == nil {
		t.Error("a closed simulator created a repository")
	}
}

func TestUploadPackAcceptsChunkedRequests(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	sha, err := s.BranchHead(d.Website.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	// A protocol v0 fetch of one commit, sent with an unknown length so that
	// Go's client uses chunked transfer encoding (as git does for large
	// negotiations). net/http/cgi alone would answer 400 to it.
	body := io.MultiReader(strings.NewReader("0032want "+sha+"\n"), strings.NewReader("00000009done\n"))
	req, _ := http.NewRequest("POST", s.URL+"/oore-demo/website.git/git-upload-pack", body)
	req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-git-upload-pack-result" || !strings.Contains(string(got), "PACK") {
		t.Fatalf("chunked upload-pack: %d %s %.80q", resp.StatusCode, resp.Header.Get("Content-Type"), got)
	}
}
