package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// apiError is an API answer other than 2xx: Oore's {error, code, details}
// plus, when the host sends them, the fields the error concerns.
type apiError struct {
	Status  int
	Code    string
	Message string
	Details string
	Fields  []fieldViolation
}

// fieldViolation names one bad input, as the host reports it.
type fieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("host API answered %d %s", e.Status, e.Code)
}

// decodeAPIError reads an error answer. A body that is not Oore's error shape
// still gives an error with the status.
func decodeAPIError(res apiResult) *apiError {
	var body struct {
		Error      string           `json:"error"`
		Code       string           `json:"code"`
		Details    json.RawMessage  `json:"details"`
		Fields     []fieldViolation `json:"fields"`
		Violations []fieldViolation `json:"field_violations"`
	}
	e := &apiError{Status: res.Status}
	if json.Unmarshal(res.Body, &body) == nil {
		e.Code, e.Message = body.Code, body.Error
		e.Fields = append(body.Fields, body.Violations...)
		// details is a string in Oore's contract; a host may send an object.
		var s string
		if json.Unmarshal(body.Details, &s) == nil {
			e.Details = s
		} else if len(body.Details) > 0 && string(body.Details) != "null" {
			var obj struct {
				Fields []fieldViolation `json:"fields"`
			}
			if json.Unmarshal(body.Details, &obj) == nil {
				e.Fields = append(e.Fields, obj.Fields...)
			}
		}
	}
	if e.Code == "" {
		e.Code = strings.ToLower(strings.ReplaceAll(http.StatusText(res.Status), " ", "_"))
	}
	if e.Message == "" {
		e.Message = http.StatusText(res.Status)
	}
	return e
}

// asAPIError unwraps err into an *apiError, or wraps a transport failure
// as a 500 so pages can show it the same way.
func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return &apiError{Status: http.StatusInternalServerError, Code: "ui_error", Message: "The host could not answer: " + err.Error()}
}

// isSessionError says the API refused the signed-in token itself: the
// person must sign in again.
func (e *apiError) isSessionError() bool {
	return e.Status == http.StatusUnauthorized && (e.Code == "missing_token" || e.Code == "invalid_token" || e.Code == "unauthorized" || e.Code == "")
}

// codeIs matches a code with or without a provider prefix: "auth_failed"
// matches "gitlab_auth_failed" and "auth_failed".
func (e *apiError) codeIs(suffixes ...string) bool {
	for _, s := range suffixes {
		if e.Code == s || strings.HasSuffix(e.Code, "_"+s) {
			return true
		}
	}
	return false
}

// text is what a person reads: the API's own message, then what to do.
func (e *apiError) text() string {
	msg := sentence(e.Message)
	if e.Details != "" && !strings.Contains(msg, e.Details) {
		msg = strings.TrimRight(msg, ".") + ": " + e.Details
	}
	if h := e.hint(); h != "" {
		msg = strings.TrimRight(msg, ".") + ". " + h
	}
	return msg
}

// hint says what to do about an error, in the provider-neutral words of
// Oore's codes.
func (e *apiError) hint() string {
	switch {
	case e.codeIs("scope_missing"):
		return "Create a new token with the scopes listed under the field, or add them to this one, and try again."
	case e.codeIs("auth_failed", "token_expired", "token_rejected"):
		return "Check that you pasted the whole token and that it is not revoked or expired."
	case e.codeIs("account_mismatch"):
		return "Use a token of the same account this integration was connected with, or connect a new integration."
	case e.codeIs("unreachable"):
		return "Check the address, and that this server can reach it."
	case e.codeIs("reconnect_required"):
		return "Connect the integration again to grant access."
	case e.codeIs("rate_limited"):
		return "Wait a minute and try again."
	case e.codeIs("invalid_client"):
		return "Check the Application ID and Secret against the application you registered."
	case e.codeIs("hook_url_refused"):
		return "The SCM host refused the webhook address: it must be reachable from there (a self-managed host may need local requests allowed)."
	case e.codeIs("unsupported"):
		return "This provider does not offer that."
	case e.codeIs("plugin_unavailable"):
		return "The provider plugin is restarting; try again in a few seconds."
	case e.codeIs("integration_has_active_builds"):
		return "Wait for its builds to finish, then delete it."
	case e.Status == http.StatusForbidden:
		return "Your API token's role may only read integrations; sign in with an owner or admin token to change them."
	case e.Status == http.StatusNotFound:
		return "It may have been deleted; reload the list."
	case e.Status >= 500:
		return "Try again; if it keeps failing, look at the host's log."
	}
	return ""
}

// formErrors are API errors placed next to the fields they concern.
type formErrors struct {
	// Fields maps a form field's name to its message.
	Fields map[string]string
	// General is a message that concerns no single field.
	General string
}

// placeError attaches e to the field it concerns among fields, else to the
// form. Reported field violations win; then the code says which kind of
// field (the secret for auth errors, the address for unreachable hosts);
// then a field named in the message.
func placeError(e *apiError, fields []formField) formErrors {
	out := formErrors{Fields: map[string]string{}}
	for _, v := range e.Fields {
		if f, ok := matchField(v.Field, fields); ok {
			desc := v.Description
			if desc == "" {
				desc = e.Message
			}
			out.Fields[f] = sentence(desc)
		}
	}
	if len(out.Fields) > 0 {
		if len(out.Fields) < len(e.Fields) {
			out.General = e.text()
		}
		return out
	}
	if f := fieldForCode(e, fields); f != "" {
		out.Fields[f] = e.text()
		return out
	}
	low := strings.ToLower(e.Message + " " + e.Details)
	for _, f := range fields {
		if strings.Contains(low, f.Name) {
			out.Fields[f.Name] = e.text()
			return out
		}
	}
	out.General = e.text()
	return out
}

// matchField maps a reported field path ("connection.host_url",
// "credentials.access_token", "host_url") to a form field name.
func matchField(path string, fields []formField) (string, bool) {
	last := path
	if i := strings.LastIndexAny(path, ".]"); i >= 0 {
		last = path[i+1:]
	}
	for _, f := range fields {
		if f.Name == path || f.Name == last {
			return f.Name, true
		}
	}
	return "", false
}

// fieldForCode picks the field an error code is about.
func fieldForCode(e *apiError, fields []formField) string {
	pick := func(match func(formField) bool) string {
		for _, f := range fields {
			if match(f) {
				return f.Name
			}
		}
		return ""
	}
	switch {
	case e.codeIs("auth_failed", "token_expired", "token_rejected", "scope_missing", "account_mismatch"):
		return pick(func(f formField) bool { return f.Secret })
	case e.codeIs("invalid_client"):
		return pick(func(f formField) bool { return f.Secret })
	case e.codeIs("unreachable", "invalid_host_url", "invalid_url"):
		return pick(func(f formField) bool { return f.Kind == "url" })
	}
	return ""
}

// sentence capitalises the first letter and ends with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") {
		s += "."
	}
	return s
}
