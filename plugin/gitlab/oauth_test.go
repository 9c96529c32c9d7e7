package gitlab_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// pkce is a fresh RFC 7636 verifier and its S256 challenge.
func pkce(t *testing.T) (verifier, challenge string) {
	t.Helper()
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

const testState = "state-0123456789abcdef"

// authorize runs the browser's part: BeginOAuth, then GET the authorize URL
// (the simulator's signed-in user approves at once) without following the
// redirect, and read the code from its Location.
func authorize(t *testing.T, plugin scmv1.ProviderServiceClient, sim *gitlabsim.Server, clientID, challenge string) string {
	t.Helper()
	begin, err := plugin.BeginOAuth(context.Background(), &scmv1.BeginOAuthRequest{
		HostUrl: sim.URL, ClientId: clientID, RedirectUri: gitlabsim.DemoRedirectURI, State: testState,
		CodeChallenge: challenge, CodeChallengeMethod: "S256",
	})
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(begin.GetAuthorizeUrl())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("authorize answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != gitlabsim.DemoRedirectURI {
		t.Fatalf("redirected to %s", got)
	}
	if loc.Query().Get("state") != testState || loc.Query().Get("code") == "" {
		t.Fatalf("callback query %q", loc.RawQuery)
	}
	return loc.Query().Get("code")
}

func completeReq(sim *gitlabsim.Server, clientID, secret, code, verifier string) *scmv1.CompleteOAuthRequest {
	return &scmv1.CompleteOAuthRequest{
		Connection: &scmv1.Connection{HostUrl: sim.URL, Credentials: &scmv1.Credentials{
			AuthMode:    scmv1.AuthMode_AUTH_MODE_OAUTH_APP,
			OauthClient: &scmv1.OAuthClient{ClientId: clientID, ClientSecret: secret, RedirectUri: gitlabsim.DemoRedirectURI},
		}},
		Code: code, CodeVerifier: verifier,
	}
}

func refreshReq(hostURL string, creds *scmv1.Credentials, secret string) *scmv1.RefreshCredentialsRequest {
	client := &scmv1.OAuthClient{ClientId: creds.GetOauthClient().GetClientId(), ClientSecret: secret, RedirectUri: creds.GetOauthClient().GetRedirectUri()}
	return &scmv1.RefreshCredentialsRequest{Connection: &scmv1.Connection{HostUrl: hostURL, Credentials: &scmv1.Credentials{
		AuthMode: scmv1.AuthMode_AUTH_MODE_OAUTH_APP, AccessToken: creds.GetAccessToken(), RefreshToken: creds.GetRefreshToken(), OauthClient: client,
	}}}
}

// TestOAuthFlow walks the whole OAuth life of a connection through the
// plugin process against the simulator's Doorkeeper-like provider.
func TestOAuthFlow(t *testing.T) {
	t.Parallel()
	sim, demo := demoSim(t)
	plugin := gitlabPlugin(t)
	ctx := context.Background()

	// The authorize URL GitLab expects.
	verifier, challenge := pkce(t)
	begin, err := plugin.BeginOAuth(ctx, &scmv1.BeginOAuthRequest{
		HostUrl: sim.URL + "/", ClientId: demo.ClientID, RedirectUri: gitlabsim.DemoRedirectURI, State: testState,
		CodeChallenge: challenge, CodeChallengeMethod: "S256",
	})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(begin.GetAuthorizeUrl())
	q := u.Query()
	if u.Scheme+"://"+u.Host+u.Path != sim.URL+"/oauth/authorize" || q.Get("client_id") != demo.ClientID ||
		q.Get("redirect_uri") != gitlabsim.DemoRedirectURI || q.Get("response_type") != "code" || q.Get("state") != testState ||
		q.Get("scope") != "api read_repository" || q.Get("code_challenge") != challenge || q.Get("code_challenge_method") != "S256" {
		t.Fatalf("authorize URL %s", begin.GetAuthorizeUrl())
	}

	// A wrong verifier is refused (on its own code).
	_, otherChallenge := pkce(t)
	wrongCode := authorize(t, plugin, sim, demo.ClientID, otherChallenge)
	_, err = plugin.CompleteOAuth(ctx, completeReq(sim, demo.ClientID, demo.ClientSecret, wrongCode, verifier))
	wantErr(t, err, codes.FailedPrecondition, scmerr.ReasonInvalidGrant, demo.ClientSecret)

	// A wrong client secret: Unauthenticated, and the code is sent once.
	badSecretCode := authorize(t, plugin, sim, demo.ClientID, challenge)
	before := sim.TokenRequests("authorization_code")
	_, err = plugin.CompleteOAuth(ctx, completeReq(sim, demo.ClientID, "gloas-wrong", badSecretCode, verifier))
	d := wantErr(t, err, codes.Unauthenticated, scmerr.ReasonInvalidClient, "gloas-wrong")
	if !strings.Contains(d.Message, "Application ID and Secret") {
		t.Fatalf("message %q", d.Message)
	}
	if n := sim.TokenRequests("authorization_code") - before; n != 1 {
		t.Fatalf("the failed exchange was sent %d times, want once", n)
	}

	// The real exchange.
	code := authorize(t, plugin, sim, demo.ClientID, challenge)
	done, err := plugin.CompleteOAuth(ctx, completeReq(sim, demo.ClientID, demo.ClientSecret, code, verifier))
	if err != nil {
		t.Fatal(err)
	}
	creds := done.GetCredentials()
	if creds.GetAuthMode() != scmv1.AuthMode_AUTH_MODE_OAUTH_APP || creds.GetAccessToken() == "" || creds.GetRefreshToken() == "" {
		t.Fatalf("credentials %v", creds)
	}
	if left := time.Until(time.Unix(creds.GetExpiresAt(), 0)); left < 110*time.Minute || left > 121*time.Minute {
		t.Fatalf("expires in %s, want two hours", left)
	}
	if creds.GetOauthClient().GetClientSecret() != "" || creds.GetOauthClient().GetClientId() != demo.ClientID {
		t.Fatalf("oauth_client %v (the secret must not come back)", creds.GetOauthClient())
	}
	if done.GetAccount().GetUsername() != "demo" || done.GetHostUrl() != sim.URL || !slices.Equal(done.GetScopes(), []string{"api", "read_repository"}) {
		t.Fatalf("got %v", done)
	}
	if _, err := plugin.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: oauthConn(sim.URL, creds.GetAccessToken())}); err != nil {
		t.Fatalf("the new access token does not work: %v", err)
	}

	// The code is single-use.
	_, err = plugin.CompleteOAuth(ctx, completeReq(sim, demo.ClientID, demo.ClientSecret, code, verifier))
	d = wantErr(t, err, codes.FailedPrecondition, scmerr.ReasonInvalidGrant, code)
	if !strings.Contains(d.Message, "start the connection again") {
		t.Fatalf("message %q is not actionable", d.Message)
	}

	// Refresh rotates both tokens.
	refreshed, err := plugin.RefreshCredentials(ctx, refreshReq(sim.URL, creds, demo.ClientSecret))
	if err != nil {
		t.Fatal(err)
	}
	nc := refreshed.GetCredentials()
	if nc.GetAccessToken() == "" || nc.GetAccessToken() == creds.GetAccessToken() || nc.GetRefreshToken() == "" || nc.GetRefreshToken() == creds.GetRefreshToken() {
		t.Fatal("refresh did not rotate the tokens")
	}
	if !slices.Equal(refreshed.GetScopes(), []string{"api", "read_repository"}) || nc.GetExpiresAt() == 0 {
		t.Fatalf("refreshed %v", refreshed)
	}
	if _, err := plugin.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: oauthConn(sim.URL, creds.GetAccessToken())}); scmerr.CodeOf(err) != codes.Unauthenticated {
		t.Fatalf("the old access token still works after the refresh: %v", err)
	}

	// The old refresh token is spent: INVALID_GRANT, sent once.
	before = sim.TokenRequests("refresh_token")
	_, err = plugin.RefreshCredentials(ctx, refreshReq(sim.URL, creds, demo.ClientSecret))
	d = wantErr(t, err, codes.FailedPrecondition, scmerr.ReasonInvalidGrant, creds.GetRefreshToken())
	if !strings.Contains(d.Message, "reconnect") {
		t.Fatalf("message %q", d.Message)
	}
	if n := sim.TokenRequests("refresh_token") - before; n != 1 {
		t.Fatalf("the refresh was sent %d times, want once", n)
	}

	// Revoke; then neither token works.
	revokeConn := refreshReq(sim.URL, nc, demo.ClientSecret).GetConnection()
	revoked, err := plugin.RevokeCredentials(ctx, &scmv1.RevokeCredentialsRequest{Connection: revokeConn})
	if err != nil || !revoked.GetRevoked() {
		t.Fatalf("revoke: %v, %v", revoked, err)
	}
	_, err = plugin.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: oauthConn(sim.URL, nc.GetAccessToken())})
	wantErr(t, err, codes.Unauthenticated, scmerr.ReasonAuthFailed, nc.GetAccessToken())
	_, err = plugin.RefreshCredentials(ctx, refreshReq(sim.URL, nc, demo.ClientSecret))
	wantErr(t, err, codes.FailedPrecondition, scmerr.ReasonInvalidGrant)

	// Revoking with a wrong secret is refused.
	other, err := sim.IssueOAuthToken(demo.ClientID, demo.User.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	wrong := refreshReq(sim.URL, &scmv1.Credentials{AccessToken: other.AccessToken, RefreshToken: other.RefreshToken,
		OauthClient: &scmv1.OAuthClient{ClientId: demo.ClientID}}, "gloas-wrong").GetConnection()
	_, err = plugin.RevokeCredentials(ctx, &scmv1.RevokeCredentialsRequest{Connection: wrong})
	wantErr(t, err, codes.Unauthenticated, scmerr.ReasonInvalidClient, "gloas-wrong", other.AccessToken)

	// A personal token is never revoked.
	pat, err := plugin.RevokeCredentials(ctx, &scmv1.RevokeCredentialsRequest{Connection: patConn(sim.URL, demo.Token)})
	if err != nil || pat.GetRevoked() || !strings.Contains(pat.GetDetail(), "never revoked by Oore") {
		t.Fatalf("revoking a personal token: %v, %v", pat, err)
	}
	if info, _ := sim.PersonalAccessTokenInfo(demo.Token); info.Revoked {
		t.Fatal("the personal token was revoked")
	}
}

