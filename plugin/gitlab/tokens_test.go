package gitlab_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// The end-to-end tests of this package talk to the real oore-scm-gitlab
// binary, launched the way a host launches it, which talks to the GitLab
// simulator (a test double of GitLab, host-test/gitlabsim). The binary is
// built once per test binary.

var pluginBuild struct {
	once sync.Once
	dir  string
	m    *manifest.Manifest
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "oore-scm-gitlab-test-")
	if err != nil {
		panic(err)
	}
	pluginBuild.dir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// gitlabPlugin launches the real plugin (built on first use) with extra
// environment, and stops it when the test ends.
func gitlabPlugin(t *testing.T, env ...string) scmv1.ProviderServiceClient {
	t.Helper()
	pluginBuild.once.Do(func() { pluginBuild.m = plugintest.BuildGitLab(t, pluginBuild.dir) })
	if pluginBuild.m == nil {
		t.Fatal("the plugin did not build (see the first test that tried)")
	}
	p, err := launcher.Launch(context.Background(), pluginBuild.m, launcher.Options{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p.Provider()
}

// demoSim is a simulator seeded with the demo data set.
func demoSim(t *testing.T) (*gitlabsim.Server, gitlabsim.Demo) {
	t.Helper()
	sim := gitlabsim.NewTestServer(t, gitlabsim.Options{})
	return sim, sim.SeedDemo()
}

func patConn(hostURL, token string) *scmv1.Connection {
	return &scmv1.Connection{
		HostUrl:     hostURL,
		Credentials: &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, AccessToken: token},
	}
}

func oauthConn(hostURL, token string) *scmv1.Connection {
	return &scmv1.Connection{
		HostUrl:     hostURL,
		Credentials: &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_OAUTH_APP, AccessToken: token},
	}
}

