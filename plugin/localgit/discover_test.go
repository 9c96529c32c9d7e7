package localgit

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// layout writes files (path -> content; a path ending in / is a folder)
// under root.
func layout(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// bareLayout is what git needs to see a bare repository.
func bareLayout(dir, branch string) map[string]string {
	return map[string]string{dir + "/HEAD": "ref: refs/heads/" + branch + "\n", dir + "/objects/": "", dir + "/refs/": ""}
}

func tree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"team/app/.git/HEAD":          "ref: refs/heads/main\n",
		"team/app/nested/.git/HEAD":   "ref: refs/heads/inner\n", // inside a repository: not listed
		"team/detached/.git/HEAD":     "0123456789abcdef0123456789abcdef01234567\n",
		"worktree/.git":               "gitdir: ../gitdirs/worktree\n",
		"gitdirs/worktree/HEAD":       "ref: refs/heads/feature\n", // a gitdir, not a repository of its own
		"broken/.git/config":          "no HEAD here\n",
		".hidden/app/.git/HEAD":       "ref: refs/heads/main\n",
		"plain/folder/README":         "not a repository\n",
		"a/b/c/d/e/f/g/h/i/.git/HEAD": "ref: refs/heads/main\n", // deeper than maxDepth
		"a/b/c/d/e/f/g/h/.git/HEAD":   "ref: refs/heads/main\n", // exactly maxDepth
	}
	for k, v := range bareLayout("mirrors/lib.git", "trunk") {
		files[k] = v
	}
	layout(t, root, files)
	outside := t.TempDir()
	layout(t, outside, bareLayout("elsewhere.git", "main"))
	if err := os.Symlink(filepath.Join(outside, "elsewhere.git"), filepath.Join(root, "linked.git")); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestWalkFindsRepositoriesInPathOrder(t *testing.T) {
	t.Parallel()
	root := tree(t)
	type found struct {
		id, fullName, branch string
		bare                 bool
	}
	var got []found
	err := walk(context.Background(), root, func(r repository) error {
		got = append(got, found{r.id, r.fullName(), r.defaultBranch(), r.bare})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []found{
		{"a/b/c/d/e/f/g/h", "a/b/c/d/e/f/g/h", "main", false},
		{"mirrors/lib.git", "mirrors/lib", "trunk", true},
		{"team/app", "team/app", "main", false},
		{"team/detached", "team/detached", "", false},
		{"worktree", "worktree", "feature", false},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("walk found\n%v\nwant\n%v", got, want)
	}
}

func TestWalkStopsWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	root := tree(t)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := walk(ctx, root, func(repository) error { n++; cancel(); return nil })
	if err == nil || n != 1 {
		t.Fatalf("walk after cancel: %d repositories, err %v; want 1 and context.Canceled", n, err)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	root := tree(t)
	cases := map[string]struct {
		id      string
		found   bool
		invalid bool
	}{
		"working copy":             {id: "team/app", found: true},
		"bare":                     {id: "mirrors/lib.git", found: true},
		"gitdir file":              {id: "worktree", found: true},
		"plain folder":             {id: "plain/folder"},
		"missing":                  {id: "nope"},
		"not a repository":         {id: "broken"},
		"symlink out of root":      {id: "linked.git"},
		"deeper than maxDepth":     {id: "a/b/c/d/e/f/g/h/i"},
		"climbs out":               {id: "../etc", invalid: true},
		"climbs out in the middle": {id: "team/../../etc", invalid: true},
		"absolute":                 {id: "/etc", invalid: true},
		"hidden":                   {id: ".hidden/app", invalid: true},
		"the .git folder":          {id: "team/app/.git", invalid: true},
		"backslash":                {id: `team\app`, invalid: true},
		"trailing slash":           {id: "team/app/", invalid: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			repo, ok, err := lookup(root, tc.id)
			if (err != nil) != tc.invalid || ok != tc.found {
				t.Fatalf("lookup(%q) = found %v, err %v; want found %v, invalid %v", tc.id, ok, err, tc.found, tc.invalid)
			}
			if ok && repo.id != tc.id {
				t.Fatalf("lookup(%q) returned id %q", tc.id, repo.id)
			}
		})
	}
}
