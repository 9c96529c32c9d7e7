package gitlabsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
)

// GitLab's answers to a token it cannot use, from lib/api/api_guard.rb: a
// token GitLab has no record of gets Grape's "401 Unauthorized"; an expired
// or revoked one (personal or OAuth) gets rack-oauth2's invalid_token with
// these descriptions and a WWW-Authenticate header.
const (
	expiredTokenDescription = "Token is expired. You can either do re-authorization or token refresh."
	revokedTokenDescription = "Token was revoked. You have to re-authorize from the user."
	insufficientScopeText   = "The request requires higher privileges than provided by the access token."
)

// principal is who a request acts as. userID 0 means anonymous.
type principal struct {
	userID int64
	scopes []string
	pat    *patRecord
	grant  *oauthGrant
}

func (p principal) anonymous() bool { return p.userID == 0 }

func (p principal) hasAnyScope(allowed ...string) bool {
	for _, s := range p.scopes {
		if slices.Contains(allowed, s) {
			return true
		}
	}
	return false
}

// tokenProblem says why a presented token cannot be used.
type tokenProblem int

const (
	tokenOK tokenProblem = iota
	tokenUnknown
	tokenExpired
	tokenRevoked
)

// apiToken finds the token of an API request the way GitLab does: an OAuth
// token from "Authorization: Bearer" or ?access_token=, else a personal
// access token from ?private_token=, the PRIVATE-TOKEN header or a Bearer
// header (GitLab accepts personal tokens in OAuth-style headers too).
func apiToken(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	q := r.URL.Query()
	if t := q.Get("access_token"); t != "" {
		return t
	}
	if t := q.Get("private_token"); t != "" {
		return t
	}
	return r.Header.Get("Private-Token")
}

// authenticate resolves the request's token. A present but unusable token
// is always answered with 401; a missing one only when required is true.
// It reports false when it has answered.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, required bool) (principal, bool) {
	token := apiToken(r)
	if token == "" {
		if required {
			unauthorized(w)
			return principal{}, false
		}
		return principal{}, true
	}
	s.mu.Lock()
	p, problem := s.resolveTokenLocked(token, true)
	s.mu.Unlock()
	switch problem {
	case tokenOK:
		return p, true
	case tokenExpired:
		invalidToken(w, expiredTokenDescription)
	case tokenRevoked:
		invalidToken(w, revokedTokenDescription)
	default:
		unauthorized(w)
	}
	return principal{}, false
}

// resolveTokenLocked looks a token up among OAuth access tokens and personal
// access tokens. touch records the use (last_used_at). s.mu must be held
// (for writing when touch is true).
func (s *Server) resolveTokenLocked(token string, touch bool) (principal, tokenProblem) {
	now := s.nowLocked()
	if g, ok := s.state.oauth.byAccess[token]; ok {
		switch {
		case g.revoked:
			return principal{}, tokenRevoked
		case !now.Before(g.expiresAt()):
			return principal{}, tokenExpired
		}
		if _, ok := s.state.users[g.userID]; !ok {
			return principal{}, tokenUnknown
		}
		return principal{userID: g.userID, scopes: g.scopes, grant: g}, tokenOK
	}
	if t, ok := s.state.pats[token]; ok {
		switch {
		case t.revoked:
			return principal{}, tokenRevoked
		case t.expiredAt(now):
			return principal{}, tokenExpired
		}
		if touch {
			used := now
			t.lastUsedAt = &used
		}
		return principal{userID: t.userID, scopes: t.scopes, pat: t}, tokenOK
	}
	return principal{}, tokenUnknown
}

// requireScope answers 403 insufficient_scope unless the principal's token
// carries one of the allowed scopes. It reports false when it has answered.
func (s *Server) requireScope(w http.ResponseWriter, p principal, allowed ...string) bool {
	if p.hasAnyScope(allowed...) {
		return true
	}
	writeJSON(w, http.StatusForbidden, map[string]string{
		"error":             "insufficient_scope",
		"error_description": insufficientScopeText,
		"scope":             strings.Join(allowed, " "),
	})
	return false
}

// requireAPIScope applies GitLab's API scope rule: reads need read_api or
// api, writes need api.
func (s *Server) requireAPIScope(w http.ResponseWriter, r *http.Request, p principal) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return s.requireScope(w, p, "api", "read_api")
	}
	return s.requireScope(w, p, "api")
}

// unauthorized is GitLab's answer to a missing or unknown token.
func unauthorized(w http.ResponseWriter) {
	apiMessage(w, http.StatusUnauthorized, "401 Unauthorized")
}

// invalidToken is rack-oauth2's Bearer 401 as GitLab renders it.
func invalidToken(w http.ResponseWriter, description string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="Protected by OAuth 2.0", error="invalid_token", error_description="`+description+`"`)
	writeJSON(w, http.StatusUnauthorized, map[string]string{
		"error":             "invalid_token",
		"error_description": description,
	})
}

// randomString returns n random bytes, URL-safe base64 encoded.
func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("gitlabsim: crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// randomHex returns n random bytes, hex encoded (Doorkeeper's token style).
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("gitlabsim: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}
