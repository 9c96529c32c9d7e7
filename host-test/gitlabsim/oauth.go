package gitlabsim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// GitLab's OAuth provider is Doorkeeper; these are Doorkeeper's error
// descriptions (config/locales/doorkeeper.en.yml).
const (
	oauthInvalidClient = "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."
	oauthInvalidGrant  = "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."
	oauthInvalidURI    = "The redirect URI included is not valid."
	oauthAccessDenied  = "The resource owner or authorization server denied the request."
	oauthInvalidScope  = "The requested scope is invalid, unknown, or malformed."
	oauthUnsupportedRT = "The authorization server does not support this response type."
	oauthUnsupportedGT = "The authorization grant type is not supported by the authorization server."
)

const (
	// defaultAccessTokenLifetime is GitLab's fixed OAuth access-token
	// lifetime ("Access tokens expire after two hours").
	defaultAccessTokenLifetime = 2 * time.Hour
	// authorizationCodeLifetime is Doorkeeper's default code lifetime.
	authorizationCodeLifetime = 10 * time.Minute
)

type oauthState struct {
	apps          map[string]*oauthApp // by client ID (Doorkeeper "uid")
	codes         map[string]*oauthCode
	byAccess      map[string]*oauthGrant
	byRefresh     map[string]*oauthGrant
	signedInUser  int64
	consentPage   bool
	denyNext      int
	lifetime      time.Duration
	tokenRequests map[string]int
}

func newOAuthState() oauthState {
	return oauthState{
		apps:          map[string]*oauthApp{},
		codes:         map[string]*oauthCode{},
		byAccess:      map[string]*oauthGrant{},
		byRefresh:     map[string]*oauthGrant{},
		lifetime:      defaultAccessTokenLifetime,
		tokenRequests: map[string]int{},
	}
}

type oauthApp struct {
	id           int64
	name         string
	uid          string
	secret       string
	redirectURIs []string
	scopes       []string
	confidential bool
}

type oauthCode struct {
	app         *oauthApp
	userID      int64
	redirectURI string
	scopes      []string
	challenge   string
	method      string
	expiresAt   time.Time
	used        bool
}

// oauthGrant is one access token with its refresh token.
type oauthGrant struct {
	id        int64
	app       *oauthApp
	userID    int64
	scopes    []string
	access    string
	refresh   string
	createdAt time.Time
	lifetime  time.Duration
	// revoked: the access token no longer works (rotated or revoked).
	revoked bool
	// refreshSpent: the refresh token no longer works.
	refreshSpent bool
}

func (g *oauthGrant) expiresAt() time.Time { return g.createdAt.Add(g.lifetime) }

// grantFor finds the grant an access or refresh token belongs to.
func (o *oauthState) grantFor(token string) *oauthGrant {
	if g, ok := o.byAccess[token]; ok {
		return g
	}
	return o.byRefresh[token]
}

// AddOAuthApp registers an OAuth application, as a user would under
// Preferences > Applications, and returns its client ID (64 hex digits) and
// secret ("gloas-" followed by 64 hex digits). redirectURI may hold several
// URIs separated by spaces or newlines; each must then match exactly.
// Confidential apps must authenticate with the secret at the token endpoint.
func (s *Server) AddOAuthApp(name, redirectURI string, scopes []string, confidential bool) (clientID, clientSecret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	app := &oauthApp{
		id:           s.state.nextOAuthAppID,
		name:         name,
		uid:          randomHex(32),
		secret:       "gloas-" + randomHex(32),
		redirectURIs: strings.Fields(redirectURI),
		scopes:       slices.Clone(scopes),
		confidential: confidential,
	}
	s.state.nextOAuthAppID++
	s.state.oauth.apps[app.uid] = app
	return app.uid, app.secret
}

// SetSignedInUser chooses the user who is "signed in" to the simulator's
// web UI and therefore authorizes OAuth requests. By default it is the user
// named "demo" (see SeedDemo).
func (s *Server) SetSignedInUser(userID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.oauth.signedInUser = userID
}

// SetConsentPage makes /oauth/authorize show a consent page with an
// "Authorize" and a "Deny" button instead of approving at once.
func (s *Server) SetConsentPage(show bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.oauth.consentPage = show
}

