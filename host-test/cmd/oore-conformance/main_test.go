package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/conformance"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
)

func TestCommandLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root := plugintest.ModuleRoot(t)
	plugintest.Build(t, dir, "./plugin/localgit/cmd/oore-scm-localgit", filepath.Join(root, "manifests", "localgit.json"))
	sealed := filepath.Join(dir, manifest.FileName)
	cases := map[string]struct {
		args     []string
		wantCode int
		wantOut  []string
		wantErr  string
	}{
		"list": {
			args: []string{"--list"}, wantCode: 0,
			wantOut: conformance.CaseNames(),
		},
		"no manifest": {
			args: []string{"--backend", "localgit"}, wantCode: 2, wantErr: "--manifest is required",
		},
		"no backend": {
			args: []string{"--manifest", sealed}, wantCode: 2, wantErr: "--backend is required",
		},
		"unknown backend": {
			args: []string{"--manifest", sealed, "--backend", "svn"}, wantCode: 2, wantErr: `unknown --backend "svn"`,
		},
		"unsealed manifest": {
			args: []string{"--manifest", filepath.Join(root, "manifests", "localgit.json"), "--backend", "localgit"}, wantCode: 2, wantErr: "a host would refuse this plugin",
		},
		"some cases against localgit": {
			args:     []string{"--manifest", sealed, "--backend", "localgit", "--run", "^(launch/info-equals-manifest|list_repositories/complete|oauth/begin)$"},
			wantCode: 0,
			wantOut: []string{
				"PASS launch/info-equals-manifest", "PASS list_repositories/complete",
				"SKIP oauth/begin", "the provider does not announce capability oauth",
				"2 passed, 0 failed, 1 skipped",
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errOut)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, &out, &errOut)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, &out)
				}
			}
			if !strings.Contains(errOut.String(), tc.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantErr, &errOut)
			}
		})
	}
}