// closedPort is an address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// wantErr checks an error's code and reason, and that it holds no secret.
func wantErr(t *testing.T, err error, code codes.Code, reason scmerr.Reason, secrets ...string) scmerr.Details {
	t.Helper()
	d := scmerr.Parse(err)
	if d.Code != code || d.Reason != reason {
		t.Fatalf("got %v %s (%q), want %v %s", d.Code, d.Reason, d.Message, code, reason)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error %q holds a secret", err)
		}
	}
	return d
}

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func TestValidateConnection(t *testing.T) {
	t.Parallel()
	sim, demo := demoSim(t)
	plugin := gitlabPlugin(t)
	ctx := context.Background()
	yearOn := sim.Now().AddDate(1, 0, 0)

	t.Run("personal token with api and read_repository", func(t *testing.T) {
		t.Parallel()
		// The URL as a person might type it: upper case, trailing slash.
		resp, err := plugin.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{
			Connection: patConn(strings.ToUpper(sim.URL[:4])+sim.URL[4:]+"/", demo.Token),
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetHostUrl() != sim.URL {
			t.Errorf("host_url = %q, want %q", resp.GetHostUrl(), sim.URL)
		}
		a := resp.GetAccount()
		if a.GetId() != strconv.FormatInt(demo.User.ID, 10) || a.GetUsername() != "demo" || a.GetName() != "Demo User" ||
			a.GetWebUrl() != sim.URL+"/demo" || !strings.HasPrefix(a.GetAvatarUrl(), "https://") {
			t.Errorf("account = %v", a)
		}
		if !slices.Equal(resp.GetScopes(), []string{"api", "read_repository"}) {
			t.Errorf("scopes = %v", resp.GetScopes())
		}
		if want := day(yearOn).Unix(); resp.GetExpiresAt() != want {
			t.Errorf("expires_at = %d, want %d (00:00 UTC of the expiry date)", resp.GetExpiresAt(), want)
		}
		if resp.GetTokenName() != "oore-demo" {
			t.Errorf("token_name = %q", resp.GetTokenName())
		}
		for _, c := range []scmv1.Capability{scmv1.Capability_CAPABILITY_LIST_REPOSITORIES, scmv1.Capability_CAPABILITY_CLONE_CREDENTIALS,
			scmv1.Capability_CAPABILITY_PROJECT_WEBHOOKS, scmv1.Capability_CAPABILITY_COMMIT_STATUS} {
			if !slices.Contains(resp.GetCapabilities(), c) {
				t.Errorf("capabilities %v lack %v", resp.GetCapabilities(), c)
			}
		}
	})

	t.Run("read_api token: no webhooks, no commit statuses", func(t *testing.T) {
		t.Parallel()
		resp, err := plugin.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: patConn(sim.URL, demo.ReadOnlyToken)})
		if err != nil {
			t.Fatal(err)
		}
		caps := resp.GetCapabilities()
		if slices.Contains(caps, scmv1.Capability_CAPABILITY_PROJECT_WEBHOOKS) || slices.Contains(caps, scmv1.Capability_CAPABILITY_COMMIT_STATUS) ||
			!slices.Contains(caps, scmv1.Capability_CAPABILITY_LIST_REPOSITORIES) {
			t.Fatalf("capabilities = %v", caps)
		}
	})

	t.Run("OAuth access token", func(t *testing.T) {
		t.Parallel()
		tok, err := sim.IssueOAuthToken(demo.ClientID, demo.User.ID, []string{"api", "read_repository"})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := plugin.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: oauthConn(sim.URL, tok.AccessToken)})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetAccount().GetUsername() != "demo" || !slices.Equal(resp.GetScopes(), []string{"api", "read_repository"}) {
			t.Fatalf("got %v", resp)
		}
		if d := time.Until(time.Unix(resp.GetExpiresAt(), 0)); d < 110*time.Minute || d > 121*time.Minute {
			t.Fatalf("expires_at is %s away, want about two hours", d)
		}
	})

	refusals := map[string]struct {
		conn    func() *scmv1.Connection
		code    codes.Code
		reason  scmerr.Reason
		missing string
		says    string
	}{
		"revoked token": {
			conn: func() *scmv1.Connection {
				return patConn(sim.URL, sim.AddPersonalAccessToken(demo.User.ID, "revoked", []string{"api", "read_repository"}, &yearOn, true))
			},
			code: codes.Unauthenticated, reason: scmerr.ReasonAuthFailed, says: "revoked",
		},
		"expired token": {
			conn: func() *scmv1.Connection {
				yesterday := sim.Now().AddDate(0, 0, -1)
				return patConn(sim.URL, sim.AddPersonalAccessToken(demo.User.ID, "expired", []string{"api", "read_repository"}, &yesterday, false))
			},
			code: codes.Unauthenticated, reason: scmerr.ReasonAuthFailed, says: "expired",
		},
		"unknown token": {
			conn: func() *scmv1.Connection { return patConn(sim.URL, "glpat-doesnotexist0000") },
			code: codes.Unauthenticated, reason: scmerr.ReasonAuthFailed, says: "rejected",
		},
		"no read_repository": {
			conn: func() *scmv1.Connection {
				return patConn(sim.URL, sim.AddPersonalAccessToken(demo.User.ID, "api-only", []string{"api"}, &yearOn, false))
			},
			code: codes.PermissionDenied, reason: scmerr.ReasonScopeMissing, missing: "read_repository", says: "read_repository",
		},
		"no API scope": {
			conn: func() *scmv1.Connection {
				return patConn(sim.URL, sim.AddPersonalAccessToken(demo.User.ID, "git-only", []string{"read_repository"}, &yearOn, false))
			},
			code: codes.PermissionDenied, reason: scmerr.ReasonScopeMissing, missing: "api|read_api", says: "api (or read_api)",
		},
		"only read_user": {
			conn: func() *scmv1.Connection {
				return patConn(sim.URL, sim.AddPersonalAccessToken(demo.User.ID, "profile", []string{"read_user"}, &yearOn, false))
			},
			code: codes.PermissionDenied, reason: scmerr.ReasonScopeMissing, missing: "read_repository,api|read_api", says: "read_repository and api",
		},
		"unreachable host": {
			conn: func() *scmv1.Connection { return patConn("http://"+closedPort(t), demo.Token) },
			code: codes.Unavailable, reason: scmerr.ReasonUnreachable, says: "connection refused",
		},
		"https to a plain-HTTP port": {
			conn: func() *scmv1.Connection {
				return patConn(strings.Replace(sim.URL, "http://", "https://", 1), demo.Token)
			},
			code: codes.Unavailable, reason: scmerr.ReasonUnreachable, says: "TLS",
		},
		"bad host URL": {
			conn: func() *scmv1.Connection { return patConn("javascript:alert(1)", demo.Token) },
			code: codes.InvalidArgument, reason: scmerr.ReasonInvalidInput, says: "connection.host_url",
		},
		"missing token": {
			conn: func() *scmv1.Connection { return patConn(sim.URL, "") },
			code: codes.InvalidArgument, reason: scmerr.ReasonInvalidInput, says: "connection.credentials.access_token: is required",
		},
	}
	for name, tc := range refusals {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conn := tc.conn()
			_, err := plugin.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: conn})
			d := wantErr(t, err, tc.code, tc.reason, conn.GetCredentials().GetAccessToken())
			if tc.missing != "" && d.Metadata["missing_scopes"] != tc.missing {
				t.Errorf("missing_scopes = %q, want %q", d.Metadata["missing_scopes"], tc.missing)
			}
			if !strings.Contains(d.Message, tc.says) {
				t.Errorf("message %q does not say %q", d.Message, tc.says)
			}
			if tc.code == codes.Unavailable && !strings.Contains(d.Message, strings.TrimPrefix(strings.TrimPrefix(conn.GetHostUrl(), "http://"), "https://")) {
				t.Errorf("message %q does not name the host", d.Message)
			}
		})
	}
}

