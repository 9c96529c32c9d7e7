package gitlabsim

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// zeroSHA is what GitLab puts in before/after for a created or deleted ref.
const zeroSHA = "0000000000000000000000000000000000000000"

// repository is the real bare git repository behind a project, created on
// first use. Its mutex serialises the git commands that change it; s.mu is
// never held while git runs.
type repository struct {
	mu      sync.Mutex
	dir     string
	commits map[string]commitInfo // commits the simulator made, by SHA
	counter int
}

// commitInfo describes a commit the simulator made, for webhook payloads.
type commitInfo struct {
	ID          string
	Message     string
	Timestamp   time.Time
	AuthorName  string
	AuthorEmail string
	Added       []string
	Modified    []string
	Removed     []string
}

// Title is the first line of the message, as GitLab shows it.
func (c commitInfo) Title() string {
	title, _, _ := strings.Cut(c.Message, "\n")
	return title
}

// fileChange is one file written (or removed) by a commit.
type fileChange struct {
	path   string
	data   []byte
	src    io.Reader // streamed content of size bytes, when data is nil
	size   int64
	remove bool
}

// newCommit is a commit to make.
type newCommit struct {
	message string
	files   []fileChange
}

// repoInfo is what git operations need to know about a project, read under
// s.mu and used without it.
type repoInfo struct {
	id            int64
	name          string
	path          string
	defaultBranch string
	authorName    string
	authorEmail   string
	repo          *repository
}

var validRef = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)

func (s *Server) repoInfo(projectID int64) (repoInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.state.projectByID[projectID]
	if !ok {
		return repoInfo{}, fmt.Errorf("project %d not found", projectID)
	}
	ri := repoInfo{id: p.id, name: p.name, path: p.path, defaultBranch: p.defaultBranch, repo: p.repo}
	if u, ok := s.state.users[p.creatorID]; ok {
		ri.authorName, ri.authorEmail = u.Name, u.Email
	} else {
		ri.authorName, ri.authorEmail = "Administrator", "root@example.com"
	}
	return ri, nil
}

// gitEnv isolates git from the machine's and user's configuration.
func gitEnv() []string {
	env := []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + os.DevNull, "GIT_TERMINAL_PROMPT=0"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return env
}

func runGit(ctx context.Context, dir string, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// reposRoot is the GIT_PROJECT_ROOT of git http-backend.
func (s *Server) reposRoot() (string, error) {
	dir, err := s.data.get()
	if err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	return filepath.Join(dir, "repos"), nil
}

// ensureRepoLocked creates the bare repository with its seed commits if it
// does not exist yet. ri.repo.mu must be held.
func (s *Server) ensureRepoLocked(ctx context.Context, ri repoInfo) error {
	if ri.repo.dir != "" {
		return nil
	}
	root, err := s.reposRoot()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, strconv.FormatInt(ri.id, 10)+".git")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("create repository of project %d: %w", ri.id, err)
	}
	if _, err := runGit(ctx, root, nil, "init", "--quiet", "--bare", "--initial-branch="+ri.defaultBranch, dir); err != nil {
		return fmt.Errorf("create repository of project %d: %w", ri.id, err)
	}
	ri.repo.dir = dir
	ri.repo.commits = map[string]commitInfo{}
	pkg := strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToLower(ri.path))
	seed := []newCommit{
		{message: "Initial commit\n", files: []fileChange{
			{path: "README.md", data: []byte("# " + ri.name + "\n\nThis repository is served by oore-gitlab-sim, a SIMULATOR of GitLab for tests and demos, not GitLab.\n")},
		}},
		{message: "Add Flutter app skeleton\n", files: []fileChange{
			{path: "pubspec.yaml", data: []byte("name: " + pkg + "\ndescription: A tiny Flutter app in the GitLab simulator.\npublish_to: none\nversion: 1.0.0+1\n\nenvironment:\n  sdk: \">=3.0.0 <4.0.0\"\n\ndependencies:\n  flutter:\n    sdk: flutter\n\nflutter:\n  uses-material-design: true\n")},
			{path: "lib/main.dart", data: []byte("import 'package:flutter/material.dart';\n\nvoid main() => runApp(const MaterialApp(home: Text('Hello from the GitLab simulator')));\n")},
			{path: "CHANGES.md", data: []byte("# Changes\n")},
		}},
	}
	if _, _, err := s.commitLocked(ctx, ri, "refs/heads/"+ri.defaultBranch, "", seed); err != nil {
		ri.repo.dir = ""
		_ = os.RemoveAll(dir)
		return fmt.Errorf("seed repository of project %d: %w", ri.id, err)
	}
	return nil
}