// DenyNextAuthorize makes the next authorization be denied by the user:
// the browser is redirected with error=access_denied, error_description and
// state.
func (s *Server) DenyNextAuthorize() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.oauth.denyNext++
}

// SetAccessTokenLifetime changes the lifetime of OAuth access tokens issued
// from now on (GitLab's is two hours).
func (s *Server) SetAccessTokenLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.oauth.lifetime = d
}

// TokenRequests counts POST /oauth/token requests with that grant_type
// ("authorization_code", "refresh_token", ...), failed ones included.
func (s *Server) TokenRequests(grantType string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state.oauth.tokenRequests[grantType]
}

// OAuthToken is an access token and refresh token pair the simulator issued.
type OAuthToken struct {
	// AccessToken is the bearer token (64 hex digits).
	AccessToken string
	// RefreshToken obtains a new pair once.
	RefreshToken string
	// Scopes are the granted scopes.
	Scopes []string
	// ExpiresAt is when the access token stops working.
	ExpiresAt time.Time
}

// IssueOAuthToken issues tokens for an application and a user without the
// browser flow, as if the user had authorized the app with these scopes
// (nil means all of the app's scopes).
func (s *Server) IssueOAuthToken(clientID string, userID int64, scopes []string) (OAuthToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	app, ok := s.state.oauth.apps[clientID]
	if !ok {
		return OAuthToken{}, fmt.Errorf("issue oauth token: unknown client")
	}
	if _, ok := s.state.users[userID]; !ok {
		return OAuthToken{}, fmt.Errorf("issue oauth token: no user %d", userID)
	}
	granted, ok := grantableScopes(app, scopes)
	if !ok {
		return OAuthToken{}, fmt.Errorf("issue oauth token: scopes %v not allowed for the app", scopes)
	}
	g := s.newGrantLocked(app, userID, granted)
	return OAuthToken{AccessToken: g.access, RefreshToken: g.refresh, Scopes: slices.Clone(g.scopes), ExpiresAt: g.expiresAt()}, nil
}

// grantableScopes is the requested scopes when all belong to the app, or
// the app's scopes when none are requested.
func grantableScopes(app *oauthApp, requested []string) ([]string, bool) {
	if len(requested) == 0 {
		return slices.Clone(app.scopes), true
	}
	for _, sc := range requested {
		if !slices.Contains(app.scopes, sc) {
			return nil, false
		}
	}
	return slices.Clone(requested), true
}

func (s *Server) newGrantLocked(app *oauthApp, userID int64, scopes []string) *oauthGrant {
	g := &oauthGrant{
		id:        s.state.nextGrantID,
		app:       app,
		userID:    userID,
		scopes:    scopes,
		access:    randomHex(32),
		refresh:   randomHex(32),
		createdAt: s.nowLocked(),
		lifetime:  s.state.oauth.lifetime,
	}
	s.state.nextGrantID++
	s.state.oauth.byAccess[g.access] = g
	s.state.oauth.byRefresh[g.refresh] = g
	return g
}

// authorizeRequest is a validated /oauth/authorize request.
type authorizeRequest struct {
	app         *oauthApp
	redirectURI string
	state       string
	scopes      []string
	challenge   string
	method      string
	params      url.Values
}

// validateAuthorize checks an authorization request like Doorkeeper's
// pre-authorization. An unknown client or a redirect URI that is not
// registered gets an error page and no redirect; other problems are sent
// back to the (valid) redirect URI. It reports false when it has answered.
func (s *Server) validateAuthorize(w http.ResponseWriter, r *http.Request, params url.Values) (authorizeRequest, bool) {
	ar := authorizeRequest{params: params, state: params.Get("state")}
	s.mu.RLock()
	app := s.state.oauth.apps[params.Get("client_id")]
	s.mu.RUnlock()
	if app == nil {
		oauthErrorPage(w, http.StatusUnauthorized, "invalid_client", oauthInvalidClient)
		return ar, false
	}
	ar.app = app
	ar.redirectURI = params.Get("redirect_uri")
	if !slices.Contains(app.redirectURIs, ar.redirectURI) {
		oauthErrorPage(w, http.StatusBadRequest, "invalid_redirect_uri", oauthInvalidURI)
		return ar, false
	}
	if params.Get("response_type") != "code" {
		redirectError(w, r, ar, "unsupported_response_type", oauthUnsupportedRT)
		return ar, false
	}
	scopes, ok := grantableScopes(app, strings.Fields(params.Get("scope")))
	if !ok {
		redirectError(w, r, ar, "invalid_scope", oauthInvalidScope)
		return ar, false
	}
	ar.scopes = scopes
	ar.challenge = params.Get("code_challenge")
	if ar.challenge != "" {
		ar.method = params.Get("code_challenge_method")
		if ar.method == "" {
			ar.method = "plain"
		}
		if ar.method != "plain" && ar.method != "S256" {
			redirectError(w, r, ar, "invalid_request", "The code challenge method must be plain or S256.")
			return ar, false
		}
	}
	return ar, true
}

