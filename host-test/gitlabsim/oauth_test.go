package gitlabsim_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
)

const (
	docVerifier  = "ks02i3jdikdo2k0dkfodf3m39rjfjsdk0wk349rj3jrhf"
	docChallenge = "2i0WFA-0AerkjQm4X4oDEhqA17QIAKNjXpagHBXmO_U"
	callback     = "http://127.0.0.1:8787/v1/integrations/gitlab/callback"

	invalidGrantBody  = `{"error":"invalid_grant","error_description":"The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."}`
	invalidClientBody = `{"error":"invalid_client","error_description":"Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."}`
)

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize calls /oauth/authorize and returns the status, the redirect
// target (parsed) and the body.
func authorize(t *testing.T, s *gitlabsim.Server, params url.Values) (int, *url.URL, string) {
	t.Helper()
	resp, err := noRedirect.Get(s.URL + "/oauth/authorize?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := readBody(t, resp)
	var loc *url.URL
	if l := resp.Header.Get("Location"); l != "" {
		loc, err = url.Parse(l)
		if err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, loc, body
}

func authParams(clientID string) url.Values {
	return url.Values{
		"client_id": {clientID}, "redirect_uri": {callback}, "response_type": {"code"},
		"state": {"st4te"}, "scope": {"api read_repository"},
		"code_challenge": {docChallenge}, "code_challenge_method": {"S256"},
	}
}

func postForm(t *testing.T, s *gitlabsim.Server, path string, form url.Values) answer {
	t.Helper()
	return do(t, s, "POST", path, "", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
}

func TestOAuthCodeFlowWithPKCEDocVector(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	status, loc, _ := authorize(t, s, authParams(d.ClientID))
	if status != http.StatusFound || loc == nil || loc.Scheme+"://"+loc.Host+loc.Path != callback || loc.Query().Get("state") != "st4te" {
		t.Fatalf("authorize: %d %v", status, loc)
	}
	code := loc.Query().Get("code")
	form := url.Values{"client_id": {d.ClientID}, "client_secret": {d.ClientSecret}, "code": {code},
		"grant_type": {"authorization_code"}, "redirect_uri": {callback}}

	form.Set("code_verifier", "wrong-verifier-wrong-verifier-wrong-verifier")
	wantBody(t, postForm(t, s, "/oauth/token", form), 400, invalidGrantBody)
	form.Del("code_verifier")
	wantBody(t, postForm(t, s, "/oauth/token", form), 400, `{"error":"invalid_request","error_description":"Missing required parameter: code_verifier."}`)
	form.Set("code_verifier", docVerifier)
	form.Set("redirect_uri", callback+"/")
	wantBody(t, postForm(t, s, "/oauth/token", form), 400, invalidGrantBody)
	form.Set("redirect_uri", callback)

	a := postForm(t, s, "/oauth/token", form)
	var tok struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int    `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
		Scope        string `json:"scope"`
		CreatedAt    int64  `json:"created_at"`
	}
	a.json(t, &tok)
	if a.status != 200 || tok.TokenType != "Bearer" || tok.ExpiresIn != 7200 || tok.Scope != "api read_repository" ||
		len(tok.AccessToken) != 64 || tok.RefreshToken == "" || s.Now().Unix()-tok.CreatedAt > 1 {
		t.Fatalf("token response %d %s", a.status, a.body)
	}
	if a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", a.header.Get("Cache-Control"))
	}
	// The code is one-time.
	wantBody(t, postForm(t, s, "/oauth/token", form), 400, invalidGrantBody)

	var u map[string]any
	do(t, s, "GET", "/api/v4/user", "", "", "Authorization", "Bearer "+tok.AccessToken).json(t, &u)
	if u["username"] != "demo" {
		t.Errorf("user = %v", u)
	}
	var info map[string]any
	do(t, s, "GET", "/oauth/token/info", "", "", "Authorization", "Bearer "+tok.AccessToken).json(t, &info)
	if info["resource_owner_id"] != float64(d.User.ID) || info["expires_in"].(float64) < 7100 ||
		info["application"].(map[string]any)["uid"] != d.ClientID || len(info["scope"].([]any)) != 2 {
		t.Errorf("token info = %v", info)
	}
	if s.TokenRequests("authorization_code") != 5 {
		t.Errorf("TokenRequests = %d", s.TokenRequests("authorization_code"))
	}
}

func TestOAuthWithXOAuth2ClientAndBasicAuth(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	cfg := &oauth2.Config{
		ClientID: d.ClientID, ClientSecret: d.ClientSecret, RedirectURL: callback,
		Scopes:   []string{"read_api", "read_repository"},
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/oauth/authorize", TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	verifier := oauth2.GenerateVerifier()
	resp, err := noRedirect.Get(cfg.AuthCodeURL("xyz", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	tok, err := cfg.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("scope") != "read_api read_repository" || time.Until(tok.Expiry) < time.Hour {
		t.Errorf("token scope %v expiry %v", tok.Extra("scope"), tok.Expiry)
	}
	// Refresh through x/oauth2 rotates the refresh token.
	s.AdvanceTime(3 * time.Hour)
	ts := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)})
	fresh, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.RefreshToken == tok.RefreshToken || fresh.AccessToken == tok.AccessToken {
		t.Error("refresh did not rotate")
	}
}

func TestOAuthRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	first, err := s.IssueOAuthToken(d.ClientID, d.User.ID, []string{"api", "read_repository"})
	if err != nil {
		t.Fatal(err)
	}
	refresh := url.Values{"client_id": {d.ClientID}, "client_secret": {d.ClientSecret},
		"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}}

	// The access token expires after two hours; the refresh token still works.
	s.AdvanceTime(2 * time.Hour)
	a := do(t, s, "GET", "/api/v4/user", "", "", "Authorization", "Bearer "+first.AccessToken)
	wantBody(t, a, 401, expiredBody)
	if !strings.Contains(a.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", a.header.Get("WWW-Authenticate"))
	}
	a = postForm(t, s, "/oauth/token", refresh)
	var second struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Scope        string `json:"scope"`
	}
	a.json(t, &second)
	if a.status != 200 || second.RefreshToken == first.RefreshToken || second.Scope != "api read_repository" {
		t.Fatalf("refresh: %d %s", a.status, a.body)
	}
	wantBody(t, postForm(t, s, "/oauth/token", refresh), 400, invalidGrantBody)
	wantBody(t, do(t, s, "GET", "/api/v4/user", "", "", "Authorization", "Bearer "+first.AccessToken), 401, revokedBody)
	if a := do(t, s, "GET", "/api/v4/user", "", "", "Authorization", "Bearer "+second.AccessToken); a.status != 200 {
		t.Errorf("new access token: %d", a.status)
	}

	// Client authentication.
	bad := url.Values{"client_id": {d.ClientID}, "client_secret": {"gloas-wrong"}, "grant_type": {"refresh_token"}, "refresh_token": {second.RefreshToken}}
	wantBody(t, postForm(t, s, "/oauth/token", bad), 401, invalidClientBody)
	bad.Del("client_secret")
	wantBody(t, postForm(t, s, "/oauth/token", bad), 401, invalidClientBody)
	wantBody(t, postForm(t, s, "/oauth/token", url.Values{"grant_type": {"password"}}), 400,
		`{"error":"unsupported_grant_type","error_description":"The authorization grant type is not supported by the authorization server."}`)
	if n := s.TokenRequests("refresh_token"); n != 4 {
		t.Errorf("refresh requests = %d", n)
	}
}

func TestOAuthRevoke(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	tok, _ := s.IssueOAuthToken(d.ClientID, d.User.ID, nil)
	a := postForm(t, s, "/oauth/revoke", url.Values{"client_id": {d.ClientID}, "client_secret": {d.ClientSecret}, "token": {tok.AccessToken}})
	wantBody(t, a, 200, `{}`)
	wantBody(t, do(t, s, "GET", "/api/v4/user", "", "", "Authorization", "Bearer "+tok.AccessToken), 401, revokedBody)
	wantBody(t, postForm(t, s, "/oauth/token", url.Values{"client_id": {d.ClientID}, "client_secret": {d.ClientSecret},
		"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}), 400, invalidGrantBody)
	wantBody(t, get(t, s, "/oauth/token/info?access_token="+tok.AccessToken, ""), 401,
		`{"error":"invalid_token","error_description":"The access token was revoked"}`)
	// An unknown token is still answered 200 {} (RFC 7009).
	wantBody(t, postForm(t, s, "/oauth/revoke", url.Values{"client_id": {d.ClientID}, "client_secret": {d.ClientSecret}, "token": {"nope"}}), 200, `{}`)
}

func TestOAuthAuthorizeRefusals(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	p := authParams(d.ClientID)
	p.Set("redirect_uri", callback+"?x=1")
	status, loc, body := authorize(t, s, p)
	if status != 400 || loc != nil || !strings.Contains(body, "The redirect URI included is not valid.") {
		t.Errorf("wrong redirect: %d %v %q", status, loc, body)
	}
	status, loc, body = authorize(t, s, authParams("unknown"))
	if status != 401 || loc != nil || !strings.Contains(body, "unknown client") {
		t.Errorf("unknown client: %d %v", status, loc)
	}
	p = authParams(d.ClientID)
	p.Set("scope", "sudo")
	if _, loc, _ = authorize(t, s, p); loc == nil || loc.Query().Get("error") != "invalid_scope" {
		t.Errorf("bad scope: %v", loc)
	}
	s.DenyNextAuthorize()
	_, loc, _ = authorize(t, s, authParams(d.ClientID))
	if loc == nil || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "st4te" ||
		loc.Query().Get("error_description") != "The resource owner or authorization server denied the request." || loc.Query().Get("code") != "" {
		t.Errorf("denied: %v", loc)
	}
	// Codes expire after ten minutes.
	_, loc, _ = authorize(t, s, authParams(d.ClientID))
	s.AdvanceTime(10*time.Minute + time.Second)
	wantBody(t, postForm(t, s, "/oauth/token", url.Values{"client_id": {d.ClientID}, "client_secret": {d.ClientSecret},
		"code": {loc.Query().Get("code")}, "grant_type": {"authorization_code"}, "redirect_uri": {callback}, "code_verifier": {docVerifier}}),
		400, invalidGrantBody)
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

func TestOAuthConsentPage(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	s.SetConsentPage(true)
	s.SetSignedInUser(d.Other.ID)
	status, loc, body := authorize(t, s, authParams(d.ClientID))
	if status != 200 || loc != nil || !strings.Contains(body, `id="authorize"`) || !strings.Contains(body, "alice") {
		t.Fatalf("consent page: %d %v %s", status, loc, body)
	}
	form := url.Values{"decision": {"authorize"}}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	resp, err := noRedirect.PostForm(s.URL+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	l, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || l.Query().Get("code") == "" || l.Query().Get("state") != "st4te" {
		t.Fatalf("authorize button: %d %v", resp.StatusCode, l)
	}
	a := postForm(t, s, "/oauth/token", url.Values{"client_id": {d.ClientID}, "client_secret": {d.ClientSecret},
		"code": {l.Query().Get("code")}, "grant_type": {"authorization_code"}, "redirect_uri": {callback}, "code_verifier": {docVerifier}})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	a.json(t, &tok)
	var u map[string]any
	do(t, s, "GET", "/api/v4/user", "", "", "Authorization", "Bearer "+tok.AccessToken).json(t, &u)
	if u["username"] != "alice" {
		t.Errorf("token belongs to %v, want the signed-in alice", u["username"])
	}
	form.Set("decision", "deny")
	resp, err = noRedirect.PostForm(s.URL+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if l, _ := url.Parse(resp.Header.Get("Location")); l.Query().Get("error") != "access_denied" {
		t.Errorf("deny button: %v", l)
	}
}

func TestOAuthTokenScopesLimitTheAPI(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	tok, err := s.IssueOAuthToken(d.ClientID, d.User.ID, []string{"read_repository"})
	if err != nil {
		t.Fatal(err)
	}
	if a := do(t, s, "GET", "/api/v4/user", "", "", "Authorization", "Bearer "+tok.AccessToken); a.status != 403 {
		t.Errorf("read_repository on /user: %d", a.status)
	}
	if _, err := s.IssueOAuthToken(d.ClientID, d.User.ID, []string{"sudo"}); err == nil {
		t.Error("a scope the app lacks was granted")
	}
}
