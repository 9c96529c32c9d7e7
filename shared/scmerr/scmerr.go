// Package scmerr is the error model of the scm.v1 contract.
//
// A provider answers every failure with a gRPC status whose code means the
// same thing for every provider, plus a google.rpc.ErrorInfo whose Reason is
// one of the constants below (domain "scm.oore.build"). InvalidArgument carries
// google.rpc.BadRequest field violations; ResourceExhausted carries
// google.rpc.RetryInfo. Hosts read errors back with Parse and map the reason
// onto their own error codes (Oore: gitlab_auth_failed, gitlab_scope_missing, ...).
//
// Messages say what was wrong and what to do. They never hold a secret: build
// them from field names and provider answers, never from tokens.
package scmerr

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Domain is the ErrorInfo domain of every scm.v1 error.
const Domain = "scm.oore.build"

// Reason names a failure independently of the provider. Hosts switch on it.
type Reason string

// The reasons a provider may give. The gRPC code each is normally paired with
// is in its comment.
const (
	// InvalidArgument: a request field is missing or malformed (see Fields).
	ReasonInvalidInput Reason = "INVALID_INPUT"
	// Unauthenticated: the provider rejected the credentials (revoked, unknown).
	ReasonAuthFailed Reason = "AUTH_FAILED"
	// Unauthenticated: the credentials expired. OAuth: refresh, then retry.
	ReasonTokenExpired Reason = "TOKEN_EXPIRED"
	// PermissionDenied or FailedPrecondition: scopes are missing (metadata "missing_scopes").
	ReasonScopeMissing Reason = "SCOPE_MISSING"
	// PermissionDenied: the account's role is too low (metadata "required_role").
	ReasonRoleMissing Reason = "ROLE_MISSING"
	// Unavailable: the SCM host could not be reached or answered 5xx.
	ReasonUnreachable Reason = "UNREACHABLE"
	// ResourceExhausted: rate limited; RetryInfo says when to retry.
	ReasonRateLimited Reason = "RATE_LIMITED"
	// NotFound: the repository, hook or other resource does not exist (or is hidden).
	ReasonNotFound Reason = "NOT_FOUND"
	// Internal or FailedPrecondition: the SCM host answered something unexpected.
	ReasonProviderAPIError Reason = "PROVIDER_API_ERROR"
	// FailedPrecondition: an OAuth code or refresh token is invalid, used or expired.
	ReasonInvalidGrant Reason = "INVALID_GRANT"
	// Unauthenticated: an OAuth client id or secret was refused.
	ReasonInvalidClient Reason = "INVALID_CLIENT"
	// Unauthenticated: a webhook's token or signature does not match the secret.
	ReasonSignatureInvalid Reason = "SIGNATURE_INVALID"
	// InvalidArgument: a webhook payload does not parse.
	ReasonPayloadInvalid Reason = "PAYLOAD_INVALID"
	// PermissionDenied: a webhook payload names another repository than the one asked.
	ReasonRepositoryMismatch Reason = "REPOSITORY_MISMATCH"
	// FailedPrecondition: the SCM host refused a webhook URL (e.g. local network blocked).
	ReasonHookURLRefused Reason = "HOOK_URL_REFUSED"
	// FailedPrecondition: the SCM host refused a commit status transition.
	ReasonInvalidTransition Reason = "INVALID_TRANSITION"
	// Unimplemented: the provider does not serve this capability.
	ReasonUnimplemented Reason = "UNIMPLEMENTED"
	// Unavailable: the plugin process is down or restarting (set by hosts' launchers).
	ReasonPluginUnavailable Reason = "PLUGIN_UNAVAILABLE"
	// Internal: a bug in the provider (a recovered panic, for example).
	ReasonInternal Reason = "INTERNAL"
)

// FieldViolation names one bad request field and what is wrong with it.
type FieldViolation struct {
	Field       string
	Description string
}

// Option adds a detail to an error built by New.
type Option func(*builder)

type builder struct {
	metadata   map[string]string
	fields     []FieldViolation
	retryAfter time.Duration
}

// WithMetadata adds a key/value to the ErrorInfo (e.g. "missing_scopes": "api").
func WithMetadata(key, value string) Option {
	return func(b *builder) {
		if b.metadata == nil {
			b.metadata = map[string]string{}
		}
		b.metadata[key] = value
	}
}

// WithField adds a BadRequest field violation.
func WithField(field, description string) Option {
	return func(b *builder) { b.fields = append(b.fields, FieldViolation{field, description}) }
}