// handleAuthorize serves GET /oauth/authorize.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	ar, ok := s.validateAuthorize(w, r, r.URL.Query())
	if !ok {
		return
	}
	s.mu.Lock()
	user := s.signedInUserLocked()
	deny := s.state.oauth.denyNext > 0
	if deny {
		s.state.oauth.denyNext--
	}
	consent := s.state.oauth.consentPage
	s.mu.Unlock()
	switch {
	case user == nil:
		oauthErrorPage(w, http.StatusUnauthorized, "login_required", "Nobody is signed in to the GitLab simulator (see SetSignedInUser).")
	case deny:
		s.log.Info("oauth authorization denied (simulated)", "app", ar.app.name)
		redirectError(w, r, ar, "access_denied", oauthAccessDenied)
	case consent:
		renderConsent(w, ar, user)
	default:
		s.grantCode(w, r, ar, user.ID)
	}
}

// handleAuthorizeDecision serves POST /oauth/authorize, the consent form.
func (s *Server) handleAuthorizeDecision(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthErrorPage(w, http.StatusBadRequest, "invalid_request", "The form could not be read.")
		return
	}
	ar, ok := s.validateAuthorize(w, r, r.PostForm)
	if !ok {
		return
	}
	s.mu.RLock()
	user := s.signedInUserLocked()
	s.mu.RUnlock()
	switch {
	case user == nil:
		oauthErrorPage(w, http.StatusUnauthorized, "login_required", "Nobody is signed in to the GitLab simulator (see SetSignedInUser).")
	case r.PostForm.Get("decision") != "authorize":
		redirectError(w, r, ar, "access_denied", oauthAccessDenied)
	default:
		s.grantCode(w, r, ar, user.ID)
	}
}

func (s *Server) signedInUserLocked() *User {
	if id := s.state.oauth.signedInUser; id != 0 {
		return s.state.users[id]
	}
	return s.state.usersByName["demo"]
}

func (s *Server) grantCode(w http.ResponseWriter, r *http.Request, ar authorizeRequest, userID int64) {
	code := randomHex(32)
	s.mu.Lock()
	s.state.oauth.codes[code] = &oauthCode{
		app:         ar.app,
		userID:      userID,
		redirectURI: ar.redirectURI,
		scopes:      ar.scopes,
		challenge:   ar.challenge,
		method:      ar.method,
		expiresAt:   s.nowLocked().Add(authorizationCodeLifetime),
	}
	s.mu.Unlock()
	s.log.Info("oauth authorization granted", "app", ar.app.name, "user_id", userID, "scopes", strings.Join(ar.scopes, " "))
	v := url.Values{"code": {code}}
	if ar.state != "" {
		v.Set("state", ar.state)
	}
	http.Redirect(w, r, withQuery(ar.redirectURI, v), http.StatusFound)
}

func redirectError(w http.ResponseWriter, r *http.Request, ar authorizeRequest, code, description string) {
	v := url.Values{"error": {code}, "error_description": {description}}
	if ar.state != "" {
		v.Set("state", ar.state)
	}
	http.Redirect(w, r, withQuery(ar.redirectURI, v), http.StatusFound)
}

// withQuery adds v to the query of rawURL, keeping what is there.
func withQuery(rawURL string, v url.Values) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

