package gitlab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"
	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// gitlabAnswer is what GitLab (or whatever answers at the host URL) said to
// a request that failed with an HTTP status.
type gitlabAnswer struct {
	status int
	header http.Header
	body   []byte
}

// answerOf extracts GitLab's answer from client-go's result: an
// *gl.ErrorResponse carries the body; gl.ErrNotFound only the response.
func answerOf(resp *gl.Response, err error) (*gitlabAnswer, bool) {
	var er *gl.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return &gitlabAnswer{status: er.Response.StatusCode, header: er.Response.Header, body: er.Body}, true
	}
	if resp != nil && resp.Response != nil && resp.StatusCode >= 300 {
		return &gitlabAnswer{status: resp.StatusCode, header: resp.Header}, true
	}
	return nil, false
}

// statusOf is the HTTP status of a failed client-go call, or 0 when no
// answer arrived.
func statusOf(resp *gl.Response, err error) int {
	if a, ok := answerOf(resp, err); ok {
		return a.status
	}
	return 0
}

// errorBody is the union of GitLab's error shapes: Grape's {"message": ...}
// (a string, or field -> messages for validation errors), {"error": ...}
// and OAuth's {"error", "error_description"} (plus "scope" on 403).
type errorBody struct {
	Message          any    `json:"message"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	Scope            string `json:"scope"`
}

// parsed reads the body as GitLab JSON; a body that is not JSON gives zero.
func (a *gitlabAnswer) parsed() errorBody {
	var b errorBody
	_ = json.Unmarshal(a.body, &b)
	return b
}

// text is GitLab's own explanation, short and single-line, or "". HTML
// pages (proxies, a host that is not GitLab) are never quoted.
func (a *gitlabAnswer) text() string {
	b := a.parsed()
	var parts []string
	switch m := b.Message.(type) {
	case string:
		parts = append(parts, m)
	case map[string]any:
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			parts = append(parts, k+" "+flatten(m[k]))
		}
	case []any:
		parts = append(parts, flatten(m))
	}
	if b.Error != "" {
		parts = append(parts, b.Error)
	}
	if b.ErrorDescription != "" {
		parts = append(parts, b.ErrorDescription)
	}
	if len(parts) == 0 && a.body != nil && !json.Valid(a.body) {
		ct := strings.ToLower(a.header.Get("Content-Type"))
		if strings.HasPrefix(ct, "text/plain") {
			parts = append(parts, string(a.body))
		}
	}
	return clip(strings.Join(parts, ": "), 300)
}

// flatten joins a JSON value's strings ("is blocked", ["a", "b"] -> "a, b").
func flatten(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		s := make([]string, 0, len(v))
		for _, e := range v {
			s = append(s, flatten(e))
		}
		return strings.Join(s, ", ")
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		s := make([]string, 0, len(v))
		for _, k := range keys {
			s = append(s, k+" "+flatten(v[k]))
		}
		return strings.Join(s, "; ")
	default:
		return fmt.Sprint(v)
	}
}

// clip makes s one line of at most n bytes (on a rune boundary).
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// statusText is "404 Not Found" and, when GitLab explained, its words.
func (a *gitlabAnswer) statusText() string {
	s := fmt.Sprintf("%d %s", a.status, http.StatusText(a.status))
	if t := a.text(); t != "" && !strings.EqualFold(t, s) {
		s += ": " + t
	}
	return s
}

// invalidToken reports GitLab's OAuth-style 401 (error="invalid_token") and
// its description, from the body or the WWW-Authenticate header.
func (a *gitlabAnswer) invalidToken() (description string, ok bool) {
	b := a.parsed()
	if b.Error == "invalid_token" {
		return b.ErrorDescription, true
	}
	h := a.header.Get("WWW-Authenticate")
	if strings.Contains(h, `error="invalid_token"`) {
		if _, d, found := strings.Cut(h, `error_description="`); found {
			d, _, _ = strings.Cut(d, `"`)
			return d, true
		}
		return "", true
	}
	return "", false
}

// insufficientScope reports GitLab's 403 insufficient_scope and the scopes
// that would do, as "api|read_api" (any one of them).
func (a *gitlabAnswer) insufficientScope() (anyOf string, ok bool) {
	b := a.parsed()
	if b.Error != "insufficient_scope" && !strings.Contains(a.header.Get("WWW-Authenticate"), "insufficient_scope") {
		return "", false
	}
	return strings.Join(strings.Fields(b.Scope), "|"), true
}

