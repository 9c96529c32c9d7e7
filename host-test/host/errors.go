package host

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// Oore's error codes. Provider-specific ones are "<provider>_" + a suffix
// below (gitlab_auth_failed, ...).
const (
	codeInvalidInput       = "invalid_input"
	codeInvalidRedirectURL = "invalid_redirect_url"
	codeMissingToken       = "missing_token"
	codeInvalidToken       = "invalid_token"
	codeForbidden          = "forbidden"
	codeNotFound           = "not_found"
	codePayloadTooLarge    = "payload_too_large"
	codePluginUnavailable  = "plugin_unavailable"
	codeActiveBuilds       = "integration_has_active_builds"
	codeStaleDelivery      = "stale_delivery"
	codeInternal           = "internal_error"
	// codeCredentialsNotSaved: refreshed OAuth tokens wait for the database (503, retried).
	codeCredentialsNotSaved  = "credentials_not_saved"
	suffixAuthFailed         = "_auth_failed"
	suffixAPIError           = "_api_error"
	suffixUnreachable        = "_unreachable"
	suffixReconnectRequired  = "_reconnect_required"
	suffixScopeMissing       = "_scope_missing"
	suffixAccountMismatch    = "_account_mismatch"
	suffixRoleMissing        = "_role_missing"
	suffixRateLimited        = "_rate_limited"
	suffixNotFound           = "_not_found"
	suffixUnsupported        = "_unsupported"
	suffixHookURLRefused     = "_hook_url_refused"
	suffixInvalidTransition  = "_invalid_transition"
	suffixNotPersonalToken   = "_not_personal_token"
	suffixOAuthNotConfigured = "_oauth_not_configured"
)

// apiError is an answer in Oore's error shape {error, code, details}.
type apiError struct {
	Status  int
	Code    string
	Message string
	// Details is shown as "details" (null when empty): the fields at fault,
	// the missing scopes.
	Details string
	// Fields are the request fields at fault (added by the reference host:
	// "fields": [{field, description}]).
	Fields []scmerr.FieldViolation
	// RetryAfter adds a Retry-After header.
	RetryAfter time.Duration
	// cause is logged, never shown.
	cause error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Code, e.Message, e.cause)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

func (e *apiError) Unwrap() error { return e.cause }

func newError(status int, code, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

// fieldError is a 400 invalid_input naming the field.
func fieldError(field, problem string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: codeInvalidInput, Message: field + ": " + problem, Details: field,
		Fields: []scmerr.FieldViolation{{Field: field, Description: problem}}}
}

func notFoundError(what, id string) *apiError {
	return newError(http.StatusNotFound, codeNotFound, fmt.Sprintf("%s %q not found", what, id))
}

func internalError(op string, err error) *apiError {
	return &apiError{Status: http.StatusInternalServerError, Code: codeInternal, Message: "internal error while trying to " + op + "; see the host's log", cause: err}
}

// errorBody is the JSON of an error answer.
type errorBody struct {
	Error   string  `json:"error"`
	Code    string  `json:"code"`
	Details *string `json:"details"`
	// Fields is added by the reference host for invalid input.
	Fields []fieldView `json:"fields,omitempty"`
}

type fieldView struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

func (e *apiError) body() errorBody {
	b := errorBody{Error: e.Message, Code: e.Code}
	if e.Details != "" {
		d := e.Details
		b.Details = &d
	}
	for _, f := range e.Fields {
		b.Fields = append(b.Fields, fieldView{Field: f.Field, Description: f.Description})
	}
	return b
}

// asAPIError turns any error into an answer: an *apiError as is, anything
// else a 500 whose cause is logged.
func asAPIError(op string, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return internalError(op, err)
}