func TestValidateConnectionRetriesAndRateLimits(t *testing.T) {
	t.Parallel()
	plugin := gitlabPlugin(t)
	ctx := context.Background()

	t.Run("429 with Retry-After is waited out", func(t *testing.T) {
		t.Parallel()
		sim, demo := demoSim(t)
		sim.RateLimitNext(1, time.Second)
		start := time.Now()
		if _, err := plugin.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: patConn(sim.URL, demo.Token)}); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) < 900*time.Millisecond {
			t.Fatalf("answered after %s: Retry-After was not honoured", time.Since(start))
		}
	})
	t.Run("429 beyond the budget is ResourceExhausted with RetryInfo", func(t *testing.T) {
		t.Parallel()
		sim, demo := demoSim(t)
		sim.RateLimitNext(1, time.Minute)
		start := time.Now()
		_, err := plugin.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: patConn(sim.URL, demo.Token)})
		d := wantErr(t, err, codes.ResourceExhausted, scmerr.ReasonRateLimited, demo.Token)
		if d.RetryAfter < 50*time.Second || d.RetryAfter > time.Minute {
			t.Fatalf("RetryInfo = %s, want about a minute", d.RetryAfter)
		}
		if time.Since(start) > 8*time.Second {
			t.Fatalf("waited %s for a reset that could not fit the budget", time.Since(start))
		}
	})
	t.Run("5xx on GET is retried", func(t *testing.T) {
		t.Parallel()
		sim, demo := demoSim(t)
		sim.FailNext(2, http.StatusBadGateway)
		if _, err := plugin.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: patConn(sim.URL, demo.Token)}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("persistent 5xx is Unavailable", func(t *testing.T) {
		t.Parallel()
		sim, demo := demoSim(t)
		sim.FailNext(10, http.StatusServiceUnavailable)
		_, err := plugin.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: patConn(sim.URL, demo.Token)})
		d := wantErr(t, err, codes.Unavailable, scmerr.ReasonUnreachable, demo.Token)
		if !strings.Contains(d.Message, "503") {
			t.Fatalf("message %q does not give GitLab's status", d.Message)
		}
		if n := sim.Requests("GET", "/api/v4/"); n != 3 {
			t.Fatalf("%d requests, want 3 tries", n)
		}
	})
}

func TestCustomCA(t *testing.T) {
	t.Parallel()
	sim := gitlabsim.NewTLSTestServer(t, gitlabsim.Options{})
	demo := sim.SeedDemo()
	plugin := gitlabPlugin(t)
	ctx := context.Background()

	conn := patConn(sim.URL, demo.Token)
	_, err := plugin.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: conn})
	d := wantErr(t, err, codes.Unavailable, scmerr.ReasonUnreachable, demo.Token)
	if !strings.Contains(d.Message, "certificate") {
		t.Fatalf("message %q does not mention the certificate", d.Message)
	}

	conn.Tls = &scmv1.TLSSettings{CaBundlePem: sim.CACertPEM()}
	resp, err := plugin.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: conn})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAccount().GetUsername() != "demo" {
		t.Fatalf("account = %v", resp.GetAccount())
	}

	insecure := patConn(sim.URL, demo.Token)
	insecure.Tls = &scmv1.TLSSettings{InsecureSkipVerify: true}
	if _, err := plugin.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: insecure}); err != nil {
		t.Fatalf("insecure_skip_verify: %v", err)
	}

	bad := patConn(sim.URL, demo.Token)
	bad.Tls = &scmv1.TLSSettings{CaBundlePem: []byte("not a certificate")}
	_, err = plugin.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: bad})
	d = wantErr(t, err, codes.InvalidArgument, scmerr.ReasonInvalidInput)
	if len(d.Fields) != 1 || d.Fields[0].Field != "connection.tls.ca_bundle_pem" {
		t.Fatalf("fields = %v", d.Fields)
	}
}