// failure maps a failed GitLab call to an scm.v1 error. op says what the
// call was for ("read the current user"); messages name it and the host,
// quote GitLab's explanation, and never hold a secret of the connection.
func (c *connection) failure(ctx context.Context, op string, resp *gl.Response, err error) error {
	if a, ok := answerOf(resp, err); ok {
		return c.answerFailure(op, a)
	}
	return c.transportFailure(ctx, op, err)
}

// answerFailure maps an HTTP answer (a status GitLab returned) to an error.
func (c *connection) answerFailure(op string, a *gitlabAnswer) error {
	where := op + " on " + c.origin
	switch {
	case a.status >= 300 && a.status < 400:
		return c.redirectFailure(a)
	case a.status == http.StatusUnauthorized:
		return c.unauthorized(where, a)
	case a.status == http.StatusForbidden:
		if anyOf, ok := a.insufficientScope(); ok {
			return scopeMissing(codes.PermissionDenied, where, anyOf)
		}
		return scmerr.New(codes.PermissionDenied, scmerr.ReasonRoleMissing,
			c.redact(fmt.Sprintf("%s: GitLab refused (%s); the account's role on this resource is too low", where, a.statusText())))
	case a.status == http.StatusNotFound:
		return scmerr.New(codes.NotFound, scmerr.ReasonNotFound,
			c.redact(fmt.Sprintf("%s: not found (or not visible to this account)", where)))
	case a.status == http.StatusTooManyRequests:
		wait := retryAfter(a.header, time.Now())
		return scmerr.New(codes.ResourceExhausted, scmerr.ReasonRateLimited,
			fmt.Sprintf("%s: GitLab is rate limiting this account; retry in %s", where, wait.Round(time.Second)),
			scmerr.WithRetryAfter(wait))
	case a.status >= 500:
		return scmerr.New(codes.Unavailable, scmerr.ReasonUnreachable,
			c.redact(fmt.Sprintf("%s: GitLab answered %s; try again later", where, a.statusText())))
	default:
		return scmerr.New(codes.FailedPrecondition, scmerr.ReasonProviderAPIError,
			c.redact(fmt.Sprintf("%s: GitLab refused the request (%s)", where, a.statusText())))
	}
}

// unauthorized maps a 401. An expired OAuth access token is TOKEN_EXPIRED
// (the host refreshes it and retries); everything else is AUTH_FAILED. The
// ErrorInfo metadata "token_state" says what GitLab reported: "expired",
// "revoked" or "rejected".
func (c *connection) unauthorized(where string, a *gitlabAnswer) error {
	desc, oauthStyle := a.invalidToken()
	lower := strings.ToLower(desc)
	switch {
	case oauthStyle && strings.Contains(lower, "expired") && c.oauth():
		return scmerr.New(codes.Unauthenticated, scmerr.ReasonTokenExpired,
			where+": the OAuth access token has expired; refresh the credentials and try again",
			scmerr.WithMetadata(metaTokenState, tokenExpired))
	case oauthStyle && strings.Contains(lower, "expired"):
		return scmerr.New(codes.Unauthenticated, scmerr.ReasonAuthFailed,
			where+": the access token has expired; create a new token in GitLab and update the connection",
			scmerr.WithMetadata(metaTokenState, tokenExpired))
	case oauthStyle && strings.Contains(lower, "revoked"):
		return scmerr.New(codes.Unauthenticated, scmerr.ReasonAuthFailed,
			where+": the access token was revoked in GitLab; connect again with a new token",
			scmerr.WithMetadata(metaTokenState, tokenRevoked))
	default:
		return scmerr.New(codes.Unauthenticated, scmerr.ReasonAuthFailed,
			where+": GitLab rejected the access token (401 Unauthorized); check that it is correct, active and for this GitLab",
			scmerr.WithMetadata(metaTokenState, tokenRejected))
	}
}

// ErrorInfo metadata of Unauthenticated errors: what GitLab said of the token.
const (
	metaTokenState = "token_state"
	tokenExpired   = "expired"
	tokenRevoked   = "revoked"
	tokenRejected  = "rejected"
)

