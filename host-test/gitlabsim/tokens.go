package gitlabsim

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// PersonalAccessToken describes a personal access token of the simulator,
// as GET /api/v4/personal_access_tokens/self shows it. Values are snapshots.
type PersonalAccessToken struct {
	// ID is the token's numeric ID.
	ID int64
	// UserID is the owner.
	UserID int64
	// Name is the token's name.
	Name string
	// Scopes are the granted scopes, for example ["api", "read_repository"].
	Scopes []string
	// ExpiresAt is the expiry date (00:00 UTC of that day), or nil for a
	// token that never expires.
	ExpiresAt *time.Time
	// Revoked is true once the token is revoked.
	Revoked bool
	// CreatedAt is when the token was added.
	CreatedAt time.Time
	// LastUsedAt is the last time the token authenticated a request.
	LastUsedAt *time.Time
}

type patRecord struct {
	id         int64
	userID     int64
	name       string
	scopes     []string
	expiresAt  *time.Time
	revoked    bool
	createdAt  time.Time
	lastUsedAt *time.Time
}

// expiredAt applies GitLab's rule: a token expires at 00:00 UTC of its
// expiry date.
func (t *patRecord) expiredAt(now time.Time) bool {
	return t.expiresAt != nil && !now.Before(*t.expiresAt)
}

// AddPersonalAccessToken gives the user a personal access token with these
// scopes and returns the secret, "glpat-" followed by 20 random characters.
// expiresAt is a date: only its UTC year, month and day count, and the token
// stops working at 00:00 UTC of that day; nil never expires. A revoked token
// is answered like GitLab answers a revoked one. It panics when the user does
// not exist, which is a mistake in the test that seeds it.
func (s *Server) AddPersonalAccessToken(userID int64, name string, scopes []string, expiresAt *time.Time, revoked bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.state.users[userID]; !ok {
		panic(fmt.Sprintf("gitlabsim: AddPersonalAccessToken: no user %d", userID))
	}
	var expiry *time.Time
	if expiresAt != nil {
		d := expiresAt.UTC()
		day := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
		expiry = &day
	}
	token := "glpat-" + randomString(15)
	s.state.pats[token] = &patRecord{
		id:        s.state.nextTokenID,
		userID:    userID,
		name:      name,
		scopes:    slices.Clone(scopes),
		expiresAt: expiry,
		revoked:   revoked,
		createdAt: s.nowLocked(),
	}
	s.state.nextTokenID++
	return token
}

// RevokeToken revokes a personal access token, or the whole OAuth grant an
// access or refresh token belongs to. It reports whether the token existed.
func (s *Server) RevokeToken(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.state.pats[token]; ok {
		t.revoked = true
		return true
	}
	if g := s.state.oauth.grantFor(token); g != nil {
		g.revoked = true
		return true
	}
	return false
}

// PersonalAccessTokenInfo returns what the simulator knows about a personal
// access token.
func (s *Server) PersonalAccessTokenInfo(token string) (PersonalAccessToken, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.state.pats[token]
	if !ok {
		return PersonalAccessToken{}, false
	}
	return PersonalAccessToken{
		ID:         t.id,
		UserID:     t.userID,
		Name:       t.name,
		Scopes:     slices.Clone(t.scopes),
		ExpiresAt:  t.expiresAt,
		Revoked:    t.revoked,
		CreatedAt:  t.createdAt,
		LastUsedAt: t.lastUsedAt,
	}, true
}

// handleTokenSelf serves GET /api/v4/personal_access_tokens/self in the
// shape of the documented example (gitlab_doc_personal_access_token_self.json).
// Any scope may read it; revoked and expired tokens never get this far. An
// OAuth token is not a personal access token and gets 404.
func (s *Server) handleTokenSelf(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r, true)
	if !ok {
		return
	}
	if p.pat == nil {
		apiMessage(w, http.StatusNotFound, "404 Not Found")
		return
	}
	s.mu.RLock()
	t := p.pat
	m := fixtureObject("gitlab-docs/gitlab_doc_personal_access_token_self.json")
	m["id"] = t.id
	m["name"] = t.name
	m["revoked"] = t.revoked
	m["created_at"] = gitlabTime(t.createdAt)
	m["description"] = nil
	m["scopes"] = slices.Clone(t.scopes)
	m["user_id"] = t.userID
	m["last_used_at"] = nil
	if t.lastUsedAt != nil {
		m["last_used_at"] = gitlabTime(*t.lastUsedAt)
	}
	m["active"] = !t.revoked && !t.expiredAt(s.nowLocked())
	m["expires_at"] = nil
	if t.expiresAt != nil {
		m["expires_at"] = t.expiresAt.Format(time.DateOnly)
	}
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, m)
}

// handleVersion serves GET /api/v4/version.
func (s *Server) handleVersion(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r, true)
	if !ok {
		return
	}
	if !s.requireScope(w, p, "api", "read_api", "read_user") {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"version":    s.version,
		"revision":   "0000000000000",
		"kas":        map[string]any{"enabled": false, "externalUrl": nil, "externalK8sProxyUrl": nil, "version": nil},
		"enterprise": false,
	})
}