// TestOAuthExpiredAccessToken: GitLab's 401 for an expired OAuth token
// becomes TOKEN_EXPIRED, so the host refreshes and retries.
func TestOAuthExpiredAccessToken(t *testing.T) {
	t.Parallel()
	sim, demo := demoSim(t)
	tok, err := sim.IssueOAuthToken(demo.ClientID, demo.User.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	sim.AdvanceTime(2*time.Hour + time.Second)
	plugin := gitlabPlugin(t)
	_, err = list(context.Background(), plugin, &scmv1.ListRepositoriesRequest{Connection: oauthConn(sim.URL, tok.AccessToken)}, nil)
	wantErr(t, err, codes.Unauthenticated, scmerr.ReasonTokenExpired, tok.AccessToken)
	_, err = plugin.ValidateConnection(context.Background(), &scmv1.ValidateConnectionRequest{Connection: oauthConn(sim.URL, tok.AccessToken)})
	wantErr(t, err, codes.Unauthenticated, scmerr.ReasonTokenExpired, tok.AccessToken)

	refreshed, err := plugin.RefreshCredentials(context.Background(), refreshReq(sim.URL, &scmv1.Credentials{
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, OauthClient: &scmv1.OAuthClient{ClientId: demo.ClientID},
	}, demo.ClientSecret))
	if err != nil {
		t.Fatalf("a refresh token outlives its access token: %v", err)
	}
	if _, err := list(context.Background(), plugin, &scmv1.ListRepositoriesRequest{Connection: oauthConn(sim.URL, refreshed.GetCredentials().GetAccessToken())}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestRefreshWithoutNewRefreshToken: an answer that keeps the old refresh
// token (or has none) is an error, and the request was sent once.
func TestRefreshWithoutNewRefreshToken(t *testing.T) {
	t.Parallel()
	var authHeader atomic.Bool
	body := map[string]string{
		"no refresh token":       `{"access_token":"new-access","token_type":"Bearer","expires_in":7200}`,
		"the same refresh token": `{"access_token":"new-access","token_type":"Bearer","expires_in":7200,"refresh_token":"old-refresh-token"}`,
	}
	for name, answer := range body {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var posts atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				posts.Add(1)
				if r.Header.Get("Authorization") != "" {
					authHeader.Store(true)
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(answer))
			}))
			defer srv.Close()
			_, err := gitlabPlugin(t).RefreshCredentials(context.Background(), refreshReq(srv.URL, &scmv1.Credentials{
				RefreshToken: "old-refresh-token", OauthClient: &scmv1.OAuthClient{ClientId: "app"},
			}, "app-secret"))
			wantErr(t, err, codes.FailedPrecondition, scmerr.ReasonProviderAPIError, "old-refresh-token", "new-access", "app-secret")
			if n := posts.Load(); n != 1 {
				t.Fatalf("%d token requests, want 1", n)
			}
		})
	}
	t.Cleanup(func() {
		if authHeader.Load() {
			t.Error("client credentials went in an Authorization header; they must be form parameters (AuthStyleInParams)")
		}
	})
}