// scopeMissing is the error for a token without the scopes an operation
// needs. anyOf is "api|read_api" style: any one of them would do.
func scopeMissing(code codes.Code, where, anyOf string) error {
	need := strings.ReplaceAll(anyOf, "|", " or ")
	if need == "" {
		need = "a broader scope"
		anyOf = ""
	}
	return scmerr.New(code, scmerr.ReasonScopeMissing,
		fmt.Sprintf("%s: the token lacks the scope %s; create a token with it (or reconnect granting it)", where, need),
		scmerr.WithMetadata("missing_scopes", anyOf))
}

// redirectFailure is the answer to a 3xx: the host URL is not GitLab's API
// origin. The redirect is never followed (it would carry the token).
func (c *connection) redirectFailure(a *gitlabAnswer) error {
	to := ""
	if loc, err := url.Parse(a.header.Get("Location")); err == nil && loc.Host != "" {
		to = " to " + loc.Scheme + "://" + loc.Host // the origin only: a Location may carry secrets
	}
	return scmerr.New(codes.InvalidArgument, scmerr.ReasonInvalidInput,
		fmt.Sprintf("%s redirects (HTTP %d%s): the host URL is probably wrong; use the address GitLab is served at", c.origin, a.status, to),
		scmerr.WithField(fieldHostURL, fmt.Sprintf("redirects (HTTP %d%s); use the address GitLab is served at", a.status, to)))
}

// transportFailure maps a call that got no HTTP answer.
func (c *connection) transportFailure(ctx context.Context, op string, err error) error {
	where := op + " on " + c.origin
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return scmerr.New(codes.DeadlineExceeded, scmerr.ReasonUnreachable, where+": GitLab did not answer before the deadline")
		}
		return scmerr.New(codes.Canceled, scmerr.ReasonUnreachable, where+": cancelled")
	}
	var uerr *url.Error
	if errors.As(err, &uerr) || isNetError(err) {
		return scmerr.New(codes.Unavailable, scmerr.ReasonUnreachable,
			c.redact(fmt.Sprintf("%s: cannot reach GitLab: %s", where, describeNetError(err))))
	}
	var jerr *json.SyntaxError
	var terr *json.UnmarshalTypeError
	var serr *jsonError
	if errors.As(err, &jerr) || errors.As(err, &terr) || errors.As(err, &serr) {
		return scmerr.New(codes.FailedPrecondition, scmerr.ReasonProviderAPIError,
			fmt.Sprintf("%s: the answer is not GitLab's API (%v); check that %s is a GitLab address", where, err, c.origin))
	}
	return scmerr.New(codes.Internal, scmerr.ReasonProviderAPIError, c.redact(fmt.Sprintf("%s: %v", where, err)))
}

// isNetError reports an error from the network stack.
func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

// describeNetError says in words why GitLab could not be reached, without
// the request URL that *url.Error adds.
func describeNetError(err error) string {
	var (
		unknownCA   x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalidCert x509.CertificateInvalidError
		verifyErr   *tls.CertificateVerificationError
		recordErr   tls.RecordHeaderError
		dnsErr      *net.DNSError
	)
	switch {
	case errors.As(err, &unknownCA):
		return "its TLS certificate is signed by an unknown authority; add GitLab's CA certificate (PEM) to the connection's TLS settings"
	case errors.As(err, &hostname):
		return "its TLS certificate is not valid for this host name (" + hostname.Error() + ")"
	case errors.As(err, &invalidCert):
		return "its TLS certificate is invalid (" + invalidCert.Error() + ")"
	case errors.As(err, &verifyErr):
		return "its TLS certificate could not be verified (" + verifyErr.Err.Error() + ")"
	case errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "it answers plain HTTP on that port, not TLS (https); check the URL's scheme and port"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "the host name does not resolve (no such host)"
		}
		return "the host name could not be resolved (" + dnsErr.Err + ")"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (is GitLab running, and is the port right?)"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to the host"
	case errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return fmt.Sprintf("no answer within %s", httpTimeout)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// redact removes the connection's secrets from a message that quotes
// GitLab or the network stack. GitLab does not echo tokens, but nothing
// that leaves the plugin may hold one.
func (c *connection) redact(msg string) string {
	return redact(msg, c.secrets()...)
}

// secrets are the connection's credentials, longest first.
func (c *connection) secrets() []string {
	if c == nil || c.creds == nil {
		return nil
	}
	return []string{c.creds.GetAccessToken(), c.creds.GetRefreshToken(), c.creds.GetOauthClient().GetClientSecret()}
}

// redact replaces every occurrence of each non-empty secret with [redacted].
func redact(msg string, secrets ...string) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return msg
}
