package localgit

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

func TestParseRoot(t *testing.T) {
	t.Parallel()
	local := &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_LOCAL_PATH}
	cases := map[string]struct {
		conn      *scmv1.Connection
		want      string
		wantField string // InvalidArgument naming this field; "" means success
	}{
		"absolute folder":           {conn: &scmv1.Connection{HostUrl: "file:///srv/git", Credentials: local}, want: "/srv/git"},
		"trailing slash":            {conn: &scmv1.Connection{HostUrl: "file:///srv/git/"}, want: "/srv/git"},
		"localhost host":            {conn: &scmv1.Connection{HostUrl: "file://localhost/srv/git"}, want: "/srv/git"},
		"escaped space":             {conn: &scmv1.Connection{HostUrl: "file:///srv/my%20git"}, want: "/srv/my git"},
		"no connection":             {conn: nil, wantField: "connection"},
		"empty":                     {conn: &scmv1.Connection{}, wantField: "connection.host_url"},
		"too long":                  {conn: &scmv1.Connection{HostUrl: "file:///" + strings.Repeat("a", maxURLLength)}, wantField: "connection.host_url"},
		"https":                     {conn: &scmv1.Connection{HostUrl: "https://gitlab.com"}, wantField: "connection.host_url"},
		"another host":              {conn: &scmv1.Connection{HostUrl: "file://nas/srv/git"}, wantField: "connection.host_url"},
		"user info":                 {conn: &scmv1.Connection{HostUrl: "file://me:pw@localhost/srv"}, wantField: "connection.host_url"},
		"query":                     {conn: &scmv1.Connection{HostUrl: "file:///srv/git?x=1"}, wantField: "connection.host_url"},
		"fragment":                  {conn: &scmv1.Connection{HostUrl: "file:///srv/git#x"}, wantField: "connection.host_url"},
		"relative":                  {conn: &scmv1.Connection{HostUrl: "file:srv/git"}, wantField: "connection.host_url"},
		"dot dot":                   {conn: &scmv1.Connection{HostUrl: "file:///srv/../etc"}, wantField: "connection.host_url"},
		"not a URL":                 {conn: &scmv1.Connection{HostUrl: "file://[::1"}, wantField: "connection.host_url"},
		"a token":                   {conn: &scmv1.Connection{HostUrl: "file:///srv/git", Credentials: &scmv1.Credentials{AccessToken: "glpat-secret"}}, wantField: "connection.credentials"},
		"another auth mode":         {conn: &scmv1.Connection{HostUrl: "file:///srv/git", Credentials: &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN}}, wantField: "connection.credentials.auth_mode"},
		"NUL escaped into the path": {conn: &scmv1.Connection{HostUrl: "file:///srv/%00git"}, wantField: "connection.host_url"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := parseRoot(tc.conn)
			if tc.wantField == "" {
				if err != nil || got != filepath.FromSlash(tc.want) {
					t.Fatalf("parseRoot = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			d := scmerr.Parse(err)
			if d.Code != codes.InvalidArgument || !slices.Contains(d.FieldNames(), tc.wantField) {
				t.Fatalf("parseRoot error = %v (fields %v); want InvalidArgument naming %s", err, d.FieldNames(), tc.wantField)
			}
			if strings.Contains(d.Message, "glpat-secret") || strings.Contains(d.Message, "pw@") {
				t.Fatalf("error echoes a secret: %q", d.Message)
			}
		})
	}
}

func TestOpenRootNeedsAFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		path string
		want codes.Code
	}{
		"folder":  {path: dir, want: codes.OK},
		"missing": {path: filepath.Join(dir, "missing"), want: codes.NotFound},
		"file":    {path: file, want: codes.NotFound},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := openRoot(&scmv1.Connection{HostUrl: rootURL(tc.path)})
			if code := scmerr.CodeOf(err); code != tc.want {
				t.Fatalf("openRoot(%s) = %v; want %s", tc.path, err, tc.want)
			}
			if tc.want == codes.OK && got != tc.path {
				t.Fatalf("openRoot(%s) = %q", tc.path, got)
			}
		})
	}
}