// revParse resolves a revision to a full SHA; ok is false when it does not
// exist. ri.repo.mu must be held and the repository must exist.
func revParse(ctx context.Context, dir, rev string) (string, bool, error) {
	cmd := exec.CommandContext(ctx, "git", "rev-parse", "--verify", "--quiet", rev)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("git rev-parse: %w", err)
	}
	return strings.TrimSpace(string(out)), true, nil
}

// commitLocked makes commits on ref (a full ref name) with git
// fast-import, starting from base (a SHA) or, when base is empty, from the
// ref's tip (or from nothing for a new ref). It returns the previous tip
// (zeroSHA for a new ref) and the new commits, oldest first. ri.repo.mu
// must be held.
func (s *Server) commitLocked(ctx context.Context, ri repoInfo, ref, base string, commits []newCommit) (string, []commitInfo, error) {
	if !validRef.MatchString(ref) || strings.Contains(ref, "..") || !strings.HasPrefix(ref, "refs/") {
		return "", nil, fmt.Errorf("invalid ref name %q", ref)
	}
	dir := ri.repo.dir
	before := zeroSHA
	if tip, ok, err := revParse(ctx, dir, ref+"^{commit}"); err != nil {
		return "", nil, err
	} else if ok {
		before = tip
	}
	from := base
	if from == "" && before != zeroSHA {
		from = before
	}

	// No compression: the large random files of clone tests do not
	// compress anyway, and zlib at the default level would spend seconds.
	cmd := exec.CommandContext(ctx, "git", "-c", "pack.compression=0", "-c", "core.compression=0",
		"fast-import", "--quiet", "--done", "--force")
	cmd.Dir = dir
	cmd.Env = gitEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, fmt.Errorf("git fast-import: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("git fast-import: %w", err)
	}
	now := s.Now()
	infos := make([]commitInfo, len(commits))
	werr := func() error {
		bw := bufio.NewWriterSize(stdin, 1<<16)
		for i, c := range commits {
			ri.repo.counter++
			when := now.Add(time.Duration(i-len(commits)+1) * time.Second)
			sig := fmt.Sprintf("%s <%s> %d +0000", ri.authorName, ri.authorEmail, when.Unix())
			fmt.Fprintf(bw, "commit %s\nauthor %s\ncommitter %s\ndata %d\n%s\n", ref, sig, sig, len(c.message), c.message)
			if i == 0 && from != "" {
				fmt.Fprintf(bw, "from %s\n", from)
			}
			for _, f := range c.files {
				if f.remove {
					fmt.Fprintf(bw, "D %s\n", f.path)
					continue
				}
				if f.src != nil {
					fmt.Fprintf(bw, "M 100644 inline %s\ndata %d\n", f.path, f.size)
					if _, err := io.CopyN(bw, f.src, f.size); err != nil {
						return err
					}
					bw.WriteString("\n")
					continue
				}
				fmt.Fprintf(bw, "M 100644 inline %s\ndata %d\n%s\n", f.path, len(f.data), f.data)
			}
			infos[i] = commitInfo{Message: c.message, Timestamp: when, AuthorName: ri.authorName, AuthorEmail: ri.authorEmail}
		}
		bw.WriteString("done\n")
		if err := bw.Flush(); err != nil {
			return err
		}
		return stdin.Close()
	}()
	if err := cmd.Wait(); err != nil || werr != nil {
		return "", nil, fmt.Errorf("git fast-import: %w: %s", errors.Join(err, werr), strings.TrimSpace(stderr.String()))
	}

	// Learn the new SHAs and what each commit changed, in one command.
	rangeArg := ref
	if from != "" {
		rangeArg = from + ".." + ref
	}
	out, err := runGit(ctx, dir, nil, "log", "--reverse", "--no-renames", "--format=%x00%H", "--name-status", rangeArg)
	if err != nil {
		return "", nil, err
	}
	entries := strings.Split(string(out), "\x00")[1:]
	if len(entries) != len(commits) {
		return "", nil, fmt.Errorf("git log: %d commits found, %d made", len(entries), len(commits))
	}
	for i, e := range entries {
		lines := strings.Split(strings.TrimSpace(e), "\n")
		infos[i].ID = lines[0]
		infos[i].Added, infos[i].Modified, infos[i].Removed = []string{}, []string{}, []string{}
		for _, l := range lines[1:] {
			status, path, ok := strings.Cut(l, "\t")
			if !ok {
				continue
			}
			switch status {
			case "A":
				infos[i].Added = append(infos[i].Added, path)
			case "D":
				infos[i].Removed = append(infos[i].Removed, path)
			default:
				infos[i].Modified = append(infos[i].Modified, path)
			}
		}
		ri.repo.commits[infos[i].ID] = infos[i]
	}
	s.touchProject(ri.id)
	return before, infos, nil
}

