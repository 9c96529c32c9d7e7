package gitlabsim_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
)

const (
	unauthorizedBody = `{"message":"401 Unauthorized"}`
	expiredBody      = `{"error":"invalid_token","error_description":"Token is expired. You can either do re-authorization or token refresh."}`
	revokedBody      = `{"error":"invalid_token","error_description":"Token was revoked. You have to re-authorize from the user."}`
)

func TestEveryAnswerIsLabelledAsTheSimulator(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	for _, path := range []string{"/api/v4/user", "/api/v4/nope", "/oauth/token/info", "/nope", "/-/sim/state"} {
		a := get(t, s, path, d.Token)
		if got := a.header.Get("X-Simulator"); got != "oore-gitlab-sim" {
			t.Errorf("%s: X-Simulator = %q", path, got)
		}
	}
	wantBody(t, get(t, s, "/api/v4/nope", d.Token), http.StatusNotFound, `{"error":"404 Not Found"}`)
}

func TestTokenIsReadFromEveryPlaceGitLabReadsIt(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	cases := map[string]answer{
		"PRIVATE-TOKEN":  do(t, s, "GET", "/api/v4/user", "", "", "PRIVATE-TOKEN", d.Token),
		"Bearer PAT":     do(t, s, "GET", "/api/v4/user", "", "", "Authorization", "Bearer "+d.Token),
		"private_token":  get(t, s, "/api/v4/user?private_token="+d.Token, ""),
		"access_token":   get(t, s, "/api/v4/user?access_token="+d.Token, ""),
		"lower-case hdr": do(t, s, "GET", "/api/v4/user", "", "", "private-token", d.Token),
	}
	for name, a := range cases {
		var u struct {
			ID       int64  `json:"id"`
			Username string `json:"username"`
		}
		if a.status != http.StatusOK {
			t.Errorf("%s: status %d %s", name, a.status, a.body)
			continue
		}
		a.json(t, &u)
		if u.ID != d.User.ID || u.Username != "demo" {
			t.Errorf("%s: user %+v", name, u)
		}
	}
}

func TestUnusableTokensGetGitLabs401Bodies(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	past := s.Now().AddDate(0, 0, -1)
	expired := s.AddPersonalAccessToken(d.User.ID, "old", []string{"api"}, &past, false)
	revoked := s.AddPersonalAccessToken(d.User.ID, "gone", []string{"api"}, nil, true)
	later := s.AddPersonalAccessToken(d.User.ID, "later", []string{"api"}, nil, false)
	if !s.RevokeToken(later) {
		t.Fatal("RevokeToken did not find the token")
	}

	wantBody(t, get(t, s, "/api/v4/user", ""), 401, unauthorizedBody)
	wantBody(t, get(t, s, "/api/v4/user", "glpat-doesnotexist000000"), 401, unauthorizedBody)
	wantBody(t, get(t, s, "/api/v4/personal_access_tokens/self", "glpat-doesnotexist000000"), 401, unauthorizedBody)
	a := get(t, s, "/api/v4/user", expired)
	wantBody(t, a, 401, expiredBody)
	if got := a.header.Get("WWW-Authenticate"); got != `Bearer realm="Protected by OAuth 2.0", error="invalid_token", error_description="Token is expired. You can either do re-authorization or token refresh."` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	wantBody(t, get(t, s, "/api/v4/personal_access_tokens/self", revoked), 401, revokedBody)
	wantBody(t, get(t, s, "/api/v4/user", later), 401, revokedBody)
}

func TestScopesFollowGitLabsRules(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	readUser := s.AddPersonalAccessToken(d.User.ID, "ru", []string{"read_user"}, nil, false)
	repoOnly := s.AddPersonalAccessToken(d.User.ID, "rr", []string{"read_repository"}, nil, false)

	if a := get(t, s, "/api/v4/user", readUser); a.status != 200 {
		t.Errorf("read_user on GET /user: %d %s", a.status, a.body)
	}
	wantBody(t, get(t, s, "/api/v4/user", repoOnly), 403,
		`{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api read_api read_user"}`)
	wantBody(t, get(t, s, "/api/v4/projects", readUser), 403,
		`{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api read_api"}`)
	if a := get(t, s, "/api/v4/projects", d.ReadOnlyToken); a.status != 200 {
		t.Errorf("read_api on GET /projects: %d %s", a.status, a.body)
	}
	path := "/api/v4/projects/" + itoa(d.FlutterApp.ID) + "/hooks"
	wantBody(t, do(t, s, "POST", path, d.ReadOnlyToken, `{"url":"http://127.0.0.1:9/hook"}`), 403,
		`{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api"}`)
	if a := do(t, s, "POST", path, d.Token, `{"url":"http://127.0.0.1:9/hook"}`); a.status != 201 {
		t.Errorf("api scope POST hooks: %d %s", a.status, a.body)
	}
}

