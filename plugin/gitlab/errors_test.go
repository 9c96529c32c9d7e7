package gitlab

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"
	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

const testToken = "glpat-SECRETSECRETSECRET"

func testConnection(mode scmv1.AuthMode) *connection {
	return &connection{
		origin: "https://gitlab.example.com",
		creds:  &scmv1.Credentials{AuthMode: mode, AccessToken: testToken, RefreshToken: "refresh-SECRET-TOKEN"},
	}
}

// apiErr builds what client-go returns for a failed call.
func apiErr(status int, header http.Header, body string) error {
	if header == nil {
		header = http.Header{}
	}
	req, _ := http.NewRequest(http.MethodGet, "https://gitlab.example.com/api/v4/user", nil)
	return &gl.ErrorResponse{
		Response: &http.Response{StatusCode: status, Header: header, Request: req},
		Body:     []byte(body),
	}
}

func TestAnswerFailureMapping(t *testing.T) {
	t.Parallel()
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	tests := map[string]struct {
		mode     scmv1.AuthMode
		status   int
		header   http.Header
		body     string
		code     codes.Code
		reason   scmerr.Reason
		metadata map[string]string
		says     string
	}{
		"401 unknown token": {
			status: 401, header: jsonCT, body: `{"message":"401 Unauthorized"}`,
			code: codes.Unauthenticated, reason: scmerr.ReasonAuthFailed, says: "rejected the access token",
		},
		"401 expired OAuth token asks for a refresh": {
			mode: scmv1.AuthMode_AUTH_MODE_OAUTH_APP, status: 401,
			header: http.Header{"Www-Authenticate": {`Bearer realm="Protected by OAuth 2.0", error="invalid_token", error_description="Token is expired. You can either do re-authorization or token refresh."`}},
			body:   `{"error":"invalid_token","error_description":"Token is expired. You can either do re-authorization or token refresh."}`,
			code:   codes.Unauthenticated, reason: scmerr.ReasonTokenExpired, says: "refresh",
		},
		"401 expired OAuth token, header only": {
			mode: scmv1.AuthMode_AUTH_MODE_OAUTH_APP, status: 401,
			header: http.Header{"Www-Authenticate": {`Bearer realm="x", error="invalid_token", error_description="Token is expired."`}},
			code:   codes.Unauthenticated, reason: scmerr.ReasonTokenExpired, says: "expired",
		},
		"401 expired personal token cannot be refreshed": {
			status: 401, body: `{"error":"invalid_token","error_description":"Token is expired. You can either do re-authorization or token refresh."}`,
			code: codes.Unauthenticated, reason: scmerr.ReasonAuthFailed, says: "expired",
		},
		"401 revoked token": {
			status: 401, body: `{"error":"invalid_token","error_description":"Token was revoked. You have to re-authorize from the user."}`,
			code: codes.Unauthenticated, reason: scmerr.ReasonAuthFailed, says: "revoked",
		},
		"403 insufficient scope names the scopes": {
			status: 403, body: `{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api read_api"}`,
			code: codes.PermissionDenied, reason: scmerr.ReasonScopeMissing, metadata: map[string]string{"missing_scopes": "api|read_api"}, says: "api or read_api",
		},
		"403 forbidden is a role problem": {
			status: 403, body: `{"message":"403 Forbidden"}`,
			code: codes.PermissionDenied, reason: scmerr.ReasonRoleMissing, says: "role",
		},
		"404": {
			status: 404, body: `{"message":"404 Project Not Found"}`,
			code: codes.NotFound, reason: scmerr.ReasonNotFound, says: "not found",
		},
		"429 carries RetryInfo": {
			status: 429, header: http.Header{"Retry-After": {"42"}, "Content-Type": {"text/plain"}}, body: "Retry later\n",
			code: codes.ResourceExhausted, reason: scmerr.ReasonRateLimited, says: "retry in 42s",
		},
		"500 JSON": {
			status: 500, body: `{"message":"500 Internal Server Error"}`,
			code: codes.Unavailable, reason: scmerr.ReasonUnreachable, says: "500 Internal Server Error",
		},
		"502 HTML page is not quoted": {
			status: 502, header: http.Header{"Content-Type": {"text/html"}}, body: "<html><body><h1>502 Bad Gateway</h1></body></html>",
			code: codes.Unavailable, reason: scmerr.ReasonUnreachable, says: "502 Bad Gateway; try again",
		},
		"302 redirect is a wrong host URL": {
			status: 302, header: http.Header{"Location": {"https://sso.example.com/login?token=abc"}},
			code: codes.InvalidArgument, reason: scmerr.ReasonInvalidInput, says: "redirects (HTTP 302 to https://sso.example.com)",
		},
		"400 validation errors are quoted": {
			status: 400, body: `{"message":{"url":["is blocked: Requests to localhost are not allowed"]}}`,
			code: codes.FailedPrecondition, reason: scmerr.ReasonProviderAPIError, says: "url is blocked: Requests to localhost are not allowed",
		},
		"405 keyset refusal": {
			status: 405, body: `{"error":"Keyset pagination is not yet available for this type of request"}`,
			code: codes.FailedPrecondition, reason: scmerr.ReasonProviderAPIError, says: "Keyset pagination",
		},
		"an echoed token is redacted": {
			status: 422, body: `{"message":"token glpat-SECRETSECRETSECRET is not allowed"}`,
			code: codes.FailedPrecondition, reason: scmerr.ReasonProviderAPIError, says: "[redacted]",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := testConnection(tc.mode)
			err := c.failure(context.Background(), "read the current user", nil, apiErr(tc.status, tc.header, tc.body))
			d := scmerr.Parse(err)
			if d.Code != tc.code || d.Reason != tc.reason {
				t.Fatalf("got %v / %s, want %v / %s (%s)", d.Code, d.Reason, tc.code, tc.reason, d.Message)
			}
			if !strings.Contains(d.Message, tc.says) {
				t.Fatalf("message %q does not say %q", d.Message, tc.says)
			}
			if !strings.Contains(d.Message, "gitlab.example.com") {
				t.Fatalf("message %q does not name the host", d.Message)
			}
			for k, v := range tc.metadata {
				if d.Metadata[k] != v {
					t.Fatalf("metadata[%s] = %q, want %q", k, d.Metadata[k], v)
				}
			}
			if tc.code == codes.ResourceExhausted && d.RetryAfter != 42*time.Second {
				t.Fatalf("RetryInfo = %s, want 42s", d.RetryAfter)
			}
			if tc.code == codes.InvalidArgument && (len(d.Fields) != 1 || d.Fields[0].Field != fieldHostURL) {
				t.Fatalf("fields = %v, want %s", d.Fields, fieldHostURL)
			}
			assertNoSecret(t, err.Error(), testToken, "refresh-SECRET-TOKEN", "token=abc")
		})
	}
}