// touchProject records activity on a project (last_activity_at).
func (s *Server) touchProject(projectID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.state.projectByID[projectID]; ok {
		p.lastActivityAt = s.nowLocked()
	}
}

// withRepo runs fn with the project's repository created and locked.
func (s *Server) withRepo(ctx context.Context, projectID int64, fn func(ri repoInfo) error) error {
	ri, err := s.repoInfo(projectID)
	if err != nil {
		return err
	}
	ri.repo.mu.Lock()
	defer ri.repo.mu.Unlock()
	if err := s.ensureRepoLocked(ctx, ri); err != nil {
		return err
	}
	return fn(ri)
}

// RepositoryDir returns the path of the project's bare git repository,
// creating it (with its seed commits) if needed.
func (s *Server) RepositoryDir(projectID int64) (string, error) {
	var dir string
	err := s.withRepo(context.Background(), projectID, func(ri repoInfo) error {
		dir = ri.repo.dir
		return nil
	})
	return dir, err
}

// CommitFile commits one file (created or replaced) on the project's
// default branch and returns the new commit's SHA.
func (s *Server) CommitFile(projectID int64, path, content, message string) (string, error) {
	ri, err := s.repoInfo(projectID)
	if err != nil {
		return "", fmt.Errorf("commit file: %w", err)
	}
	return s.CommitFileToBranch(projectID, ri.defaultBranch, path, content, message)
}

