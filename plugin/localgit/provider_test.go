package localgit_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/oore-ci/oore-scm-gitlab/plugin/localgit"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// client serves the provider in memory (bufconn) and returns a client.
func client(t *testing.T) scmv1.ProviderServiceClient {
	t.Helper()
	return plugintest.InMemory(t, localgit.New())
}

// bareRepos lays out empty bare repositories at the given relative paths.
func bareRepos(t *testing.T, root string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		dir := filepath.Join(root, filepath.FromSlash(id))
		for _, d := range []string{"objects", "refs"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "HEAD"), []byte("ref: refs/heads/main\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func conn(root string) *scmv1.Connection {
	return &scmv1.Connection{HostUrl: "file://" + filepath.ToSlash(root)}
}

func list(t *testing.T, cl scmv1.ProviderServiceClient, req *scmv1.ListRepositoriesRequest) (pages [][]string) {
	t.Helper()
	stream, err := cl.ListRepositories(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return pages
		}
		if err != nil {
			t.Fatal(err)
		}
		var page []string
		for _, r := range msg.GetRepositories() {
			page = append(page, r.GetExternalId())
		}
		pages = append(pages, page)
	}
}

func TestListRepositoriesPagesAndSearch(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bareRepos(t, root, "a.git", "b.git", "mobile/app.git", "mobile/lib.git", "web.git")
	cl := client(t)
	cases := map[string]struct {
		req  *scmv1.ListRepositoriesRequest
		want [][]string
	}{
		"default page size": {
			req:  &scmv1.ListRepositoriesRequest{Connection: conn(root)},
			want: [][]string{{"a.git", "b.git", "mobile/app.git", "mobile/lib.git", "web.git"}},
		},
		"pages of two": {
			req:  &scmv1.ListRepositoriesRequest{Connection: conn(root), PageSize: 2},
			want: [][]string{{"a.git", "b.git"}, {"mobile/app.git", "mobile/lib.git"}, {"web.git"}},
		},
		"search is case-insensitive on the full name": {
			req:  &scmv1.ListRepositoriesRequest{Connection: conn(root), Search: "MOBILE/"},
			want: [][]string{{"mobile/app.git", "mobile/lib.git"}},
		},
		"search that matches nothing sends nothing": {
			req:  &scmv1.ListRepositoriesRequest{Connection: conn(root), Search: "nothing"},
			want: nil,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := list(t, cl, tc.req); !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Fatalf("pages %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRepositoryDescription(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bareRepos(t, root, "mobile/app.git")
	stream, err := client(t).ListRepositories(context.Background(), &scmv1.ListRepositoriesRequest{Connection: conn(root)})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	r := msg.GetRepositories()[0]
	want := &scmv1.Repository{
		ExternalId: "mobile/app.git", FullName: "mobile/app", Name: "app", Namespace: "mobile", DefaultBranch: "main",
		Private: true, Visibility: "private", CloneUrl: "file://" + filepath.ToSlash(filepath.Join(root, "mobile/app.git")),
		AccessLevel: scmv1.AccessLevel_ACCESS_LEVEL_ADMIN,
	}
	if !proto.Equal(r, want) {
		t.Fatalf("repository\n%v\nwant\n%v", r, want)
	}
}

func TestCloneCredentials(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bareRepos(t, root, "app.git")
	cl := client(t)
	cases := map[string]struct {
		id   string
		want codes.Code
	}{
		"a repository":        {id: "app.git", want: codes.OK},
		"no repository there": {id: "missing.git", want: codes.NotFound},
		"climbing out":        {id: "../app.git", want: codes.InvalidArgument},
		"empty":               {id: "", want: codes.InvalidArgument},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp, err := cl.GetCloneCredentials(context.Background(), &scmv1.GetCloneCredentialsRequest{Connection: conn(root), RepositoryExternalId: tc.id})
			if code := scmerr.CodeOf(err); code != tc.want {
				t.Fatalf("GetCloneCredentials(%q) = %v; want %s", tc.id, err, tc.want)
			}
			if tc.want == codes.OK && (resp.GetCloneUrl() != "file://"+filepath.ToSlash(filepath.Join(root, "app.git")) || resp.GetUsername() != "" || resp.GetPassword() != "") {
				t.Fatalf("GetCloneCredentials(%q) = %v", tc.id, resp)
			}
		})
	}
}

func TestValidateConnectionNormalisesTheRoot(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	resp, err := client(t).ValidateConnection(context.Background(), &scmv1.ValidateConnectionRequest{Connection: &scmv1.Connection{HostUrl: "file://localhost" + filepath.ToSlash(root) + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "file://" + filepath.ToSlash(root); resp.GetHostUrl() != want || resp.GetAccount().GetId() == "" {
		t.Fatalf("ValidateConnection = %v; want host_url %s and an account", resp, want)
	}
}
