package manifest_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/manifests"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

func TestCheckedInGitLabManifestIsValid(t *testing.T) {
	t.Parallel()
	m, err := manifest.Parse(manifests.GitLab, "manifests/gitlab.json", 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "gitlab" || m.Executable != "oore-scm-gitlab" {
		t.Fatalf("unexpected manifest %+v", m)
	}
}

func TestInvalidManifestNamesEveryProblem(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		json string
		want []string
	}{
		"missing fields": {
			json: `{"name":"x1","kind":"scm-provider"}`,
			want: []string{"display_name", "version", "protocol_versions", "executable", "auth_modes", "routes"},
		},
		"wrong protocol and kind": {
			json: `{"name":"gl","display_name":"G","kind":"ci","version":"1.0.0","protocol_versions":[2],"executable":"b",
			"auth_modes":[{"mode":"personal_token"}],"event_kinds":[],"capabilities":[],
			"routes":{"integrations":"/v1/integrations/gl","webhooks":"/v1/webhooks/gl"}}`,
			want: []string{"protocol_versions [2] has no version this host speaks", "/kind"},
		},
		"unknown capability and field": {
			json: `{"name":"gl","display_name":"G","kind":"scm-provider","version":"1.0.0","protocol_versions":[1],"executable":"b",
			"auth_modes":[{"mode":"personal_token"}],"event_kinds":["push"],"capabilities":["teleport"],"colour":"red",
			"routes":{"integrations":"/v1/integrations/other","webhooks":"/v1/webhooks/gl"}}`,
			want: []string{"/capabilities/0", "colour", "routes.integrations must be /v1/integrations/gl"},
		},
		"executable with a path and a bad checksum": {
			json: `{"name":"gl","display_name":"G","kind":"scm-provider","version":"1.0","protocol_versions":[1],"executable":"../evil",
			"sha256":"abc","auth_modes":[{"mode":"personal_token"}],"event_kinds":[],"capabilities":[],
			"routes":{"integrations":"/v1/integrations/gl","webhooks":"/v1/webhooks/gl"}}`,
			want: []string{"/executable", "/sha256", "/version"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := manifest.Parse([]byte(tc.json), "test.json", 1)
			var verr *manifest.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("got %v, want a ValidationError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestSealRecordsTheBinarysChecksum(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.json")
	if err := os.WriteFile(src, manifests.GitLab, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "oore-scm-gitlab")
	if err := os.WriteFile(bin, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Seal(src, bin, filepath.Join(dir, manifest.FileName))
	if err != nil {
		t.Fatal(err)
	}
	// sha256("binary")
	const want = "9a3a45d01531a20e89ac6ae10b0b0beb0492acd7216a368aa062d1a5fecaf9cd"
	if m.SHA256 != want {
		t.Fatalf("sha256 %s, want %s", m.SHA256, want)
	}
	loaded, err := manifest.Load(filepath.Join(dir, manifest.FileName), 1)
	if err != nil || loaded.SHA256 != want || loaded.ExecutablePath() != bin {
		t.Fatalf("reloaded %+v, %v", loaded, err)
	}
	if _, err := manifest.Seal(src, filepath.Join(dir, "other-name"), filepath.Join(dir, "x.json")); err == nil {
		t.Fatal("sealed a binary whose name is not the manifest's executable")
	}
}

func TestDiffNamesEachDifference(t *testing.T) {
	t.Parallel()
	m, err := manifest.Parse(manifests.GitLab, "gitlab.json")
	if err != nil {
		t.Fatal(err)
	}
	info := &scmv1.ProviderInfo{Name: "gitlab", DisplayName: "GitLab", Version: m.Version, ProtocolVersions: []uint32{1}, DefaultHostUrl: m.DefaultHostURL}
	for _, am := range m.AuthModes {
		mode, ok := manifest.ParseAuthMode(am.Mode)
		if !ok {
			t.Fatalf("unknown mode %s", am.Mode)
		}
		ami := &scmv1.AuthModeInfo{Mode: mode, DefaultScopes: am.DefaultScopes}
		for _, r := range am.RequiredScopes {
			ami.RequiredScopes = append(ami.RequiredScopes, &scmv1.ScopeRequirement{AnyOf: r})
		}
		info.AuthModes = append(info.AuthModes, ami)
	}
	for _, c := range m.Capabilities {
		info.Capabilities = append(info.Capabilities, scmv1.Capability(scmv1.Capability_value["CAPABILITY_"+strings.ToUpper(c)]))
	}
	for _, k := range m.EventKinds {
		info.EventKinds = append(info.EventKinds, scmv1.EventKind(scmv1.EventKind_value["EVENT_KIND_"+strings.ToUpper(k)]))
	}
	if d := m.Diff(info); len(d) != 0 {
		t.Fatalf("equal info reported different: %v", d)
	}
	info.Version = "0.0.0"
	info.Capabilities = append(info.Capabilities, scmv1.Capability_CAPABILITY_COMMIT_STATUS)
	info.AuthModes[0].DefaultScopes = []string{"read_api"}
	d := strings.Join(m.Diff(info), "\n")
	for _, w := range []string{"version", "capabilities", "default_scopes"} {
		if !strings.Contains(d, w) {
			t.Errorf("diff does not name %s:\n%s", w, d)
		}
	}
}