// CommitFileToBranch commits one file on a branch, creating the branch from
// the default branch's tip when it does not exist, and returns the SHA.
func (s *Server) CommitFileToBranch(projectID int64, branch, path, content, message string) (string, error) {
	var sha string
	err := s.withRepo(context.Background(), projectID, func(ri repoInfo) error {
		_, infos, err := s.commitOnBranchLocked(context.Background(), ri, branch,
			[]newCommit{{message: ensureNewline(message), files: []fileChange{{path: path, data: []byte(content)}}}})
		if err != nil {
			return err
		}
		sha = infos[0].ID
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("commit %s to project %d: %w", path, projectID, err)
	}
	return sha, nil
}

// commitOnBranchLocked commits on branch, branching off the default branch
// when the branch is new. It returns the previous tip (zeroSHA when new).
func (s *Server) commitOnBranchLocked(ctx context.Context, ri repoInfo, branch string, commits []newCommit) (string, []commitInfo, error) {
	base := ""
	if branch != ri.defaultBranch {
		if _, ok, err := revParse(ctx, ri.repo.dir, "refs/heads/"+branch+"^{commit}"); err != nil {
			return "", nil, err
		} else if !ok {
			tip, _, err := revParse(ctx, ri.repo.dir, "refs/heads/"+ri.defaultBranch+"^{commit}")
			if err != nil {
				return "", nil, err
			}
			base = tip
		}
	}
	return s.commitLocked(ctx, ri, "refs/heads/"+branch, base, commits)
}

// AddLargeFile commits a file "large.bin" of sizeBytes incompressible
// random bytes on the default branch and returns the commit's SHA. The
// content is streamed into git, never held in memory.
func (s *Server) AddLargeFile(projectID int64, sizeBytes int64) (string, error) {
	var sha string
	err := s.withRepo(context.Background(), projectID, func(ri repoInfo) error {
		_, infos, err := s.commitLocked(context.Background(), ri, "refs/heads/"+ri.defaultBranch, "", []newCommit{{
			message: fmt.Sprintf("Add %d bytes of random data\n", sizeBytes),
			files:   []fileChange{{path: "large.bin", src: crand.Reader, size: sizeBytes}},
		}})
		if err != nil {
			return err
		}
		sha = infos[0].ID
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("add large file to project %d: %w", projectID, err)
	}
	return sha, nil
}

// BranchHead returns the SHA a branch points at.
func (s *Server) BranchHead(projectID int64, branch string) (string, error) {
	var sha string
	err := s.withRepo(context.Background(), projectID, func(ri repoInfo) error {
		tip, ok, err := revParse(context.Background(), ri.repo.dir, "refs/heads/"+branch+"^{commit}")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("branch %q not found", branch)
		}
		sha = tip
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("head of project %d: %w", projectID, err)
	}
	return sha, nil
}

// resolveCommit resolves a revision of a project to a commit SHA.
func (s *Server) resolveCommit(ctx context.Context, projectID int64, rev string) (string, bool, error) {
	var sha string
	var found bool
	err := s.withRepo(ctx, projectID, func(ri repoInfo) error {
		if strings.HasPrefix(rev, "-") {
			return nil
		}
		var err error
		sha, found, err = revParse(ctx, ri.repo.dir, rev+"^{commit}")
		return err
	})
	return sha, found, err
}

// updateRefLocked points ref at sha, or deletes it when sha is zeroSHA.
func updateRefLocked(ctx context.Context, dir, ref, sha string) error {
	args := []string{"update-ref", ref, sha}
	if sha == zeroSHA {
		args = []string{"update-ref", "-d", ref}
	}
	_, err := runGit(ctx, dir, nil, args...)
	return err
}

func ensureNewline(msg string) string {
	if strings.HasSuffix(msg, "\n") {
		return msg
	}
	return msg + "\n"
}

// commitInfoLocked describes any commit of the repository: from memory for
// commits the simulator made, else from git log. ri.repo.mu must be held.
func commitInfoLocked(ctx context.Context, ri repoInfo, sha string) (commitInfo, error) {
	if c, ok := ri.repo.commits[sha]; ok {
		return c, nil
	}
	out, err := runGit(ctx, ri.repo.dir, nil, "log", "-1", "--no-renames", "--format=%H%x00%an%x00%ae%x00%at%x00%B%x00", "--name-status", sha)
	if err != nil {
		return commitInfo{}, err
	}
	parts := strings.SplitN(string(out), "\x00", 6)
	if len(parts) < 6 {
		return commitInfo{}, fmt.Errorf("git log %s: unexpected output", sha)
	}
	unix, _ := strconv.ParseInt(parts[3], 10, 64)
	c := commitInfo{
		ID: parts[0], AuthorName: parts[1], AuthorEmail: parts[2],
		Timestamp: time.Unix(unix, 0).UTC(), Message: parts[4],
		Added: []string{}, Modified: []string{}, Removed: []string{},
	}
	for _, l := range strings.Split(strings.TrimSpace(parts[5]), "\n") {
		status, path, ok := strings.Cut(l, "\t")
		if !ok {
			continue
		}
		switch status {
		case "A":
			c.Added = append(c.Added, path)
		case "D":
			c.Removed = append(c.Removed, path)
		default:
			c.Modified = append(c.Modified, path)
		}
	}
	return c, nil
}
