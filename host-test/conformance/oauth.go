package conformance

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// oauthCases: BeginOAuth, CompleteOAuth, RefreshCredentials, RevokeCredentials.
func oauthCases() []testCase {
	oauth := []scmv1.Capability{scmv1.Capability_CAPABILITY_OAUTH}
	return []testCase{
		{name: "oauth/begin", needs: oauth, run: caseOAuthBegin},
		{name: "oauth/begin-bad-input", needs: oauth, run: caseOAuthBeginBadInput},
		{name: "oauth/authorization-code-flow", needs: oauth, run: caseOAuthFlow},
		{name: "oauth/bad-grants", needs: oauth, run: caseOAuthBadGrants},
		{name: "oauth/personal-token-never-revoked", needs: oauth, run: caseOAuthPersonalToken},
	}
}

// pkce is a PKCE verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = randomHex(32) // 64 characters of [0-9a-f]
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func (c *C) beginRequest(a *OAuthApp) (*scmv1.BeginOAuthRequest, string) {
	verifier, challenge := pkce()
	return &scmv1.BeginOAuthRequest{
		HostUrl: a.HostURL, ClientId: a.Client.GetClientId(), RedirectUri: a.Client.GetRedirectUri(),
		State: "state-" + randomHex(16), Scopes: a.Scopes, CodeChallenge: challenge, CodeChallengeMethod: "S256",
	}, verifier
}

// oauthConn is the connection CompleteOAuth and RefreshCredentials take.
func oauthConn(a *OAuthApp, creds *scmv1.Credentials) *scmv1.Connection {
	cr := &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_OAUTH_APP, OauthClient: a.Client}
	if creds != nil {
		cr = proto.Clone(creds).(*scmv1.Credentials)
		cr.AuthMode = scmv1.AuthMode_AUTH_MODE_OAUTH_APP
		cr.OauthClient = a.Client
	}
	return &scmv1.Connection{HostUrl: a.HostURL, Tls: a.TLS, Credentials: cr}
}

// caseOAuthBegin: the authorize URL is absolute, carries the client id, the
// redirect URI, the state and the PKCE challenge, and never the client secret.
func caseOAuthBegin(c *C) {
	a := c.oauthApp()
	req, _ := c.beginRequest(a)
	resp, err := c.s.client.BeginOAuth(c.ctx, req)
	if !c.ok("BeginOAuth", err) {
		return
	}
	c.cleanMsg("BeginOAuth's authorize URL", resp)
	u, err := url.Parse(resp.GetAuthorizeUrl())
	if err != nil || !u.IsAbs() {
		c.Fatalf("BeginOAuth's authorize URL is not an absolute URL")
	}
	values := map[string]bool{}
	for _, vs := range u.Query() {
		for _, v := range vs {
			values[v] = true
		}
	}
	for what, v := range map[string]string{"client id": req.ClientId, "redirect URI": req.RedirectUri, "state": req.State, "PKCE challenge": req.CodeChallenge} {
		if !values[v] {
			c.Errorf("BeginOAuth's authorize URL lacks the %s %q", what, v)
		}
	}
}

// caseOAuthBeginBadInput: missing or malformed fields are InvalidArgument.
func caseOAuthBeginBadInput(c *C) {
	a := c.oauthApp()
	variants := map[string]func(r *scmv1.BeginOAuthRequest){
		"no client id":                     func(r *scmv1.BeginOAuthRequest) { r.ClientId = "" },
		"no redirect URI":                  func(r *scmv1.BeginOAuthRequest) { r.RedirectUri = "" },
		"a redirect URI that is not a URL": func(r *scmv1.BeginOAuthRequest) { r.RedirectUri = "not a url" },
		"no state":                         func(r *scmv1.BeginOAuthRequest) { r.State = "" },
		"a 1 MiB state":                    func(r *scmv1.BeginOAuthRequest) { r.State = strings.Repeat("s", oversized) },
		"code_challenge_method plain":      func(r *scmv1.BeginOAuthRequest) { r.CodeChallengeMethod = "plain" },
	}
	for name, host := range c.badHostURLs() {
		variants[name] = func(r *scmv1.BeginOAuthRequest) { r.HostUrl = host }
	}
	for name, mutate := range sortedMap(variants) {
		req, _ := c.beginRequest(a)
		mutate(req)
		_, err := c.s.client.BeginOAuth(c.ctx, req)
		c.code("BeginOAuth with "+name, err, codes.InvalidArgument)
	}
}

