package host

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// manifestOnly is a plugin set of one manifest and no process: enough for
// code that reads what a plugin announces.
type manifestOnly struct{ m *manifest.Manifest }

func (p manifestOnly) Get(name string) (Plugin, bool) {
	if name != p.m.Name {
		return nil, false
	}
	return p, true
}
func (p manifestOnly) Names() []string                       { return []string{p.m.Name} }
func (p manifestOnly) Provider() scmv1.ProviderServiceClient { return nil }
func (p manifestOnly) Manifest() *manifest.Manifest          { return p.m }
func (p manifestOnly) Restarts() int64                       { return 0 }

func TestSCMWriteError(t *testing.T) {
	t.Parallel()
	h := &Host{cfg: Config{PublicURL: "https://ci.example.com"}, plugins: manifestOnly{&manifest.Manifest{Name: "gitlab", DisplayName: "GitLab"}}}
	tests := map[string]struct {
		err        error
		wantStatus int
		wantCode   string
		wantInMsg  string
	}{
		"role missing": {
			err:        scmerr.New(codes.PermissionDenied, scmerr.ReasonRoleMissing, "Maintainer role required on project 7", scmerr.WithMetadata("required_role", "maintainer")),
			wantStatus: http.StatusForbidden, wantCode: "gitlab_role_missing", wantInMsg: "Maintainer",
		},
		"scope missing": {
			err:        scmerr.New(codes.FailedPrecondition, scmerr.ReasonScopeMissing, "the token lacks the scope api", scmerr.WithMetadata("missing_scopes", "api")),
			wantStatus: http.StatusForbidden, wantCode: "gitlab_scope_missing", wantInMsg: "api",
		},
		"hook URL refused": {
			err:        scmerr.New(codes.FailedPrecondition, scmerr.ReasonHookURLRefused, "GitLab refused the webhook URL"),
			wantStatus: http.StatusUnprocessableEntity, wantCode: "gitlab_hook_url_refused",
			wantInMsg: "This host's webhook URL is https://ci.example.com/v1/webhooks/gitlab: if GitLab cannot reach that address, start oore-host with --public-url",
		},
		"invalid transition (unchanged)": {
			err:        scmerr.New(codes.FailedPrecondition, scmerr.ReasonInvalidTransition, "Cannot transition status via :run from :running"),
			wantStatus: http.StatusConflict, wantCode: "gitlab_invalid_transition", wantInMsg: ":running",
		},
		"auth failed (unchanged)": {
			err:        scmerr.New(codes.Unauthenticated, scmerr.ReasonAuthFailed, "token revoked"),
			wantStatus: http.StatusBadRequest, wantCode: "gitlab_auth_failed",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var ae *apiError
			if !errors.As(h.scmWriteError("gitlab", pluginError("gitlab", tc.err)), &ae) {
				t.Fatal("not an API error")
			}
			if ae.Status != tc.wantStatus || ae.Code != tc.wantCode || !strings.Contains(ae.Message, tc.wantInMsg) {
				t.Fatalf("= %d %s %q, want %d %s with %q", ae.Status, ae.Code, ae.Message, tc.wantStatus, tc.wantCode, tc.wantInMsg)
			}
		})
	}
	plain := errors.New("boom")
	if got := h.scmWriteError("gitlab", plain); got != plain {
		t.Fatalf("a non-API error became %v", got)
	}
}

func TestNewWebhookSecret(t *testing.T) {
	t.Parallel()
	a, b := newWebhookSecret("token"), newWebhookSecret("token")
	if a == b || len(a) < 40 || strings.HasPrefix(a, "whsec_") {
		t.Fatalf("tokens %q and %q", a, b)
	}
	s := newWebhookSecret("signing_token")
	if !strings.HasPrefix(s, "whsec_") || len(s) != len("whsec_")+44 {
		t.Fatalf("signing token %q: want whsec_ and 32 bytes in base64", s)
	}
}

func TestServesProjectWebhooks(t *testing.T) {
	t.Parallel()
	kr, err := secrets.New(bytes.Repeat([]byte{7}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(context.Background(), t.TempDir(), kr, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	announcing := manifestOnly{&manifest.Manifest{Name: "gitlab", Capabilities: []string{"webhooks", "project_webhooks"}}}
	silent := manifestOnly{&manifest.Manifest{Name: "gitlab", Capabilities: []string{"webhooks", "commit_status"}}}
	tests := map[string]struct {
		plugins Plugins
		store   store.Store
		name    string
		want    bool
	}{
		"announced":                    {announcing, st, "gitlab", true},
		"not announced":                {silent, st, "gitlab", false},
		"unknown provider":             {announcing, st, "github", false},
		"store keeps no project hooks": {announcing, nil, "gitlab", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := &Host{plugins: tc.plugins, store: tc.store}
			if got := h.servesProjectWebhooks(tc.name); got != tc.want {
				t.Fatalf("servesProjectWebhooks(%q) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}