func TestBeginOAuthValidation(t *testing.T) {
	t.Parallel()
	p := gitlab.New()
	_, challenge := pkce(t)
	good := func() *scmv1.BeginOAuthRequest {
		return &scmv1.BeginOAuthRequest{
			HostUrl: "https://gitlab.example.com", ClientId: "0123456789abcdef", RedirectUri: "https://ci.example.com/v1/integrations/gitlab/callback",
			State: testState, CodeChallenge: challenge, CodeChallengeMethod: "S256",
		}
	}
	tests := map[string]struct {
		change func(r *scmv1.BeginOAuthRequest)
		fields []string
	}{
		"everything missing": {func(r *scmv1.BeginOAuthRequest) { *r = scmv1.BeginOAuthRequest{} },
			[]string{"client_id", "code_challenge", "code_challenge_method", "host_url", "redirect_uri", "state"}},
		"short state":          {func(r *scmv1.BeginOAuthRequest) { r.State = "abc" }, []string{"state"}},
		"plain PKCE":           {func(r *scmv1.BeginOAuthRequest) { r.CodeChallengeMethod = "plain" }, []string{"code_challenge_method"}},
		"challenge too short":  {func(r *scmv1.BeginOAuthRequest) { r.CodeChallenge = "abc" }, []string{"code_challenge"}},
		"challenge not base64": {func(r *scmv1.BeginOAuthRequest) { r.CodeChallenge = strings.Repeat("+", 43) }, []string{"code_challenge"}},
		"relative redirect":    {func(r *scmv1.BeginOAuthRequest) { r.RedirectUri = "/callback" }, []string{"redirect_uri"}},
		"javascript redirect":  {func(r *scmv1.BeginOAuthRequest) { r.RedirectUri = "javascript:alert(1)" }, []string{"redirect_uri"}},
		"redirect fragment":    {func(r *scmv1.BeginOAuthRequest) { r.RedirectUri = "https://ci.example.com/cb#x" }, []string{"redirect_uri"}},
		"unknown scope":        {func(r *scmv1.BeginOAuthRequest) { r.Scopes = []string{"api", "read_repository", "write_everything"} }, []string{"scopes"}},
		"no read_repository":   {func(r *scmv1.BeginOAuthRequest) { r.Scopes = []string{"api"} }, []string{"scopes"}},
		"no API scope":         {func(r *scmv1.BeginOAuthRequest) { r.Scopes = []string{"read_user", "read_repository"} }, []string{"scopes"}},
		"host with a path":     {func(r *scmv1.BeginOAuthRequest) { r.HostUrl = "https://gitlab.example.com/gitlab" }, []string{"host_url"}},
		"client id with space": {func(r *scmv1.BeginOAuthRequest) { r.ClientId = "a b" }, []string{"client_id"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := good()
			tc.change(req)
			_, err := p.BeginOAuth(context.Background(), req)
			d := wantErr(t, err, codes.InvalidArgument, scmerr.ReasonInvalidInput)
			if got := d.FieldNames(); !slices.Equal(got, tc.fields) {
				t.Fatalf("violations on %v, want %v", got, tc.fields)
			}
		})
	}

	// Host URLs normalise to their origin; scopes dedupe; read_api is enough.
	norm := map[string]string{
		"HTTPS://GitLab.Example.com:443/": "https://gitlab.example.com",
		"http://LOCALHOST:8929":           "http://localhost:8929",
		"http://[::1]:8929/":              "http://[::1]:8929",
		"https://gitlab.example.com:8443": "https://gitlab.example.com:8443",
	}
	for in, want := range norm {
		req := good()
		req.HostUrl = in
		req.Scopes = []string{"read_api", "read_repository", "read_api"}
		resp, err := p.BeginOAuth(context.Background(), req)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		u, _ := url.Parse(resp.GetAuthorizeUrl())
		if got := u.Scheme + "://" + u.Host; got != want || u.Path != "/oauth/authorize" || u.Query().Get("scope") != "read_api read_repository" {
			t.Fatalf("%s: authorize URL %s, want origin %s", in, resp.GetAuthorizeUrl(), want)
		}
	}
}