func TestNotFoundFromClientGo(t *testing.T) {
	t.Parallel()
	// client-go answers 404 with its ErrNotFound sentinel and the response.
	resp := &gl.Response{Response: &http.Response{StatusCode: 404, Header: http.Header{}}}
	err := testConnection(0).failure(context.Background(), "get project 7", resp, gl.ErrNotFound)
	if d := scmerr.Parse(err); d.Code != codes.NotFound || d.Reason != scmerr.ReasonNotFound {
		t.Fatalf("got %v", err)
	}
	if statusOf(resp, gl.ErrNotFound) != 404 {
		t.Fatal("statusOf does not see the 404")
	}
}

func TestTransportFailureMapping(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error {
		return &url.Error{Op: "Get", URL: "https://gitlab.example.com/api/v4/user?private_token=" + testToken, Err: err}
	}
	tests := map[string]struct {
		err  error
		code codes.Code
		says string
	}{
		"refused": {
			wrap(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}),
			codes.Unavailable, "connection refused",
		},
		"no such host": {
			wrap(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "gitlab.example.com", IsNotFound: true}}),
			codes.Unavailable, "does not resolve",
		},
		"unknown CA": {
			wrap(x509.UnknownAuthorityError{}),
			codes.Unavailable, "certificate is signed by an unknown authority",
		},
		"timeout": {
			wrap(os.ErrDeadlineExceeded),
			codes.Unavailable, "no answer within 15s",
		},
		"not JSON": {
			fmt.Errorf("decode: %w", &json.SyntaxError{Offset: 1}),
			codes.FailedPrecondition, "not GitLab's API",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := testConnection(0).failure(context.Background(), "read the current user", nil, tc.err)
			d := scmerr.Parse(err)
			if d.Code != tc.code {
				t.Fatalf("code = %v, want %v (%s)", d.Code, tc.code, d.Message)
			}
			if tc.code == codes.Unavailable && d.Reason != scmerr.ReasonUnreachable {
				t.Fatalf("reason = %s", d.Reason)
			}
			if !strings.Contains(d.Message, tc.says) || !strings.Contains(d.Message, "https://gitlab.example.com") {
				t.Fatalf("message %q does not say %q and name the host", d.Message, tc.says)
			}
			assertNoSecret(t, d.Message, testToken)
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d := scmerr.Parse(testConnection(0).failure(ctx, "list projects", nil, context.Canceled)); d.Code != codes.Canceled {
		t.Fatalf("cancelled call: %v", d.Code)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if d := scmerr.Parse(testConnection(0).failure(ctx, "list projects", nil, context.DeadlineExceeded)); d.Code != codes.DeadlineExceeded {
		t.Fatalf("expired deadline: %v", d.Code)
	}
}

func assertNoSecret(t *testing.T, s string, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(s, secret) {
			t.Fatalf("%q leaks a secret", s)
		}
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 400)
	got := clip(long, 301)
	if len(got) > 301+len("…") || !strings.HasSuffix(got, "…") {
		t.Fatalf("clip gave %d bytes", len(got))
	}
	if strings.ContainsRune(strings.TrimSuffix(got, "…"), '\uFFFD') {
		t.Fatal("clip split a rune")
	}
	if clip("a\n  b\tc", 100) != "a b c" {
		t.Fatal("clip keeps line breaks")
	}
}