func TestPersonalAccessTokenSelf(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	a := get(t, s, "/api/v4/personal_access_tokens/self", d.Token)
	var self map[string]any
	a.json(t, &self)
	want := s.Now().AddDate(1, 0, 0).UTC().Format(time.DateOnly)
	if self["name"] != "oore-demo" || self["active"] != true || self["revoked"] != false ||
		self["expires_at"] != want || self["user_id"] != float64(d.User.ID) {
		t.Fatalf("self = %v", self)
	}
	scopes, _ := self["scopes"].([]any)
	if len(scopes) != 2 || scopes[0] != "api" || scopes[1] != "read_repository" {
		t.Errorf("scopes = %v", self["scopes"])
	}
	for _, k := range []string{"id", "created_at", "description", "last_used_at"} {
		if _, ok := self[k]; !ok {
			t.Errorf("field %s missing", k)
		}
	}
	if self["last_used_at"] == nil {
		t.Error("last_used_at not recorded")
	}

	never := s.AddPersonalAccessToken(d.User.ID, "never", []string{"read_api"}, nil, false)
	var n map[string]any
	get(t, s, "/api/v4/personal_access_tokens/self", never).json(t, &n)
	if n["expires_at"] != nil {
		t.Errorf("expires_at = %v, want null", n["expires_at"])
	}
}

func TestPersonalAccessTokenExpiresAtMidnightUTCOfItsDate(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	s := gitlabsim.NewTestServer(t, gitlabsim.Options{Now: func() time.Time { return start }})
	u := s.AddUser("ann", "Ann")
	expiry := time.Date(2026, 3, 11, 23, 59, 0, 0, time.UTC) // only the date counts
	tok := s.AddPersonalAccessToken(u.ID, "t", []string{"api"}, &expiry, false)

	if a := get(t, s, "/api/v4/user", tok); a.status != 200 {
		t.Fatalf("before expiry: %d", a.status)
	}
	var self map[string]any
	get(t, s, "/api/v4/personal_access_tokens/self", tok).json(t, &self)
	if self["expires_at"] != "2026-03-11" {
		t.Errorf("expires_at = %v", self["expires_at"])
	}
	s.AdvanceTime(8*time.Hour + 59*time.Minute) // 2026-03-10 23:59 UTC
	if a := get(t, s, "/api/v4/user", tok); a.status != 200 {
		t.Fatalf("one minute before midnight: %d", a.status)
	}
	s.AdvanceTime(time.Minute) // 2026-03-11 00:00 UTC
	wantBody(t, get(t, s, "/api/v4/user", tok), 401, expiredBody)
}

func TestOAuthTokenIsNotAPersonalAccessToken(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	tok, err := s.IssueOAuthToken(d.ClientID, d.User.ID, []string{"api"})
	if err != nil {
		t.Fatal(err)
	}
	a := do(t, s, "GET", "/api/v4/personal_access_tokens/self", "", "", "Authorization", "Bearer "+tok.AccessToken)
	if a.status != http.StatusNotFound {
		t.Errorf("status %d %s", a.status, a.body)
	}
}

func TestCurrentUserShape(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	var u map[string]any
	get(t, s, "/api/v4/user", d.Token).json(t, &u)
	for k, want := range map[string]any{
		"id": float64(d.User.ID), "username": "demo", "name": "Demo User", "state": "active",
		"email": "demo@example.com", "web_url": s.URL + "/demo", "bot": false,
	} {
		if u[k] != want {
			t.Errorf("%s = %v, want %v", k, u[k], want)
		}
	}
	if av, _ := u["avatar_url"].(string); av == "" {
		t.Error("no avatar_url")
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	s := gitlabsim.NewTestServer(t, gitlabsim.Options{Version: "17.9.2"})
	u := s.AddUser("v", "V")
	tok := s.AddPersonalAccessToken(u.ID, "t", []string{"read_user"}, nil, false)
	var v map[string]any
	get(t, s, "/api/v4/version", tok).json(t, &v)
	if v["version"] != "17.9.2" {
		t.Errorf("version = %v", v)
	}
	wantBody(t, get(t, s, "/api/v4/version", ""), 401, unauthorizedBody)
}
