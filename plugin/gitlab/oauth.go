package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// knownScopes are the scopes GitLab's OAuth provider grants
// (doc/integration/oauth_provider.md). BeginOAuth refuses others: a typo
// would only surface as GitLab's error page in the user's browser.
var knownScopes = []string{
	"api", "read_api", "read_user", "create_runner", "manage_runner", "k8s_proxy",
	"read_repository", "write_repository", "read_registry", "write_registry",
	"read_virtual_registry", "write_virtual_registry", "read_observability", "write_observability",
	"ai_features", "sudo", "admin_mode", "read_service_ping", "self_rotate",
	"openid", "profile", "email",
}

// defaultOAuthScopes are requested when the host asks for none.
var defaultOAuthScopes = []string{ScopeAPI, ScopeReadRepository}

// PKCE and field bounds (RFC 7636: a verifier is 43 to 128 characters).
const (
	challengeLen   = 43 // base64url of a SHA-256 digest, no padding
	minVerifierLen = 43
	maxVerifierLen = 128
	minStateLen    = 16
	maxStateLen    = 1024
	maxCodeLen     = 1024
	maxClientIDLen = 256
)

// Field names of the OAuth client inside a connection.
const (
	fieldClientID     = "connection.credentials.oauth_client.client_id"
	fieldClientSecret = "connection.credentials.oauth_client.client_secret"
	fieldRedirectURI  = "connection.credentials.oauth_client.redirect_uri"
	fieldRefreshToken = "connection.credentials.refresh_token"
)

