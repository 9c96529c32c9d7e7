package gitlabsim

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim/fixtures"
)

// User is a GitLab user account of the simulator. Values returned by the
// simulator are snapshots: changing them changes nothing.
type User struct {
	// ID is the user's numeric ID; "root" is 1.
	ID int64
	// Username is the login name, also the path of the personal namespace.
	Username string
	// Name is the display name.
	Name string
	// Email is the primary (and public) e-mail address.
	Email string
	// State is "active" (the simulator has no blocked users).
	State string
	// AvatarURL is the user's Gravatar URL, as GitLab builds it by default.
	AvatarURL string
	// WebURL is the user's profile page on the simulator.
	WebURL string
	// NamespaceID is the ID of the user's personal namespace.
	NamespaceID int64
	// IsAdmin is true for "root" only.
	IsAdmin bool
	// CreatedAt is when the account was added.
	CreatedAt time.Time
}

// AddUser adds an active user with a personal namespace named after the
// username and returns it. Adding a username that exists returns the
// existing user unchanged.
func (s *Server) AddUser(username, name string) *User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.addUserLocked(username, name)
	return s.userSnapshot(u)
}

func (s *Server) addUserLocked(username, name string) *User {
	if u, ok := s.state.usersByName[strings.ToLower(username)]; ok {
		return u
	}
	st := &s.state
	u := &User{
		ID:        st.nextUserID,
		Username:  username,
		Name:      name,
		Email:     username + "@example.com",
		State:     "active",
		IsAdmin:   st.nextUserID == 1,
		CreatedAt: s.nowLocked(),
	}
	st.nextUserID++
	ns := &namespace{
		ID:       st.nextNamespaceID,
		Name:     name,
		Path:     username,
		FullPath: username,
		Kind:     "user",
		OwnerID:  u.ID,
	}
	st.nextNamespaceID++
	u.NamespaceID = ns.ID
	st.namespaces[ns.ID] = ns
	st.nsByPath[strings.ToLower(ns.FullPath)] = ns
	st.users[u.ID] = u
	st.usersByName[strings.ToLower(username)] = u
	return u
}

// User returns the user with that ID.
func (s *Server) User(id int64) (*User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.state.users[id]
	if !ok {
		return nil, false
	}
	return s.userSnapshot(u), true
}

// UserByUsername returns the user with that username (case-insensitive).
func (s *Server) UserByUsername(username string) (*User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.state.usersByName[strings.ToLower(username)]
	if !ok {
		return nil, false
	}
	return s.userSnapshot(u), true
}

// userSnapshot copies u and fills in the URLs that depend on the base URL.
func (s *Server) userSnapshot(u *User) *User {
	c := *u
	c.AvatarURL = avatarURL(u.Email)
	c.WebURL = s.BaseURL() + "/" + u.Username
	return &c
}

// avatarURL is GitLab's default avatar for an e-mail address (Gravatar).
func avatarURL(email string) string {
	sum := md5.Sum([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "https://www.gravatar.com/avatar/" + hex.EncodeToString(sum[:]) + "?s=80&d=identicon"
}

// handleCurrentUser serves GET /api/v4/user: the token's user in the shape
// of client-go's get_user.json fixture plus the private fields GitLab adds
// for the user themselves (drone-go-scm's user.json).
func (s *Server) handleCurrentUser(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r, true)
	if !ok {
		return
	}
	if !s.requireScope(w, p, "api", "read_api", "read_user") {
		return
	}
	s.mu.RLock()
	body := s.currentUserJSON(s.state.users[p.userID])
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) currentUserJSON(u *User) map[string]any {
	m := fixtureObject("client-go-v1.46.0/api/get_user.json")
	snap := s.userSnapshot(u)
	created := gitlabTime(u.CreatedAt)
	for k, v := range map[string]any{
		"id":                 u.ID,
		"username":           u.Username,
		"name":               u.Name,
		"state":              u.State,
		"locked":             false,
		"avatar_url":         snap.AvatarURL,
		"web_url":            snap.WebURL,
		"created_at":         created,
		"bio":                "",
		"bot":                false,
		"location":           "",
		"public_email":       u.Email,
		"skype":              "",
		"linkedin":           "",
		"twitter":            "",
		"discord":            "",
		"website_url":        "",
		"organization":       "",
		"job_title":          "",
		"pronouns":           nil,
		"work_information":   nil,
		"followers":          0,
		"following":          0,
		"is_followed":        false,
		"local_time":         nil,
		"last_sign_in_at":    created,
		"confirmed_at":       created,
		"last_activity_on":   u.CreatedAt.UTC().Format(time.DateOnly),
		"email":              u.Email,
		"commit_email":       u.Email,
		"theme_id":           1,
		"color_scheme_id":    1,
		"projects_limit":     100000,
		"current_sign_in_at": created,
		"identities":         []any{},
		"can_create_group":   true,
		"can_create_project": true,
		"two_factor_enabled": false,
		"external":           false,
		"private_profile":    false,
		"namespace_id":       u.NamespaceID,
	} {
		m[k] = v
	}
	if u.IsAdmin {
		m["is_admin"] = true
	}
	return m
}

// userBasicJSON is GitLab's UserBasic entity (authors, hook users).
func (s *Server) userBasicJSON(u *User) map[string]any {
	snap := s.userSnapshot(u)
	return map[string]any{
		"id":         u.ID,
		"username":   u.Username,
		"name":       u.Name,
		"state":      u.State,
		"locked":     false,
		"avatar_url": snap.AvatarURL,
		"web_url":    snap.WebURL,
	}
}

// fixtureObject decodes one embedded JSON fixture into a fresh map, so the
// caller can change it freely.
func fixtureObject(name string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(fixtures.Read(name), &m); err != nil {
		panic(fmt.Sprintf("gitlabsim: fixture %s: %v", name, err))
	}
	return m
}
