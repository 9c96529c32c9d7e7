package localgit_test

import (
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/manifests"
	"github.com/oore-ci/oore-scm-gitlab/plugin/localgit"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

func TestInfoEqualsCheckedInManifest(t *testing.T) {
	t.Parallel()
	m, err := manifest.Parse(manifests.LocalGit, "manifests/localgit.json", 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Diff(localgit.Info()); len(d) > 0 {
		t.Fatalf("provider info differs from manifests/localgit.json: %v", d)
	}
}
