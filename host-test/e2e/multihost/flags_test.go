package multihost

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
)

// TestServeRefusesABadDatabase: oore-host serve stops at once, with a reason
// and without the password, when --database is not a PostgreSQL URL or its
// server cannot be reached.
func TestServeRefusesABadDatabase(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		database string
		want     string
	}{
		"not postgres": {database: "mysql://oore:hunter2@db.example/oore", want: "--database must be a postgres:// or postgresql:// URL"},
		"unreachable":  {database: "postgres://oore:hunter2@127.0.0.1:1/oore?sslmode=disable&connect_timeout=5", want: "open store postgres://oore:xxxxx@127.0.0.1:1/oore"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(built.Host, "serve", "--listen", e2ekit.FreeAddr(t), "--data-dir", t.TempDir(),
				"--plugins-dir", built.Plugins, "--database", tc.database)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("serve started with --database %s:\n%s", name, out)
			}
			if !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "hunter2") {
				t.Fatalf("serve said (want %q, and no password):\n%s", tc.want, out)
			}
		})
	}
}