var errorPage = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html><head><title>An error has occurred · GitLab simulator</title></head>
<body>
<p><em>oore-gitlab-sim — a SIMULATOR of GitLab for tests and demos, not GitLab.</em></p>
<h1>An error has occurred</h1>
<p id="error" data-error="{{.Code}}">{{.Description}}</p>
</body></html>
`))

func oauthErrorPage(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = errorPage.Execute(w, struct{ Code, Description string }{code, description})
}

var consentPage = template.Must(template.New("consent").Parse(`<!DOCTYPE html>
<html><head><title>Authorize {{.App}} · GitLab simulator</title></head>
<body>
<p><em>oore-gitlab-sim — a SIMULATOR of GitLab for tests and demos, not GitLab.</em></p>
<h1>Authorize {{.App}} to use your account?</h1>
<p>Signed in as <strong id="user">{{.User}}</strong>. {{.App}} asks for: <span id="scopes">{{.Scopes}}</span>.</p>
<form id="consent" method="post" action="/oauth/authorize">
{{range $k, $vs := .Params}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">
{{end}}{{end}}<button type="submit" id="authorize" name="decision" value="authorize">Authorize</button>
<button type="submit" id="deny" name="decision" value="deny">Deny</button>
</form>
</body></html>
`))

func renderConsent(w http.ResponseWriter, ar authorizeRequest, user *User) {
	params := url.Values{}
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "state", "scope", "code_challenge", "code_challenge_method"} {
		if v := ar.params.Get(k); v != "" {
			params.Set(k, v)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = consentPage.Execute(w, struct {
		App, User, Scopes string
		Params            url.Values
	}{ar.app.name, user.Username, strings.Join(ar.scopes, " "), params})
}

// tokenResponse is Doorkeeper's token response
// (gitlab_doc_oauth_token_response.json plus "scope").
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	CreatedAt    int64  `json:"created_at"`
}

func oauthJSONError(w http.ResponseWriter, status int, code, description string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="Doorkeeper", error="`+code+`", error_description="`+description+`"`)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// clientCredentials reads client_id and client_secret from HTTP Basic
// authentication (form-encoded, RFC 6749 §2.3.1) or from the body.
func clientCredentials(r *http.Request) (id, secret string) {
	if u, p, ok := r.BasicAuth(); ok {
		if dec, err := url.QueryUnescape(u); err == nil {
			u = dec
		}
		if dec, err := url.QueryUnescape(p); err == nil {
			p = dec
		}
		return u, p
	}
	return r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
}

// authenticateClientLocked applies Doorkeeper's client authentication: the
// app must exist, a given secret must be right, and a confidential app must
// give it.
func (s *Server) authenticateClientLocked(r *http.Request) *oauthApp {
	id, secret := clientCredentials(r)
	app := s.state.oauth.apps[id]
	if app == nil {
		return nil
	}
	if secret == "" && !app.confidential {
		return app
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(app.secret)) != 1 {
		return nil
	}
	return app
}

// handleToken serves POST /oauth/token for the authorization_code and
// refresh_token grants. Refreshing rotates: the old access and refresh
// tokens stop working, and reusing the old refresh token is invalid_grant.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthJSONError(w, http.StatusBadRequest, "invalid_request", "The request body could not be read.")
		return
	}
	grantType := r.PostForm.Get("grant_type")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.oauth.tokenRequests[grantType]++
	if grantType == "" {
		oauthJSONError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: grant_type.")
		return
	}
	if grantType != "authorization_code" && grantType != "refresh_token" {
		oauthJSONError(w, http.StatusBadRequest, "unsupported_grant_type", oauthUnsupportedGT)
		return
	}
	app := s.authenticateClientLocked(r)
	if app == nil {
		oauthJSONError(w, http.StatusUnauthorized, "invalid_client", oauthInvalidClient)
		return
	}
	var g *oauthGrant
	if grantType == "authorization_code" {
		g = s.exchangeCodeLocked(w, r, app)
	} else {
		g = s.refreshLocked(w, r, app)
	}
	if g == nil {
		return
	}
	s.log.Info("oauth tokens issued", "grant_type", grantType, "app", app.name, "user_id", g.userID)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken:  g.access,
		TokenType:    "Bearer",
		ExpiresIn:    int64(g.lifetime / time.Second),
		RefreshToken: g.refresh,
		Scope:        strings.Join(g.scopes, " "),
		CreatedAt:    g.createdAt.Unix(),
	})
}