// TestRedirectsAreNeverFollowed: a host URL that redirects is refused, and
// the token never reaches the redirect's target.
func TestRedirectsAreNeverFollowed(t *testing.T) {
	t.Parallel()
	var reached atomic.Int32
	var leaked atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		if r.Header.Get("Private-Token") != "" || r.Header.Get("Authorization") != "" || r.URL.RawQuery != "" {
			leaked.Store(true)
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"id":1,"name":"x","scopes":["api","read_repository"],"active":true}`))
	}))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusFound)
	}))
	defer redirector.Close()

	plugin := gitlabPlugin(t)
	const token = "glpat-redirectsecret000"
	for _, conn := range []*scmv1.Connection{patConn(redirector.URL, token), oauthConn(redirector.URL, token)} {
		_, err := plugin.ValidateConnection(context.Background(), &scmv1.ValidateConnectionRequest{Connection: conn})
		d := wantErr(t, err, codes.InvalidArgument, scmerr.ReasonInvalidInput, token)
		if !strings.Contains(d.Message, "redirects (HTTP 302 to "+target.URL) {
			t.Fatalf("message %q does not explain the redirect", d.Message)
		}
		if len(d.Fields) != 1 || d.Fields[0].Field != "connection.host_url" {
			t.Fatalf("fields = %v", d.Fields)
		}
	}
	if reached.Load() != 0 || leaked.Load() {
		t.Fatalf("the redirect target got %d requests (token leaked: %v)", reached.Load(), leaked.Load())
	}
}

func TestCheckCredentials(t *testing.T) {
	t.Parallel()
	sim, demo := demoSim(t)
	plugin := gitlabPlugin(t)
	ctx := context.Background()
	now := sim.Now()
	at := func(days int) *time.Time { d := now.AddDate(0, 0, days); return &d }
	token := func(days int, scopes []string, revoked bool) string {
		return sim.AddPersonalAccessToken(demo.User.ID, "check", scopes, at(days), revoked)
	}
	full := []string{"api", "read_repository"}
	expiredOAuth, err := sim.IssueOAuthToken(demo.ClientID, demo.User.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	revokedOAuth, err := sim.IssueOAuthToken(demo.ClientID, demo.User.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	sim.RevokeToken(revokedOAuth.AccessToken)
	// Let the simulator's clock pass the OAuth tokens' two hours (personal
	// tokens above keep a year or more), then issue a live one.
	sim.AdvanceTime(2*time.Hour + time.Minute)
	liveOAuth, err := sim.IssueOAuthToken(demo.ClientID, demo.User.ID, nil)
	if err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		conn      *scmv1.Connection
		want      scmv1.CredentialStatus
		expiresAt int64
		says      string
	}{
		"valid":          {conn: patConn(sim.URL, token(200, full, false)), want: scmv1.CredentialStatus_CREDENTIAL_STATUS_VALID, expiresAt: day(*at(200)).Unix(), says: "valid until"},
		"expiring":       {conn: patConn(sim.URL, token(10, full, false)), want: scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRING, expiresAt: day(*at(10)).Unix(), says: "expires in"},
		"expired":        {conn: patConn(sim.URL, token(-2, full, false)), want: scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRED, says: "expired"},
		"revoked":        {conn: patConn(sim.URL, token(200, full, true)), want: scmv1.CredentialStatus_CREDENTIAL_STATUS_REJECTED, says: "revoked"},
		"unknown token":  {conn: patConn(sim.URL, "glpat-neverissued00000"), want: scmv1.CredentialStatus_CREDENTIAL_STATUS_REJECTED, says: "rejected"},
		"missing scopes": {conn: patConn(sim.URL, token(200, []string{"read_api"}, false)), want: scmv1.CredentialStatus_CREDENTIAL_STATUS_REJECTED, says: "read_repository"},
		"unreachable":    {conn: patConn("http://"+closedPort(t), demo.Token), want: scmv1.CredentialStatus_CREDENTIAL_STATUS_UNKNOWN, says: "connection refused"},
		"OAuth valid":    {conn: oauthConn(sim.URL, liveOAuth.AccessToken), want: scmv1.CredentialStatus_CREDENTIAL_STATUS_VALID},
		"OAuth revoked":  {conn: oauthConn(sim.URL, revokedOAuth.AccessToken), want: scmv1.CredentialStatus_CREDENTIAL_STATUS_REJECTED, says: "revoked"},
		"OAuth expired":  {conn: oauthConn(sim.URL, expiredOAuth.AccessToken), want: scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRED, says: "refresh"},
		"OAuth unknown":  {conn: oauthConn(sim.URL, "not-a-token"), want: scmv1.CredentialStatus_CREDENTIAL_STATUS_REJECTED},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp, err := plugin.CheckCredentials(ctx, &scmv1.CheckCredentialsRequest{Connection: tc.conn})
			if err != nil {
				t.Fatalf("CheckCredentials failed (it must classify instead): %v", err)
			}
			if resp.GetStatus() != tc.want {
				t.Fatalf("status = %v (%s), want %v", resp.GetStatus(), resp.GetDetail(), tc.want)
			}
			if tc.expiresAt != 0 && resp.GetExpiresAt() != tc.expiresAt {
				t.Errorf("expires_at = %d, want %d", resp.GetExpiresAt(), tc.expiresAt)
			}
			if !strings.Contains(resp.GetDetail(), tc.says) {
				t.Errorf("detail %q does not say %q", resp.GetDetail(), tc.says)
			}
			if tok := tc.conn.GetCredentials().GetAccessToken(); strings.Contains(resp.GetDetail(), tok) {
				t.Errorf("detail holds the token")
			}
		})
	}

	t.Run("rate limited is unknown", func(t *testing.T) {
		sim2, demo2 := demoSim(t)
		sim2.RateLimitNext(1, time.Minute)
		resp, err := plugin.CheckCredentials(ctx, &scmv1.CheckCredentialsRequest{Connection: patConn(sim2.URL, demo2.Token)})
		if err != nil || resp.GetStatus() != scmv1.CredentialStatus_CREDENTIAL_STATUS_UNKNOWN {
			t.Fatalf("got %v, %v; want UNKNOWN", resp, err)
		}
	})
	t.Run("bad input is still an error", func(t *testing.T) {
		_, err := plugin.CheckCredentials(ctx, &scmv1.CheckCredentialsRequest{Connection: patConn("http://gitlab.example.com", demo.Token)})
		wantErr(t, err, codes.InvalidArgument, scmerr.ReasonInvalidInput, demo.Token)
	})
}

// TestCheckCredentialsExpiryWindow uses the provider's injectable clock
// in-process to pin the 30-day boundary.
func TestCheckCredentialsExpiryWindow(t *testing.T) {
	t.Parallel()
	sim, demo := demoSim(t)
	expiry := day(sim.Now().AddDate(0, 2, 0))
	token := sim.AddPersonalAccessToken(demo.User.ID, "window", []string{"api", "read_repository"}, &expiry, false)
	tests := map[string]struct {
		now  time.Time
		want scmv1.CredentialStatus
	}{
		"31 days before":         {expiry.Add(-31 * 24 * time.Hour), scmv1.CredentialStatus_CREDENTIAL_STATUS_VALID},
		"exactly 30 days before": {expiry.Add(-30 * 24 * time.Hour), scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRING},
		"one second before":      {expiry.Add(-time.Second), scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRING},
		"at expiry":              {expiry, scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRED},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := gitlab.New(gitlab.WithClock(func() time.Time { return tc.now }))
			resp, err := p.CheckCredentials(context.Background(), &scmv1.CheckCredentialsRequest{Connection: patConn(sim.URL, token)})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetStatus() != tc.want || resp.GetExpiresAt() != expiry.Unix() {
				t.Fatalf("got %v at %d (%s), want %v at %d", resp.GetStatus(), resp.GetExpiresAt(), resp.GetDetail(), tc.want, expiry.Unix())
			}
		})
	}
}
