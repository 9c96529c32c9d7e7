package gitlab_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/manifests"
	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

func TestInfoEqualsCheckedInManifest(t *testing.T) {
	t.Parallel()
	m, err := manifest.Parse(manifests.GitLab, "manifests/gitlab.json", 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Diff(gitlab.Info()); len(d) > 0 {
		t.Fatalf("provider info differs from manifests/gitlab.json: %v", d)
	}
}

// TestRealPluginProcessAnswersItsManifest launches the built oore-scm-gitlab
// binary as a host does (checksum, AutoMTLS, gRPC) and asks who it is.
func TestRealPluginProcessAnswersItsManifest(t *testing.T) {
	t.Parallel()
	m := plugintest.BuildGitLab(t, t.TempDir())
	p, err := launcher.Launch(context.Background(), m, launcher.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	resp, err := p.Provider().GetProviderInfo(context.Background(), &scmv1.GetProviderInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Diff(resp.GetInfo()); len(d) > 0 {
		t.Fatalf("running plugin differs from its manifest: %v", d)
	}
	// Every capability the plugin does not announce answers Unimplemented.
	announced := map[scmv1.Capability]bool{}
	for _, c := range resp.GetInfo().GetCapabilities() {
		announced[c] = true
	}
	if !announced[scmv1.Capability_CAPABILITY_COMMIT_STATUS] {
		_, err := p.Provider().SetCommitStatus(context.Background(), &scmv1.SetCommitStatusRequest{})
		if scmerr.CodeOf(err) != codes.Unimplemented {
			t.Fatalf("unannounced SetCommitStatus answered %v", err)
		}
	}
}