func TestCompleteAndRefreshValidation(t *testing.T) {
	t.Parallel()
	p := gitlab.New()
	ctx := context.Background()
	_, err := p.CompleteOAuth(ctx, &scmv1.CompleteOAuthRequest{Connection: &scmv1.Connection{HostUrl: "https://gitlab.example.com"}, Code: "x y", CodeVerifier: "short"})
	d := wantErr(t, err, codes.InvalidArgument, scmerr.ReasonInvalidInput)
	if want := []string{"code", "code_verifier", "connection.credentials.oauth_client.client_id", "connection.credentials.oauth_client.redirect_uri"}; !slices.Equal(d.FieldNames(), want) {
		t.Fatalf("violations on %v, want %v", d.FieldNames(), want)
	}
	client := &scmv1.Credentials{OauthClient: &scmv1.OAuthClient{ClientId: "app", RedirectUri: "https://ci.example.com/cb"}}
	for name, tc := range map[string]struct{ code, verifier, field string }{
		"non-ASCII verifier":  {"code", strings.Repeat("é", 100), "code_verifier"},
		"verifier too long":   {"code", strings.Repeat("a", 129), "code_verifier"},
		"code with a newline": {"co\nde", strings.Repeat("a", 43), "code"},
		"non-ASCII code":      {strings.Repeat("é", 600), strings.Repeat("a", 43), "code"},
	} {
		_, err := p.CompleteOAuth(ctx, &scmv1.CompleteOAuthRequest{Connection: &scmv1.Connection{HostUrl: "https://gitlab.example.com", Credentials: client},
			Code: tc.code, CodeVerifier: tc.verifier})
		if d := wantErr(t, err, codes.InvalidArgument, scmerr.ReasonInvalidInput); !slices.Contains(d.FieldNames(), tc.field) {
			t.Fatalf("%s: violations on %v, want %s", name, d.FieldNames(), tc.field)
		}
	}
	_, err = p.RefreshCredentials(ctx, &scmv1.RefreshCredentialsRequest{Connection: &scmv1.Connection{HostUrl: "https://gitlab.example.com",
		Credentials: &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN}}})
	d = wantErr(t, err, codes.InvalidArgument, scmerr.ReasonInvalidInput)
	if want := []string{"connection.credentials.auth_mode", "connection.credentials.oauth_client.client_id", "connection.credentials.refresh_token"}; !slices.Equal(d.FieldNames(), want) {
		t.Fatalf("violations on %v, want %v", d.FieldNames(), want)
	}
}
