package localgit

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxDepth is how many folders below the root a repository may sit.
const maxDepth = 8

// repository is a git repository found under a root.
type repository struct {
	// id is the path relative to the root, with slashes: the external id.
	id string
	// dir is the absolute folder git clones from.
	dir string
	// gitDir holds HEAD: dir/.git for a working copy, dir for a bare one.
	gitDir string
	bare   bool
}

// fullName is the id without a bare repository's ".git" suffix.
func (r repository) fullName() string {
	if r.bare {
		if n := strings.TrimSuffix(r.id, ".git"); n != "" && !strings.HasSuffix(n, "/") {
			return n
		}
	}
	return r.id
}

// inspect says whether dir is a git repository: a working copy (dir/.git is
// a folder with HEAD, or a "gitdir:" file) or a bare repository (HEAD,
// objects/ and refs/, as git itself decides).
func inspect(dir string) (repository, bool) {
	dotGit := filepath.Join(dir, ".git")
	if fi, err := os.Lstat(dotGit); err == nil {
		switch {
		case fi.IsDir():
			if isFile(filepath.Join(dotGit, "HEAD")) {
				return repository{dir: dir, gitDir: dotGit}, true
			}
		case fi.Mode().IsRegular():
			if gd, ok := readGitdirFile(dotGit); ok && isFile(filepath.Join(gd, "HEAD")) {
				return repository{dir: dir, gitDir: gd}, true
			}
		}
		return repository{}, false
	}
	if isFile(filepath.Join(dir, "HEAD")) && isDir(filepath.Join(dir, "objects")) && isDir(filepath.Join(dir, "refs")) {
		return repository{dir: dir, gitDir: dir, bare: true}, true
	}
	return repository{}, false
}

// readGitdirFile reads a ".git" file ("gitdir: <path>") of a linked
// working tree or a submodule.
func readGitdirFile(name string) (string, bool) {
	f, err := os.Open(name)
	if err != nil {
		return "", false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return "", false
	}
	gd, ok := strings.CutPrefix(strings.TrimSpace(line), "gitdir:")
	if !ok {
		return "", false
	}
	gd = strings.TrimSpace(gd)
	if !filepath.IsAbs(gd) {
		gd = filepath.Join(filepath.Dir(name), gd)
	}
	return gd, true
}

// defaultBranch reads HEAD: "ref: refs/heads/main" is main; a detached or
// unreadable HEAD has none.
func (r repository) defaultBranch() string {
	f, err := os.Open(filepath.Join(r.gitDir, "HEAD"))
	if err != nil {
		return ""
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	ref, ok := strings.CutPrefix(strings.TrimSpace(line), "ref:")
	if !ok {
		return ""
	}
	branch, ok := strings.CutPrefix(strings.TrimSpace(ref), "refs/heads/")
	if !ok {
		return ""
	}
	return branch
}

func isFile(name string) bool {
	fi, err := os.Stat(name)
	return err == nil && fi.Mode().IsRegular()
}

func isDir(name string) bool {
	fi, err := os.Stat(name)
	return err == nil && fi.IsDir()
}

// errStop ends a walk early without an error.
var errStop = errors.New("stop walking")

// walk calls fn for every repository under root, in lexical path order. It
// does not descend into repositories, hidden folders or symbolic links,
// nor deeper than maxDepth; folders it cannot read are skipped. It stops
// when ctx ends or fn returns an error.
func walk(ctx context.Context, root string, fn func(repository) error) error {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if err != nil {
			if p == root {
				return err
			}
			return fs.SkipDir // unreadable folder: not ours to list
		}
		if p == root || !d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			return fs.SkipDir
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return fs.SkipDir
		}
		rel = filepath.ToSlash(rel)
		if repo, ok := inspect(p); ok {
			repo.id = rel
			if err := fn(repo); err != nil {
				return err
			}
			return fs.SkipDir
		}
		if strings.Count(rel, "/")+1 >= maxDepth {
			return fs.SkipDir
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// lookup finds the repository with external id id under root. ok is false
// when there is none; err is set when id is not a clean relative path.
func lookup(root, id string) (repo repository, ok bool, err error) {
	if id == "" || strings.HasPrefix(id, "/") || strings.ContainsAny(id, "\\\x00") || path.Clean(id) != id {
		return repository{}, false, errors.New("must be a clean relative path such as team/app")
	}
	for _, seg := range strings.Split(id, "/") {
		if strings.HasPrefix(seg, ".") {
			return repository{}, false, errors.New("must not contain hidden or .. segments")
		}
	}
	if strings.Count(id, "/")+1 > maxDepth {
		return repository{}, false, nil
	}
	dir := filepath.Join(root, filepath.FromSlash(id))
	// Symbolic links could lead out of the root; walk never follows them, so
	// neither does lookup.
	realRoot, err1 := filepath.EvalSymlinks(root)
	realDir, err2 := filepath.EvalSymlinks(dir)
	if err1 != nil || err2 != nil || realDir != filepath.Join(realRoot, filepath.FromSlash(id)) {
		return repository{}, false, nil
	}
	repo, ok = inspect(dir)
	if !ok {
		return repository{}, false, nil
	}
	repo.id = id
	return repo, true, nil
}