// WithRetryAfter adds RetryInfo: when the caller may try again.
func WithRetryAfter(d time.Duration) Option {
	return func(b *builder) { b.retryAfter = d }
}

// New builds a status error with an ErrorInfo reason and the given details.
func New(code codes.Code, reason Reason, msg string, opts ...Option) error {
	return Status(code, reason, msg, opts...).Err()
}

// Newf is New with a formatted message. Never format a secret into it.
func Newf(code codes.Code, reason Reason, format string, args ...any) error {
	return New(code, reason, fmt.Sprintf(format, args...))
}

// Status is New returning the *status.Status, for callers that serialize it.
func Status(code codes.Code, reason Reason, msg string, opts ...Option) *status.Status {
	var b builder
	for _, o := range opts {
		o(&b)
	}
	st := status.New(code, msg)
	details := []protoMessage{&errdetails.ErrorInfo{Reason: string(reason), Domain: Domain, Metadata: b.metadata}}
	if len(b.fields) > 0 {
		br := &errdetails.BadRequest{}
		for _, f := range b.fields {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: f.Field, Description: f.Description})
		}
		details = append(details, br)
	}
	if b.retryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(b.retryAfter)})
	}
	withDetails, err := st.WithDetails(toV1(details)...)
	if err != nil {
		// Only fails for a nil detail or an OK code; keep the plain status.
		return st
	}
	return withDetails
}

// InvalidArgument is the error for bad request fields: every violation is
// named, and the message lists them so a person can fix all at once.
func InvalidArgument(violations ...FieldViolation) error {
	if len(violations) == 0 {
		return New(codes.InvalidArgument, ReasonInvalidInput, "invalid request")
	}
	parts := make([]string, 0, len(violations))
	opts := make([]Option, 0, len(violations))
	for _, v := range violations {
		parts = append(parts, v.Field+": "+v.Description)
		opts = append(opts, WithField(v.Field, v.Description))
	}
	return New(codes.InvalidArgument, ReasonInvalidInput, "invalid request: "+strings.Join(parts, "; "), opts...)
}

// Unimplemented is the answer for a capability the provider does not serve.
func Unimplemented(rpc string) error {
	return Newf(codes.Unimplemented, ReasonUnimplemented, "%s is not implemented by this provider", rpc)
}

// Details is an scm.v1 error read back on the host side.
type Details struct {
	Code       codes.Code
	Reason     Reason
	Message    string
	Metadata   map[string]string
	Fields     []FieldViolation
	RetryAfter time.Duration
}

// Parse reads a gRPC error into Details. A nil error gives Code OK. An error
// that is not a status (a transport failure seen outside gRPC) is Unknown
// with its text as the message.
func Parse(err error) Details {
	if err == nil {
		return Details{Code: codes.OK}
	}
	st, ok := status.FromError(err)
	if !ok {
		return Details{Code: codes.Unknown, Message: err.Error()}
	}
	return FromStatus(st)
}

// FromStatus is Parse for a status already at hand.
func FromStatus(st *status.Status) Details {
	d := Details{Code: st.Code(), Message: st.Message()}
	for _, det := range st.Details() {
		switch v := det.(type) {
		case *errdetails.ErrorInfo:
			if v.GetDomain() == Domain || d.Reason == "" {
				d.Reason = Reason(v.GetReason())
				d.Metadata = v.GetMetadata()
			}
		case *errdetails.BadRequest:
			for _, f := range v.GetFieldViolations() {
				d.Fields = append(d.Fields, FieldViolation{Field: f.GetField(), Description: f.GetDescription()})
			}
		case *errdetails.RetryInfo:
			d.RetryAfter = v.GetRetryDelay().AsDuration()
		}
	}
	return d
}

// ReasonOf is the ErrorInfo reason of err, or "" when it has none.
func ReasonOf(err error) Reason { return Parse(err).Reason }

// CodeOf is the gRPC code of err (OK for nil).
func CodeOf(err error) codes.Code { return Parse(err).Code }

// FieldNames lists the violated fields, sorted, for messages and tests.
func (d Details) FieldNames() []string {
	names := make([]string, 0, len(d.Fields))
	for _, f := range d.Fields {
		names = append(names, f.Field)
	}
	sort.Strings(names)
	return names
}

// Is reports whether err is an scm.v1 error with this reason.
func Is(err error, reason Reason) bool {
	if err == nil {
		return false
	}
	var withStatus interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &withStatus) {
		return false
	}
	return FromStatus(withStatus.GRPCStatus()).Reason == reason
}
