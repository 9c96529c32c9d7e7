package host

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/shared/credsource"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

func TestPluginError(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		err        error
		wantStatus int
		wantCode   string
	}{
		"auth failed":     {err: scmerr.New(codes.Unauthenticated, scmerr.ReasonAuthFailed, "token rejected"), wantStatus: 400, wantCode: "gitlab_auth_failed"},
		"token expired":   {err: scmerr.New(codes.Unauthenticated, scmerr.ReasonTokenExpired, "expired"), wantStatus: 400, wantCode: "gitlab_auth_failed"},
		"scope missing":   {err: scmerr.New(codes.PermissionDenied, scmerr.ReasonScopeMissing, "missing", scmerr.WithMetadata("missing_scopes", "api")), wantStatus: 400, wantCode: "gitlab_scope_missing"},
		"unreachable":     {err: scmerr.New(codes.Unavailable, scmerr.ReasonUnreachable, "down"), wantStatus: 502, wantCode: "gitlab_unreachable"},
		"rate limited":    {err: scmerr.New(codes.ResourceExhausted, scmerr.ReasonRateLimited, "slow", scmerr.WithRetryAfter(3*time.Second)), wantStatus: 429, wantCode: "gitlab_rate_limited"},
		"api error":       {err: scmerr.New(codes.Internal, scmerr.ReasonProviderAPIError, "odd"), wantStatus: 502, wantCode: "gitlab_api_error"},
		"not found":       {err: scmerr.New(codes.NotFound, scmerr.ReasonNotFound, "gone"), wantStatus: 404, wantCode: "gitlab_not_found"},
		"invalid input":   {err: scmerr.InvalidArgument(scmerr.FieldViolation{Field: "connection.host_url", Description: "bad"}), wantStatus: 400, wantCode: "invalid_input"},
		"plugin down":     {err: scmerr.New(codes.Unavailable, scmerr.ReasonPluginUnavailable, "restarting"), wantStatus: 503, wantCode: "plugin_unavailable"},
		"transport lost":  {err: status.Error(codes.Unavailable, "connection closed"), wantStatus: 503, wantCode: "plugin_unavailable"},
		"deadline":        {err: status.Error(codes.DeadlineExceeded, "slow"), wantStatus: 504, wantCode: "gitlab_unreachable"},
		"signature":       {err: scmerr.New(codes.Unauthenticated, scmerr.ReasonSignatureInvalid, "bad token"), wantStatus: 401, wantCode: "invalid_token"},
		"unimplemented":   {err: scmerr.Unimplemented("SetCommitStatus"), wantStatus: 501, wantCode: "gitlab_unsupported"},
		"not a status":    {err: errors.New("boom"), wantStatus: 502, wantCode: "gitlab_api_error"},
		"invalid grant":   {err: scmerr.New(codes.FailedPrecondition, scmerr.ReasonInvalidGrant, "used code"), wantStatus: 400, wantCode: "gitlab_auth_failed"},
		"role missing":    {err: scmerr.New(codes.PermissionDenied, scmerr.ReasonRoleMissing, "maintainer needed"), wantStatus: 400, wantCode: "gitlab_role_missing"},
		"bare permission": {err: status.Error(codes.PermissionDenied, "no"), wantStatus: 400, wantCode: "gitlab_scope_missing"},
	}
	for name, tc := range tests {
		got := pluginError("gitlab", tc.err)
		if got.Status != tc.wantStatus || got.Code != tc.wantCode {
			t.Errorf("%s: pluginError = %d %s, want %d %s", name, got.Status, got.Code, tc.wantStatus, tc.wantCode)
		}
		if got.Message == "" {
			t.Errorf("%s: empty message", name)
		}
	}
	rl := pluginError("gitlab", scmerr.New(codes.ResourceExhausted, scmerr.ReasonRateLimited, "slow", scmerr.WithRetryAfter(2500*time.Millisecond)))
	if retryAfterHeader(rl.RetryAfter) != "3" {
		t.Errorf("Retry-After = %q, want 3", retryAfterHeader(rl.RetryAfter))
	}
	sc := pluginError("gitlab", scmerr.New(codes.PermissionDenied, scmerr.ReasonScopeMissing, "missing", scmerr.WithMetadata("missing_scopes", "read_repository")))
	if sc.Details != "missing scopes: read_repository" {
		t.Errorf("scope details = %q", sc.Details)
	}
	if b := pluginError("gitlab", scmerr.New(codes.Unauthenticated, scmerr.ReasonAuthFailed, "x")).body(); b.Details != nil {
		t.Errorf("details = %v, want null", *b.Details)
	}
	_ = http.StatusOK
}

// TestCredentialsNotSavedIsRetryableNotReconnect: rotated tokens the database
// has not taken yet answer 503 with Retry-After, never "reconnect", and the
// store's error stays out of the answer.
func TestCredentialsNotSavedIsRetryableNotReconnect(t *testing.T) {
	t.Parallel()
	cause := fmt.Errorf("credentials of integration %q: %w: %w", "in-1", credsource.ErrCredentialsNotSaved, errors.New("database is locked: /var/lib/oore/oore.db"))
	e := credentialError(&provider{name: "gitlab"}, store.Integration{ID: "in-1"}, cause)
	if e.Status != http.StatusServiceUnavailable || e.Code != codeCredentialsNotSaved || e.RetryAfter <= 0 {
		t.Fatalf("got %d %s retry %s, want 503 %s with Retry-After", e.Status, e.Code, e.RetryAfter, codeCredentialsNotSaved)
	}
	if strings.Contains(e.Message, "database is locked") || strings.Contains(e.Message, "/var/lib") {
		t.Errorf("the store's error leaked into the answer: %q", e.Message)
	}
	if !errors.Is(e.cause, credsource.ErrCredentialsNotSaved) {
		t.Error("the cause is not kept for the log")
	}
}
