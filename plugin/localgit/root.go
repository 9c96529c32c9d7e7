package localgit

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// maxURLLength bounds host_url and repository ids.
const maxURLLength = 4096

// rootURL is how a root is written back to hosts: file:///abs/dir.
func rootURL(dir string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
}

// parseRoot reads a connection's root folder from its host_url without
// touching the file system. The URL is never echoed in an error: it may
// carry user info.
func parseRoot(conn *scmv1.Connection) (string, error) {
	if conn == nil {
		return "", scmerr.InvalidArgument(scmerr.FieldViolation{Field: "connection", Description: "is required"})
	}
	if err := scmerr.Validate(scmerr.Check{Field: "connection.host_url", Value: conn.GetHostUrl(), Tag: fmt.Sprintf("required,max=%d", maxURLLength)}); err != nil {
		return "", err
	}
	creds := conn.GetCredentials()
	if m := creds.GetAuthMode(); m != scmv1.AuthMode_AUTH_MODE_UNSPECIFIED && m != scmv1.AuthMode_AUTH_MODE_LOCAL_PATH {
		return "", scmerr.InvalidArgument(scmerr.FieldViolation{Field: "connection.credentials.auth_mode", Description: "must be local_path: local repositories take no credentials"})
	}
	if creds.GetAccessToken() != "" || creds.GetRefreshToken() != "" {
		return "", scmerr.InvalidArgument(scmerr.FieldViolation{Field: "connection.credentials", Description: "must be empty: local repositories take no token"})
	}
	bad := func(why string) error {
		return scmerr.InvalidArgument(scmerr.FieldViolation{Field: "connection.host_url", Description: why + " (want a file:// URL of an absolute folder, e.g. file:///srv/git)"})
	}
	u, err := url.Parse(conn.GetHostUrl())
	switch {
	case err != nil:
		return "", bad("is not a URL")
	case u.Scheme != "file":
		return "", bad("must use the file scheme")
	case u.User != nil:
		return "", bad("must not carry user info")
	case u.Host != "" && u.Host != "localhost":
		return "", bad("must name a folder on this machine (no host)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "":
		return "", bad("must not carry a query or a fragment")
	case !strings.HasPrefix(u.Path, "/"):
		return "", bad("must name an absolute folder")
	case strings.ContainsRune(u.Path, 0):
		return "", bad("must not contain NUL")
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == ".." || seg == "." {
			return "", bad("must not contain . or .. segments")
		}
	}
	p := path.Clean(u.Path)
	return filepath.FromSlash(p), nil
}

// openRoot is parseRoot plus a check that the root is a readable folder.
func openRoot(conn *scmv1.Connection) (string, error) {
	dir, err := parseRoot(conn)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", scmerr.Newf(codes.NotFound, scmerr.ReasonNotFound, "no folder at %s on the plugin's machine; create it or fix the URL", dir)
	case errors.Is(err, fs.ErrPermission):
		return "", scmerr.New(codes.PermissionDenied, scmerr.ReasonRoleMissing,
			fmt.Sprintf("the plugin cannot read %s; give the user running Oore read access", dir), scmerr.WithMetadata("required_role", "read"))
	case err != nil:
		return "", scmerr.Newf(codes.Unavailable, scmerr.ReasonUnreachable, "cannot inspect %s: %v", dir, err)
	case !fi.IsDir():
		return "", scmerr.Newf(codes.NotFound, scmerr.ReasonNotFound, "%s is a file, not a folder of repositories", dir)
	}
	if _, err := os.ReadDir(dir); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return "", scmerr.New(codes.PermissionDenied, scmerr.ReasonRoleMissing,
				fmt.Sprintf("the plugin cannot list %s; give the user running Oore read access", dir), scmerr.WithMetadata("required_role", "read"))
		}
		return "", scmerr.Newf(codes.Unavailable, scmerr.ReasonUnreachable, "cannot list %s: %v", dir, err)
	}
	return dir, nil
}