func (s *Server) exchangeCodeLocked(w http.ResponseWriter, r *http.Request, app *oauthApp) *oauthGrant {
	c := s.state.oauth.codes[r.PostForm.Get("code")]
	if c == nil || c.used || c.app != app || !s.nowLocked().Before(c.expiresAt) ||
		c.redirectURI != r.PostForm.Get("redirect_uri") {
		oauthJSONError(w, http.StatusBadRequest, "invalid_grant", oauthInvalidGrant)
		return nil
	}
	if c.challenge != "" {
		verifier := r.PostForm.Get("code_verifier")
		if verifier == "" {
			oauthJSONError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: code_verifier.")
			return nil
		}
		if !pkceMatches(c.challenge, c.method, verifier) {
			oauthJSONError(w, http.StatusBadRequest, "invalid_grant", oauthInvalidGrant)
			return nil
		}
	}
	c.used = true
	return s.newGrantLocked(app, c.userID, c.scopes)
}

func (s *Server) refreshLocked(w http.ResponseWriter, r *http.Request, app *oauthApp) *oauthGrant {
	old := s.state.oauth.byRefresh[r.PostForm.Get("refresh_token")]
	if old == nil || old.refreshSpent || old.app != app {
		oauthJSONError(w, http.StatusBadRequest, "invalid_grant", oauthInvalidGrant)
		return nil
	}
	scopes := old.scopes
	if req := strings.Fields(r.PostForm.Get("scope")); len(req) > 0 {
		for _, sc := range req {
			if !slices.Contains(old.scopes, sc) {
				oauthJSONError(w, http.StatusBadRequest, "invalid_scope", oauthInvalidScope)
				return nil
			}
		}
		scopes = req
	}
	old.revoked = true
	old.refreshSpent = true
	return s.newGrantLocked(app, old.userID, slices.Clone(scopes))
}

// pkceMatches verifies an RFC 7636 code verifier.
func pkceMatches(challenge, method, verifier string) bool {
	want := verifier
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// handleRevoke serves POST /oauth/revoke (RFC 7009): it always answers 200
// with {}, and revokes the whole grant (access and refresh token) when the
// token belongs to the authenticated client.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthJSONError(w, http.StatusBadRequest, "invalid_request", "The request body could not be read.")
		return
	}
	s.mu.Lock()
	app := s.authenticateClientLocked(r)
	if app == nil {
		s.mu.Unlock()
		oauthJSONError(w, http.StatusUnauthorized, "invalid_client", oauthInvalidClient)
		return
	}
	if g := s.state.oauth.grantFor(r.PostForm.Get("token")); g != nil && g.app == app {
		g.revoked = true
		g.refreshSpent = true
		s.log.Info("oauth grant revoked", "app", app.name, "user_id", g.userID)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{})
}

// handleTokenInfo serves GET /oauth/token/info in the shape of
// gitlab_doc_oauth_token_info.json, with expires_in as a number.
func (s *Server) handleTokenInfo(w http.ResponseWriter, r *http.Request) {
	token := ""
	if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		token = strings.TrimSpace(auth[7:])
	} else {
		token = r.URL.Query().Get("access_token")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.state.oauth.byAccess[token]
	now := s.nowLocked()
	switch {
	case g == nil:
		oauthJSONError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid")
		return
	case g.revoked:
		oauthJSONError(w, http.StatusUnauthorized, "invalid_token", "The access token was revoked")
		return
	case !now.Before(g.expiresAt()):
		oauthJSONError(w, http.StatusUnauthorized, "invalid_token", "The access token expired")
		return
	}
	left := int64(g.expiresAt().Sub(now) / time.Second)
	m := fixtureObject("gitlab-docs/gitlab_doc_oauth_token_info.json")
	m["resource_owner_id"] = g.userID
	m["scope"] = slices.Clone(g.scopes)
	m["scopes"] = slices.Clone(g.scopes)
	m["expires_in"] = left
	m["expires_in_seconds"] = left
	m["application"] = map[string]any{"uid": g.app.uid}
	m["created_at"] = g.createdAt.Unix()
	writeJSON(w, http.StatusOK, m)
}
