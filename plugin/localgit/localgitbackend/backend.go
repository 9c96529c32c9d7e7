// Package localgitbackend is the conformance Backend of the local git
// provider: it makes real git repositories in a folder and describes them
// as host-test/conformance expects. It is the model for a provider author's
// own Backend; see docs/writing-a-provider.md.
//
// It needs git on PATH for the repositories it commits to; the large
// listing is made of empty bare repositories laid out by hand (HEAD,
// config, objects/, refs/), which git accepts as repositories, so thousands
// cost a second.
package localgitbackend

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/oore-ci/oore-scm-gitlab/host-test/conformance"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// MaxRepositories is the most LargeConnection seeds.
const MaxRepositories = 50000

// Backend makes local repositories under one folder it owns.
type Backend struct {
	dir string

	mu    sync.Mutex
	conn  *conformance.TokenConnection
	large int
}

// New returns a Backend that works in dir (which it fills; the caller
// removes it, e.g. t.TempDir()).
func New(dir string) *Backend { return &Backend{dir: dir} }

var _ conformance.Backend = (*Backend)(nil)

// Connection makes, once, a root with working copies and bare repositories
// at several depths, plus what must not be listed: a hidden folder's
// repository, a plain folder and a file.
func (b *Backend) Connection(ctx context.Context) (*conformance.TokenConnection, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil {
		return b.conn, nil
	}
	root := filepath.Join(b.dir, "repos")
	g := gitRunner{ctx: ctx}
	for _, wc := range []string{"team/app", "team/mobile/ios", "solo"} {
		if err := g.workingCopy(filepath.Join(root, wc)); err != nil {
			return nil, err
		}
	}
	if err := g.bare(filepath.Join(root, "team/app"), filepath.Join(root, "mirrors/lib.git")); err != nil {
		return nil, err
	}
	if err := g.workingCopy(filepath.Join(root, ".hidden/secret-app")); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(root, "empty-folder/nested"), 0o755); err != nil {
		return nil, fmt.Errorf("make a plain folder: %w", err)
	}
	if err := os.WriteFile(filepath.Join(root, "README"), []byte("not a repository\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write a plain file: %w", err)
	}
	b.conn = &conformance.TokenConnection{
		Connection: connection(root),
		Account:    &scmv1.Account{Id: "local", Username: "local"},
		Repositories: []*scmv1.Repository{
			{ExternalId: "mirrors/lib.git", FullName: "mirrors/lib"},
			{ExternalId: "solo", FullName: "solo"},
			{ExternalId: "team/app", FullName: "team/app"},
			{ExternalId: "team/mobile/ios", FullName: "team/mobile/ios"},
		},
	}
	return b.conn, nil
}

// RejectedConnection: local repositories have no credentials to refuse.
func (b *Backend) RejectedConnection(context.Context) (*scmv1.Connection, error) {
	return nil, fmt.Errorf("local repositories take no credentials: %w", conformance.ErrUnsupported)
}

// Webhook: local repositories send no webhooks.
func (b *Backend) Webhook(context.Context) (*conformance.Webhook, error) {
	return nil, fmt.Errorf("local repositories send no webhooks: %w", conformance.ErrUnsupported)
}

// OAuthApp: local repositories have no OAuth.
func (b *Backend) OAuthApp(context.Context) (*conformance.OAuthApp, error) {
	return nil, fmt.Errorf("local repositories have no OAuth: %w", conformance.ErrUnsupported)
}

// LargeConnection lays out n empty bare repositories (at most
// MaxRepositories), a hundred per folder, under a root of their own. Each
// call makes a new root.
func (b *Backend) LargeConnection(ctx context.Context, n int) (*conformance.TokenConnection, error) {
	n = min(n, MaxRepositories)
	b.mu.Lock()
	b.large++
	root := filepath.Join(b.dir, fmt.Sprintf("large-%d", b.large))
	b.mu.Unlock()
	repos := make([]*scmv1.Repository, n)
	for i := range n {
		id := fmt.Sprintf("group-%03d/repo-%05d.git", i/100, i)
		repos[i] = &scmv1.Repository{ExternalId: id, FullName: strings.TrimSuffix(id, ".git")}
	}
	for i, r := range repos {
		if i%100 == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("seed %d repositories: %w", n, ctx.Err())
		}
		if err := emptyBare(filepath.Join(root, filepath.FromSlash(r.GetExternalId()))); err != nil {
			return nil, err
		}
	}
	return &conformance.TokenConnection{Connection: connection(root), Repositories: repos}, nil
}

// connection is a local_path connection to root.
func connection(root string) *scmv1.Connection {
	return &scmv1.Connection{
		HostUrl:     (&url.URL{Scheme: "file", Path: filepath.ToSlash(root)}).String(),
		Credentials: &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_LOCAL_PATH},
	}
}

// emptyBare writes the smallest layout git takes for a bare repository:
// HEAD, objects/ and refs/ (git rev-parse and git ls-remote accept it).
func emptyBare(dir string) error {
	for _, d := range []string{"objects", "refs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("lay out repository %s: %w", dir, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "HEAD"), []byte("ref: refs/heads/main\n"), 0o644); err != nil {
		return fmt.Errorf("lay out repository %s: %w", dir, err)
	}
	return nil
}

// gitRunner runs git with a fixed identity and no user configuration.
type gitRunner struct{ ctx context.Context }

func (g gitRunner) run(dir string, args ...string) error {
	cmd := exec.CommandContext(g.ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Oore Conformance", "GIT_AUTHOR_EMAIL=conformance@oore.invalid",
		"GIT_COMMITTER_NAME=Oore Conformance", "GIT_COMMITTER_EMAIL=conformance@oore.invalid")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s in %s: %w: %s", strings.Join(args, " "), dir, err, out)
	}
	return nil
}

// workingCopy makes a repository with one commit on main at dir.
func (g gitRunner) workingCopy(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("make %s: %w", dir, err)
	}
	if err := g.run(dir, "init", "-q", "-b", "main"); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("# "+filepath.Base(dir)+"\n"), 0o644); err != nil {
		return fmt.Errorf("write a file in %s: %w", dir, err)
	}
	if err := g.run(dir, "add", "README.md"); err != nil {
		return err
	}
	return g.run(dir, "commit", "-q", "-m", "first commit")
}

// bare clones src into a bare repository at dst.
func (g gitRunner) bare(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("make %s: %w", filepath.Dir(dst), err)
	}
	return g.run(filepath.Dir(dst), "clone", "-q", "--bare", src, dst)
}
