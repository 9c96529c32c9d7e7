package conformance

import (
	"context"
	"encoding/base64"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// cloneCases: GetCloneCredentials.
func cloneCases() []testCase {
	clone := []scmv1.Capability{scmv1.Capability_CAPABILITY_CLONE_CREDENTIALS}
	return []testCase{
		{name: "clone_credentials/git-can-fetch", needs: clone, run: caseCloneFetch},
		{name: "clone_credentials/bad-input", needs: clone, run: caseCloneBadInput},
	}
}

// caseCloneFetch: for up to three of the connection's repositories, the
// clone URL is absolute and carries no credentials, and git can read the
// repository with the username and password (git ls-remote).
func caseCloneFetch(c *C) {
	tc := c.conn()
	if len(tc.Repositories) == 0 {
		c.Skipf("the backend's connection has no repositories")
	}
	git := c.s.cfg.Git
	if git == "" {
		if p, err := exec.LookPath("git"); err == nil {
			git = p
		} else {
			c.Logf("git is not on PATH: clone URLs are checked for shape only")
		}
	}
	for _, repo := range tc.Repositories[:min(3, len(tc.Repositories))] {
		resp, err := c.s.client.GetCloneCredentials(c.ctx, &scmv1.GetCloneCredentialsRequest{
			Connection: tc.Connection, RepositoryExternalId: repo.GetExternalId(), FullName: repo.GetFullName(),
		})
		if !c.ok("GetCloneCredentials for "+repo.GetExternalId(), err) {
			continue
		}
		c.s.secrets.add("a clone password", resp.GetPassword())
		u, err := url.Parse(resp.GetCloneUrl())
		if err != nil || !u.IsAbs() {
			c.Errorf("the clone URL of %s is not an absolute URL", repo.GetExternalId())
			continue
		}
		if _, hasPassword := u.User.Password(); hasPassword {
			c.Errorf("the clone URL of %s carries a password: git would log it; answer it in the password field", repo.GetExternalId())
		}
		c.clean("the clone URL of "+repo.GetExternalId(), resp.GetCloneUrl())
		if git == "" {
			continue
		}
		if out, err := lsRemote(c.ctx, git, resp); err != nil {
			c.Errorf("git ls-remote %s with the answered credentials failed: %v: %s", u.Redacted(), err, c.redact(out))
		}
	}
}

// lsRemote runs git ls-remote with the credentials as an HTTP Basic header
// passed through the environment (never on the command line), with prompts
// and credential helpers off.
func lsRemote(ctx context.Context, git string, creds *scmv1.GetCloneCredentialsResponse) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, git, "-c", "credential.helper=", "ls-remote", "--", creds.GetCloneUrl())
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=")
	if creds.GetUsername() != "" || creds.GetPassword() != "" {
		basic := base64.StdEncoding.EncodeToString([]byte(creds.GetUsername() + ":" + creds.GetPassword()))
		cmd.Env = append(cmd.Env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: Basic "+basic)
	}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// caseCloneBadInput: a missing or malformed repository id or connection is
// InvalidArgument; an id that names no repository (a path that climbs out,
// a number nothing has) is NotFound or InvalidArgument, never OK.
func caseCloneBadInput(c *C) {
	tc := c.conn()
	call := func(conn *scmv1.Connection, id string) error {
		_, err := c.s.client.GetCloneCredentials(c.ctx, &scmv1.GetCloneCredentialsRequest{Connection: conn, RepositoryExternalId: id})
		return err
	}
	some := "0"
	if len(tc.Repositories) > 0 {
		some = tc.Repositories[0].GetExternalId()
	}
	c.code("GetCloneCredentials without a connection", call(nil, some), codes.InvalidArgument)
	c.code("GetCloneCredentials without a repository id", call(tc.Connection, ""), codes.InvalidArgument)
	c.code("GetCloneCredentials with a 1 MiB repository id", call(tc.Connection, strings.Repeat("9", oversized)), codes.InvalidArgument)
	for name, host := range sortedMap(c.badHostURLs()) {
		c.code("GetCloneCredentials with "+name, call(withHost(tc.Connection, host), some), codes.InvalidArgument)
	}
	c.code("GetCloneCredentials for ../../../../etc", call(tc.Connection, "../../../../etc"), codes.NotFound, codes.InvalidArgument)
	c.code("GetCloneCredentials for repository 999999999", call(tc.Connection, "999999999"), codes.NotFound, codes.InvalidArgument)
}
