package localgitbackend_test

import (
	"context"
	"net/url"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/plugin/localgit/localgitbackend"
)

// TestFixturesAreGitRepositories checks what the backend promises the
// suite: every repository it lists is one git itself can read.
func TestFixturesAreGitRepositories(t *testing.T) {
	t.Parallel()
	b := localgitbackend.New(t.TempDir())
	ctx := context.Background()
	small, err := b.Connection(ctx)
	if err != nil {
		t.Fatal(err)
	}
	large, err := b.LargeConnection(ctx, 250)
	if err != nil {
		t.Fatal(err)
	}
	if len(large.Repositories) != 250 {
		t.Fatalf("LargeConnection(250) seeded %d repositories", len(large.Repositories))
	}
	check := func(hostURL, id string) {
		u, err := url.Parse(hostURL)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(filepath.FromSlash(u.Path), filepath.FromSlash(id))
		if out, err := exec.Command("git", "ls-remote", "file://"+filepath.ToSlash(dir)).CombinedOutput(); err != nil {
			t.Errorf("git ls-remote %s: %v: %s", dir, err, out)
		}
	}
	for _, r := range small.Repositories {
		check(small.Connection.GetHostUrl(), r.GetExternalId())
	}
	check(large.Connection.GetHostUrl(), large.Repositories[0].GetExternalId())
	check(large.Connection.GetHostUrl(), large.Repositories[249].GetExternalId())
	again, err := b.Connection(ctx)
	if err != nil || again != small {
		t.Fatalf("a second Connection made new fixtures (%v)", err)
	}
}