// caseOAuthFlow walks the authorization code flow with PKCE: begin,
// approve at the SCM, complete (a code works once), refresh (a wrong client
// secret is refused; new tokens come back), revoke.
func caseOAuthFlow(c *C) {
	a := c.oauthApp()
	req, verifier := c.beginRequest(a)
	begin, err := c.s.client.BeginOAuth(c.ctx, req)
	if !c.ok("BeginOAuth", err) {
		return
	}
	code, state, err := a.Authorize(c.ctx, begin.GetAuthorizeUrl())
	if err != nil {
		c.Fatalf("the backend could not approve the authorize URL: %v", err)
	}
	if state != req.State {
		c.Errorf("the SCM sent state %q back, BeginOAuth was given %q: the authorize URL lost it", state, req.State)
	}
	done, err := c.s.client.CompleteOAuth(c.ctx, &scmv1.CompleteOAuthRequest{Connection: oauthConn(a, nil), Code: code, CodeVerifier: verifier})
	if !c.ok("CompleteOAuth with the approved code", err) {
		return
	}
	creds := done.GetCredentials()
	c.s.secrets.addConnection("the OAuth grant", &scmv1.Connection{Credentials: creds})
	if creds.GetAccessToken() == "" || creds.GetAuthMode() != scmv1.AuthMode_AUTH_MODE_OAUTH_APP {
		c.Errorf("CompleteOAuth answered no access token or an auth mode other than OAUTH_APP (%s)", creds.GetAuthMode())
	}
	if done.GetAccount().GetId() == "" {
		c.Errorf("CompleteOAuth answered no account")
	}
	_, err = c.s.client.CompleteOAuth(c.ctx, &scmv1.CompleteOAuthRequest{Connection: oauthConn(a, nil), Code: code, CodeVerifier: verifier})
	c.code("CompleteOAuth with the same code again", err, codes.FailedPrecondition)
	if c.s.announces(scmv1.Capability_CAPABILITY_VALIDATE_CONNECTION) {
		_, err := c.s.client.ValidateConnection(c.ctx, &scmv1.ValidateConnectionRequest{Connection: oauthConn(a, creds)})
		c.ok("ValidateConnection with the OAuth credentials", err)
	}
	if creds.GetRefreshToken() == "" {
		c.Logf("the grant has no refresh token: refresh not exercised")
	} else {
		wrongClient := oauthConn(a, creds)
		wrongClient.Credentials.OauthClient = proto.Clone(a.Client).(*scmv1.OAuthClient)
		wrongClient.Credentials.OauthClient.ClientSecret = "wrong-" + randomHex(12)
		c.s.secrets.add("a wrong OAuth client secret", wrongClient.Credentials.OauthClient.ClientSecret)
		_, err := c.s.client.RefreshCredentials(c.ctx, &scmv1.RefreshCredentialsRequest{Connection: wrongClient})
		c.code("RefreshCredentials with a wrong client secret", err, codes.Unauthenticated)
		refreshed, err := c.s.client.RefreshCredentials(c.ctx, &scmv1.RefreshCredentialsRequest{Connection: oauthConn(a, creds)})
		if c.ok("RefreshCredentials", err) {
			next := refreshed.GetCredentials()
			c.s.secrets.addConnection("the refreshed OAuth grant", &scmv1.Connection{Credentials: next})
			if next.GetAccessToken() == "" || next.GetRefreshToken() == "" {
				c.Errorf("RefreshCredentials answered no access token or no refresh token")
			}
			creds = next
		}
	}
	revoked, err := c.s.client.RevokeCredentials(c.ctx, &scmv1.RevokeCredentialsRequest{Connection: oauthConn(a, creds)})
	if c.ok("RevokeCredentials of the OAuth grant", err) && !revoked.GetRevoked() {
		c.Errorf("RevokeCredentials of an OAuth grant answered revoked = false (%s)", revoked.GetDetail())
	}
	if c.s.announces(scmv1.Capability_CAPABILITY_VALIDATE_CONNECTION) {
		_, err := c.s.client.ValidateConnection(c.ctx, &scmv1.ValidateConnectionRequest{Connection: oauthConn(a, creds)})
		c.code("ValidateConnection with revoked OAuth credentials", err, codes.Unauthenticated)
	}
}

// caseOAuthBadGrants: missing fields are InvalidArgument; a made-up code
// or refresh token is FailedPrecondition (INVALID_GRANT).
func caseOAuthBadGrants(c *C) {
	a := c.oauthApp()
	_, verifier := pkce()
	bogus := "bogus-" + randomHex(16)
	c.s.secrets.add("a made-up grant", bogus)
	_, err := c.s.client.CompleteOAuth(c.ctx, &scmv1.CompleteOAuthRequest{Connection: oauthConn(a, nil), CodeVerifier: verifier})
	c.code("CompleteOAuth without a code", err, codes.InvalidArgument)
	noClient := oauthConn(a, nil)
	noClient.Credentials.OauthClient = nil
	_, err = c.s.client.CompleteOAuth(c.ctx, &scmv1.CompleteOAuthRequest{Connection: noClient, Code: bogus, CodeVerifier: verifier})
	c.code("CompleteOAuth without the OAuth client", err, codes.InvalidArgument)
	_, err = c.s.client.CompleteOAuth(c.ctx, &scmv1.CompleteOAuthRequest{Connection: oauthConn(a, nil), Code: bogus, CodeVerifier: verifier})
	c.code("CompleteOAuth with a made-up code", err, codes.FailedPrecondition)
	_, err = c.s.client.RefreshCredentials(c.ctx, &scmv1.RefreshCredentialsRequest{Connection: oauthConn(a, nil)})
	c.code("RefreshCredentials without a refresh token", err, codes.InvalidArgument)
	_, err = c.s.client.RefreshCredentials(c.ctx, &scmv1.RefreshCredentialsRequest{Connection: oauthConn(a, &scmv1.Credentials{RefreshToken: bogus})})
	c.code("RefreshCredentials with a made-up refresh token", err, codes.FailedPrecondition)
}

// caseOAuthPersonalToken: RevokeCredentials never revokes a personal token:
// it answers revoked = false and the token keeps working.
func caseOAuthPersonalToken(c *C) {
	tc := c.conn()
	if tc.Connection.GetCredentials().GetAuthMode() != scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN {
		c.Skipf("the backend's connection is not a personal token connection")
	}
	resp, err := c.s.client.RevokeCredentials(c.ctx, &scmv1.RevokeCredentialsRequest{Connection: tc.Connection})
	if c.ok("RevokeCredentials with a personal token", err) && resp.GetRevoked() {
		c.Errorf("RevokeCredentials revoked a personal token (revoked = true): a user's own token is never revoked")
	}
	if c.s.announces(scmv1.Capability_CAPABILITY_VALIDATE_CONNECTION) {
		_, err := c.s.client.ValidateConnection(c.ctx, &scmv1.ValidateConnectionRequest{Connection: tc.Connection})
		c.ok("ValidateConnection after RevokeCredentials of the personal token", err)
	}
}