// isBase64URL reports whether s uses only the base64url alphabet.
func isBase64URL(s string) bool {
	return strings.TrimLeft(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
}

// isVerifierChars reports whether s uses only RFC 7636's unreserved characters.
func isVerifierChars(s string) bool {
	return strings.TrimLeft(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") == ""
}

// checkRedirectURI validates an OAuth redirect URI: an absolute http(s) URL
// without a fragment (RFC 6749 3.1.2). GitLab allows http redirect URIs.
func (v *violations) checkRedirectURI(field, raw string) {
	switch {
	case raw == "":
		v.add(field, "is required")
		return
	case len(raw) > maxURLLen:
		v.add(field, fmt.Sprintf("must be at most %d characters", maxURLLen))
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		v.add(field, "must be an absolute http(s) URL, e.g. https://ci.example.com/v1/integrations/gitlab/callback")
		return
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		v.add(field, "must not have a fragment (#...)")
	}
	if u.User != nil {
		v.add(field, "must not contain a user name or password")
	}
}

// checkClientID validates an OAuth application ID (GitLab: 64 hex digits).
func (v *violations) checkClientID(field, id string) {
	switch {
	case id == "":
		v.add(field, "is required")
	case len(id) > maxClientIDLen:
		v.add(field, fmt.Sprintf("must be at most %d characters", maxClientIDLen))
	default:
		v.checkToken(field, id, true)
	}
}

// checkScopes validates requested scopes and returns them without
// duplicates (or the defaults when none were asked for).
func (v *violations) checkScopes(field string, scopes []string) []string {
	if len(scopes) == 0 {
		return slices.Clone(defaultOAuthScopes)
	}
	if len(scopes) > maxScopeCount {
		v.add(field, fmt.Sprintf("must hold at most %d scopes", maxScopeCount))
		return nil
	}
	var out []string
	for _, s := range scopes {
		if !slices.Contains(knownScopes, s) {
			v.add(field, fmt.Sprintf("%q is not a GitLab OAuth scope (known: %s)", clip(s, 40), strings.Join(knownScopes, ", ")))
			return nil
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if missing := missingScopes(out); len(missing) > 0 {
		v.add(field, "must include "+strings.ReplaceAll(strings.Join(missing, " and "), "|", " or ")+" (Oore lists and clones repositories with them)")
	}
	return out
}

// oauthConfig is the x/oauth2 configuration for GitLab's endpoints on the
// connection's origin. AuthStyle is pinned to client credentials in the
// form body: x/oauth2's auto-detection would re-send a failed request the
// other way, and a refresh token must never be sent twice.
func (c *connection) oauthConfig(client *scmv1.OAuthClient, scopes []string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     client.GetClientId(),
		ClientSecret: client.GetClientSecret(),
		RedirectURL:  client.GetRedirectUri(),
		Scopes:       scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:   c.origin + "/oauth/authorize",
			TokenURL:  c.origin + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// oauthContext makes x/oauth2 use the connection's HTTP client without
// retries (TLS settings, no redirects, timeout).
func (c *connection) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.once)
}

// oauthFailure maps a failed token request: GitLab's OAuth error codes
// first, then its HTTP status, then the network.
func (c *connection) oauthFailure(ctx context.Context, op string, grant string, err error) error {
	where := op + " on " + c.origin
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return c.transportFailure(ctx, op, err)
	}
	switch re.ErrorCode {
	case "invalid_grant":
		if grant == "refresh_token" {
			return scmerr.New(codes.FailedPrecondition, scmerr.ReasonInvalidGrant,
				where+": GitLab refused the refresh token (invalid, expired, revoked or already used); reconnect the integration")
		}
		return scmerr.New(codes.FailedPrecondition, scmerr.ReasonInvalidGrant,
			where+": the authorization code is invalid, expired or already used (or the PKCE verifier or redirect URI does not match); start the connection again")
	case "invalid_client":
		return scmerr.New(codes.Unauthenticated, scmerr.ReasonInvalidClient,
			where+": GitLab refused the OAuth application; check the Application ID and Secret (and that the application still exists)")
	case "invalid_scope":
		return scmerr.New(codes.FailedPrecondition, scmerr.ReasonScopeMissing,
			c.redact(where+": GitLab refused the scopes: "+clip(re.ErrorDescription, 200)))
	case "":
	default:
		return scmerr.New(codes.FailedPrecondition, scmerr.ReasonProviderAPIError,
			c.redact(fmt.Sprintf("%s: GitLab refused the request (%s: %s)", where, clip(re.ErrorCode, 60), clip(re.ErrorDescription, 200))))
	}
	if re.Response != nil {
		return c.answerFailure(op, &gitlabAnswer{status: re.Response.StatusCode, header: re.Response.Header, body: re.Body})
	}
	return c.transportFailure(ctx, op, err)
}

// BeginOAuth builds GitLab's authorize URL: response_type=code, the
// client, redirect URI, state, space-separated scopes (default "api
// read_repository") and the PKCE S256 challenge. It calls nothing.
func (p *Provider) BeginOAuth(_ context.Context, req *scmv1.BeginOAuthRequest) (*scmv1.BeginOAuthResponse, error) {
	var v violations
	origin, bad := normalizeHostURL("host_url", req.GetHostUrl())
	v.addViolation(bad)
	v.checkClientID("client_id", req.GetClientId())
	v.checkRedirectURI("redirect_uri", req.GetRedirectUri())
	v.check("state", req.GetState(), fmt.Sprintf("required,min=%d,max=%d", minStateLen, maxStateLen))
	if ch := req.GetCodeChallenge(); ch == "" {
		v.add("code_challenge", "is required (PKCE)")
	} else if len(ch) != challengeLen || !isBase64URL(ch) {
		v.add("code_challenge", "must be base64url(SHA-256(verifier)) without padding: 43 characters of A-Z a-z 0-9 - _")
	}
	if req.GetCodeChallengeMethod() != "S256" {
		v.add("code_challenge_method", "must be S256")
	}
	scopes := v.checkScopes("scopes", req.GetScopes())
	if err := v.err(); err != nil {
		return nil, err
	}
	c := &connection{origin: origin}
	cfg := c.oauthConfig(&scmv1.OAuthClient{ClientId: req.GetClientId(), RedirectUri: req.GetRedirectUri()}, scopes)
	return &scmv1.BeginOAuthResponse{AuthorizeUrl: cfg.AuthCodeURL(req.GetState(),
		oauth2.SetAuthURLParam("code_challenge", req.GetCodeChallenge()),
		oauth2.SetAuthURLParam("code_challenge_method", "S256"),
	)}, nil
}

// checkOAuthClient validates the application inside a connection.
func (v *violations) checkOAuthClient(client *scmv1.OAuthClient, needRedirect bool) {
	v.checkClientID(fieldClientID, client.GetClientId())
	if s := client.GetClientSecret(); len(s) > maxSecretLen {
		v.add(fieldClientSecret, fmt.Sprintf("must be at most %d characters", maxSecretLen))
	} else if s != "" {
		v.checkToken(fieldClientSecret, s, false)
	}
	if needRedirect {
		v.checkRedirectURI(fieldRedirectURI, client.GetRedirectUri())
	}
}

// publicClient is the application as returned to the host: never its secret.
func publicClient(c *scmv1.OAuthClient) *scmv1.OAuthClient {
	return &scmv1.OAuthClient{ClientId: c.GetClientId(), RedirectUri: c.GetRedirectUri()}
}

// tokenScopes are the scopes of a token response ("scope", space
// separated), or GitLab's /oauth/token/info when the response has none.
func (c *connection) tokenScopes(ctx context.Context, tok *oauth2.Token) ([]string, error) {
	if s, ok := tok.Extra("scope").(string); ok && strings.TrimSpace(s) != "" {
		return strings.Fields(s), nil
	}
	var body oauthTokenInfoBody
	if err := c.getJSON(ctx, "inspect the new OAuth access token", c.origin+"/oauth/token/info", tok.AccessToken, &body); err != nil {
		return nil, err
	}
	if len(body.Scope) > 0 {
		return body.Scope, nil
	}
	return body.Scopes, nil
}

// oauthCredentials are the credentials of a token response.
func oauthCredentials(tok *oauth2.Token, client *scmv1.OAuthClient) *scmv1.Credentials {
	creds := &scmv1.Credentials{
		AuthMode:     scmv1.AuthMode_AUTH_MODE_OAUTH_APP,
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		OauthClient:  publicClient(client),
	}
	if !tok.Expiry.IsZero() {
		creds.ExpiresAt = tok.Expiry.Unix()
	}
	return creds
}

// CompleteOAuth exchanges an authorization code and its PKCE verifier for
// tokens (POST /oauth/token, sent once), then reads the account with the
// new access token (GET /api/v4/user).
func (p *Provider) CompleteOAuth(ctx context.Context, req *scmv1.CompleteOAuthRequest) (*scmv1.CompleteOAuthResponse, error) {
	var v violations
	v.check("code", req.GetCode(), fmt.Sprintf("required,max=%d", maxCodeLen))
	if code := req.GetCode(); code != "" {
		v.checkToken("code", code, true)
	}
	v.check("code_verifier", req.GetCodeVerifier(), fmt.Sprintf("required,min=%d,max=%d", minVerifierLen, maxVerifierLen))
	if ver := req.GetCodeVerifier(); ver != "" && !isVerifierChars(ver) {
		v.add("code_verifier", "must use only A-Z a-z 0-9 - . _ ~ (RFC 7636)")
	}
	client := req.GetConnection().GetCredentials().GetOauthClient()
	if req.GetConnection() != nil {
		v.checkOAuthClient(client, true)
	}
	c, err := p.connect(req.GetConnection(), connectionRequest{tokenOptional: true}, v)
	if err != nil {
		return nil, err
	}
	tok, err := c.oauthConfig(client, nil).Exchange(c.oauthContext(ctx), req.GetCode(), oauth2.VerifierOption(req.GetCodeVerifier()))
	if err != nil {
		return nil, c.oauthFailure(ctx, "exchange the authorization code", "authorization_code", err)
	}
	if tok.AccessToken == "" {
		return nil, scmerr.New(codes.FailedPrecondition, scmerr.ReasonProviderAPIError,
			"exchange the authorization code on "+c.origin+": GitLab answered without an access token")
	}
	signedIn, err := c.as(tok.AccessToken, tok.RefreshToken, client)
	if err != nil {
		return nil, err
	}
	scopes, err := signedIn.tokenScopes(ctx, tok)
	if err != nil {
		return nil, err
	}
	account, err := signedIn.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	return &scmv1.CompleteOAuthResponse{
		Credentials: oauthCredentials(tok, client),
		Scopes:      scopes,
		Account:     account,
		HostUrl:     c.origin,
	}, nil
}

// as is the connection acting with new OAuth tokens.
func (c *connection) as(access, refresh string, client *scmv1.OAuthClient) (*connection, error) {
	n := *c
	n.creds = &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_OAUTH_APP, AccessToken: access, RefreshToken: refresh, OauthClient: client}
	api, err := n.newAPIClient(access)
	if err != nil {
		return nil, err
	}
	n.api = api
	return &n, nil
}

// RefreshCredentials trades the refresh token for new tokens: one POST
// /oauth/token with grant_type=refresh_token, never retried (GitLab rotates
// refresh tokens, so a re-sent one is refused and the new one lost). The
// answer must carry a new refresh token.
func (p *Provider) RefreshCredentials(ctx context.Context, req *scmv1.RefreshCredentialsRequest) (*scmv1.RefreshCredentialsResponse, error) {
	var v violations
	creds := req.GetConnection().GetCredentials()
	if req.GetConnection() != nil {
		v.checkOAuthClient(creds.GetOauthClient(), false)
		if creds.GetRefreshToken() == "" {
			v.add(fieldRefreshToken, "is required")
		}
		if m := creds.GetAuthMode(); m != scmv1.AuthMode_AUTH_MODE_OAUTH_APP && m != scmv1.AuthMode_AUTH_MODE_UNSPECIFIED {
			v.add(fieldAuthMode, "must be oauth_app: only OAuth credentials refresh")
		}
	}
	c, err := p.connect(req.GetConnection(), connectionRequest{tokenOptional: true}, v)
	if err != nil {
		return nil, err
	}
	old := creds.GetRefreshToken()
	src := c.oauthConfig(creds.GetOauthClient(), nil).TokenSource(c.oauthContext(ctx),
		&oauth2.Token{RefreshToken: old, Expiry: time.Unix(1, 0)})
	tok, err := src.Token()
	if err != nil {
		return nil, c.oauthFailure(ctx, "refresh the OAuth credentials", "refresh_token", err)
	}
	// x/oauth2 keeps the old refresh token when the answer has none.
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.RefreshToken == old {
		return nil, scmerr.New(codes.FailedPrecondition, scmerr.ReasonProviderAPIError,
			"refresh the OAuth credentials on "+c.origin+": GitLab answered without a new refresh token; the old one may no longer work, so reconnect the integration")
	}
	signedIn, err := c.as(tok.AccessToken, tok.RefreshToken, creds.GetOauthClient())
	if err != nil {
		return nil, err
	}
	scopes, err := signedIn.tokenScopes(ctx, tok)
	if err != nil {
		// The new tokens are valid and the old ones are gone: never lose them.
		scopes = nil
	}
	return &scmv1.RefreshCredentialsResponse{Credentials: oauthCredentials(tok, creds.GetOauthClient()), Scopes: scopes}, nil
}

// patRevokeDetail is the answer to revoking a personal token.
const patRevokeDetail = "personal access tokens are never revoked by Oore; revoke it in GitLab if you no longer need it"

// RevokeCredentials revokes an OAuth grant: POST /oauth/revoke with the
// application's credentials, for the refresh token and the access token.
// A personal access token is never revoked (revoked = false).
func (p *Provider) RevokeCredentials(ctx context.Context, req *scmv1.RevokeCredentialsRequest) (*scmv1.RevokeCredentialsResponse, error) {
	creds := req.GetConnection().GetCredentials()
	oauthMode := creds.GetAuthMode() == scmv1.AuthMode_AUTH_MODE_OAUTH_APP
	var v violations
	if oauthMode {
		v.checkOAuthClient(creds.GetOauthClient(), false)
		if creds.GetAccessToken() == "" && creds.GetRefreshToken() == "" {
			v.add(fieldToken, "is required (or the refresh token)")
		}
	}
	c, err := p.connect(req.GetConnection(), connectionRequest{tokenOptional: oauthMode}, v)
	if err != nil {
		return nil, err
	}
	if !oauthMode {
		return &scmv1.RevokeCredentialsResponse{Revoked: false, Detail: patRevokeDetail}, nil
	}
	for _, token := range []string{creds.GetRefreshToken(), creds.GetAccessToken()} {
		if token == "" {
			continue
		}
		if err := c.revoke(ctx, creds.GetOauthClient(), token); err != nil {
			return nil, err
		}
	}
	return &scmv1.RevokeCredentialsResponse{Revoked: true, Detail: "the OAuth grant was revoked in GitLab"}, nil
}

// revoke sends one RFC 7009 revocation.
func (c *connection) revoke(ctx context.Context, client *scmv1.OAuthClient, token string) error {
	const op = "revoke the OAuth grant"
	form := url.Values{"client_id": {client.GetClientId()}, "token": {token}}
	if s := client.GetClientSecret(); s != "" {
		form.Set("client_secret", s)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.origin+"/oauth/revoke", strings.NewReader(form.Encode()))
	if err != nil {
		return scmerr.Newf(codes.Internal, scmerr.ReasonInternal, "%s on %s: build request: %v", op, c.origin, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.once.Do(req)
	if err != nil {
		return c.transportFailure(ctx, op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 300 {
		drainAndClose(resp)
		return nil
	}
	a := &gitlabAnswer{status: resp.StatusCode, header: resp.Header}
	a.body, _ = readLimited(resp, 64<<10)
	if b := a.parsed(); b.Error == "invalid_client" {
		return scmerr.New(codes.Unauthenticated, scmerr.ReasonInvalidClient,
			op+" on "+c.origin+": GitLab refused the OAuth application; check the Application ID and Secret")
	}
	return c.answerFailure(op, a)
}
