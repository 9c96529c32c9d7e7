package gitlab_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// lsRemote runs `git ls-remote` on a clone URL with Basic credentials.
func lsRemote(t *testing.T, cloneURL, user, password string) (string, error) {
	t.Helper()
	u, err := url.Parse(cloneURL)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	cmd := exec.Command("git", "ls-remote", u.String())
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestGetCloneCredentials(t *testing.T) {
	t.Parallel()
	sim, demo := demoSim(t)
	plugin := gitlabPlugin(t)
	ctx := context.Background()
	appID := strconv.FormatInt(demo.FlutterApp.ID, 10)

	t.Run("by ID, and git can fetch with them", func(t *testing.T) {
		t.Parallel()
		resp, err := plugin.GetCloneCredentials(ctx, &scmv1.GetCloneCredentialsRequest{
			Connection: patConn(sim.URL, demo.Token), RepositoryExternalId: appID,
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetCloneUrl() != sim.URL+"/oore-demo/mobile/flutter-app.git" || resp.GetUsername() != "oauth2" || resp.GetPassword() != demo.Token {
			t.Fatalf("got %s as %s", resp.GetCloneUrl(), resp.GetUsername())
		}
		out, err := lsRemote(t, resp.GetCloneUrl(), resp.GetUsername(), resp.GetPassword())
		if err != nil || !strings.Contains(out, "refs/heads/main") {
			t.Fatalf("git ls-remote with the credentials: %v\n%s", err, out)
		}
		if _, err := lsRemote(t, resp.GetCloneUrl(), "", ""); err == nil {
			t.Fatal("the private repository is readable without credentials; the test proves nothing")
		}
	})

	t.Run("by full name, without asking GitLab", func(t *testing.T) {
		t.Parallel()
		sim, demo := demoSim(t)
		tok, err := sim.IssueOAuthToken(demo.ClientID, demo.User.ID, []string{"api", "read_repository"})
		if err != nil {
			t.Fatal(err)
		}
		conn := oauthConn(sim.URL+"/", tok.AccessToken)
		conn.Credentials.ExpiresAt = tok.ExpiresAt.Unix()
		resp, err := plugin.GetCloneCredentials(ctx, &scmv1.GetCloneCredentialsRequest{
			Connection: conn, FullName: "oore-demo/mobile/flutter-app",
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := sim.Requests("", "/"); n != 0 {
			t.Fatalf("%d requests to GitLab; the full name needs none", n)
		}
		if resp.GetCloneUrl() != sim.URL+"/oore-demo/mobile/flutter-app.git" || resp.GetUsername() != "oauth2" ||
			resp.GetPassword() != tok.AccessToken || resp.GetExpiresAt() != tok.ExpiresAt.Unix() {
			t.Fatalf("got %v", resp)
		}
		out, err := lsRemote(t, resp.GetCloneUrl(), resp.GetUsername(), resp.GetPassword())
		if err != nil || !strings.Contains(out, "refs/heads/main") {
			t.Fatalf("git ls-remote with OAuth credentials: %v\n%s", err, out)
		}
	})

	refusals := map[string]struct {
		req    *scmv1.GetCloneCredentialsRequest
		code   codes.Code
		reason scmerr.Reason
		field  string
	}{
		"unknown project": {
			&scmv1.GetCloneCredentialsRequest{Connection: patConn(sim.URL, demo.Token), RepositoryExternalId: "999999"},
			codes.NotFound, scmerr.ReasonNotFound, "",
		},
		"another user's private project": {
			&scmv1.GetCloneCredentialsRequest{Connection: patConn(sim.URL, demo.Token), RepositoryExternalId: strconv.FormatInt(demo.OtherProjects[0].ID, 10)},
			codes.NotFound, scmerr.ReasonNotFound, "",
		},
		"neither ID nor name": {
			&scmv1.GetCloneCredentialsRequest{Connection: patConn(sim.URL, demo.Token)},
			codes.InvalidArgument, scmerr.ReasonInvalidInput, "repository_external_id",
		},
		"ID not a number": {
			&scmv1.GetCloneCredentialsRequest{Connection: patConn(sim.URL, demo.Token), RepositoryExternalId: "../../user"},
			codes.InvalidArgument, scmerr.ReasonInvalidInput, "repository_external_id",
		},
		"full name escaping the origin": {
			&scmv1.GetCloneCredentialsRequest{Connection: patConn(sim.URL, demo.Token), FullName: "../evil.example.com/x"},
			codes.InvalidArgument, scmerr.ReasonInvalidInput, "full_name",
		},
		"full name with a URL": {
			&scmv1.GetCloneCredentialsRequest{Connection: patConn(sim.URL, demo.Token), FullName: "https://evil.example.com/x"},
			codes.InvalidArgument, scmerr.ReasonInvalidInput, "full_name",
		},
	}
	for name, tc := range refusals {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := plugin.GetCloneCredentials(ctx, tc.req)
			d := wantErr(t, err, tc.code, tc.reason, demo.Token)
			if tc.field != "" && (len(d.Fields) != 1 || d.Fields[0].Field != tc.field) {
				t.Fatalf("fields = %v, want %s", d.Fields, tc.field)
			}
		})
	}
}
