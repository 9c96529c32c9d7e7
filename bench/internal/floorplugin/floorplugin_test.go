package floorplugin

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

// The launcher refuses a plugin whose answer differs from its manifest: the
// floor's manifest must validate and match what the provider answers.
func TestManifestMatchesInfo(t *testing.T) {
	m, err := manifest.Parse([]byte(Manifest), "floorplugin.Manifest", 1)
	if err != nil {
		t.Fatalf("the floor's manifest does not validate: %v", err)
	}
	if m.Executable != Executable {
		t.Errorf("executable %q, want %q", m.Executable, Executable)
	}
	resp, err := Provider{}.GetProviderInfo(context.Background(), &scmv1.GetProviderInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Diff(resp.GetInfo()); len(d) > 0 {
		t.Errorf("manifest and provider info differ: %v", d)
	}
}

// Everything else is Unimplemented: the floor does no provider work.
func TestOtherCallsUnimplemented(t *testing.T) {
	_, err := Provider{}.VerifyWebhook(context.Background(), &scmv1.VerifyWebhookRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("VerifyWebhook: %v, want Unimplemented", err)
	}
}