// pluginError maps an scm.v1 error from a provider plugin onto Oore's codes,
// provider-prefixed: an AUTH_FAILED from the gitlab plugin is 400
// gitlab_auth_failed. The plugin's message is shown: the contract keeps
// secrets out of it.
func pluginError(provider string, err error) *apiError {
	d := scmerr.Parse(err)
	msg := d.Message
	if msg == "" {
		msg = fmt.Sprintf("the %s plugin failed", provider)
	}
	e := &apiError{Message: msg, cause: err}
	set := func(status int, code string) *apiError {
		e.Status, e.Code = status, code
		return e
	}
	switch d.Reason {
	case scmerr.ReasonInvalidInput, scmerr.ReasonPayloadInvalid:
		e.Details = strings.Join(d.FieldNames(), ", ")
		e.Fields = d.Fields
		return set(http.StatusBadRequest, codeInvalidInput)
	case scmerr.ReasonAuthFailed, scmerr.ReasonTokenExpired, scmerr.ReasonInvalidClient, scmerr.ReasonInvalidGrant:
		return set(http.StatusBadRequest, provider+suffixAuthFailed)
	case scmerr.ReasonScopeMissing:
		if s := d.Metadata["missing_scopes"]; s != "" {
			e.Details = "missing scopes: " + s
		}
		return set(http.StatusBadRequest, provider+suffixScopeMissing)
	case scmerr.ReasonRoleMissing:
		if s := d.Metadata["required_role"]; s != "" {
			e.Details = "required role: " + s
		}
		return set(http.StatusBadRequest, provider+suffixRoleMissing)
	case scmerr.ReasonUnreachable:
		return set(http.StatusBadGateway, provider+suffixUnreachable)
	case scmerr.ReasonRateLimited:
		e.RetryAfter = d.RetryAfter
		return set(http.StatusTooManyRequests, provider+suffixRateLimited)
	case scmerr.ReasonNotFound:
		return set(http.StatusNotFound, provider+suffixNotFound)
	case scmerr.ReasonProviderAPIError, scmerr.ReasonInternal:
		return set(http.StatusBadGateway, provider+suffixAPIError)
	case scmerr.ReasonHookURLRefused:
		return set(http.StatusBadRequest, provider+suffixHookURLRefused)
	case scmerr.ReasonInvalidTransition:
		return set(http.StatusConflict, provider+suffixInvalidTransition)
	case scmerr.ReasonUnimplemented:
		return set(http.StatusNotImplemented, provider+suffixUnsupported)
	case scmerr.ReasonPluginUnavailable:
		return set(http.StatusServiceUnavailable, codePluginUnavailable)
	case scmerr.ReasonSignatureInvalid, scmerr.ReasonRepositoryMismatch:
		return set(http.StatusUnauthorized, codeInvalidToken)
	}
	switch d.Code {
	case codes.InvalidArgument:
		e.Details = strings.Join(d.FieldNames(), ", ")
		return set(http.StatusBadRequest, codeInvalidInput)
	case codes.Unauthenticated:
		return set(http.StatusBadRequest, provider+suffixAuthFailed)
	case codes.PermissionDenied:
		return set(http.StatusBadRequest, provider+suffixScopeMissing)
	case codes.NotFound:
		return set(http.StatusNotFound, provider+suffixNotFound)
	case codes.Unimplemented:
		return set(http.StatusNotImplemented, provider+suffixUnsupported)
	case codes.DeadlineExceeded:
		return set(http.StatusGatewayTimeout, provider+suffixUnreachable)
	case codes.ResourceExhausted:
		e.RetryAfter = d.RetryAfter
		return set(http.StatusTooManyRequests, provider+suffixRateLimited)
	case codes.Unavailable, codes.Canceled:
		// The plugin process went away mid-call (killed, restarting).
		e.Message = fmt.Sprintf("the %s plugin is unavailable; retry shortly", provider)
		return set(http.StatusServiceUnavailable, codePluginUnavailable)
	}
	return set(http.StatusBadGateway, provider+suffixAPIError)
}

func retryAfterHeader(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}
