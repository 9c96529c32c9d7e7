package credsource_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/shared/credsource"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// These tests run the real GitLab plugin as a subprocess, launched the way a
// host launches it, against the GitLab simulator (a test double of GitLab,
// with its OAuth provider and refresh-token rotation).

// Access-token lifetimes in these tests. The token the OAuth flow issues
// lives firstLifetime: less than the Source's 60 s skew, so it is due for
// refreshing at once. Refreshed tokens live GitLab's two hours.
//
// The plugin turns GitLab's expires_in into expires_at with its own clock
// (the real one), so the simulator's clock may move ahead (AdvanceTime, to
// make GitLab refuse the first token) by far less than refreshedLifetime
// without a refreshed token looking due to the host.
const (
	firstLifetime     = 30 * time.Second
	refreshedLifetime = 2 * time.Hour
)

// e2eHost is one simulated GitLab and a host's view of one OAuth integration on it.
type e2eHost struct {
	sim   *gitlabsim.Server
	demo  gitlabsim.Demo
	prov  scmv1.ProviderServiceClient
	store *credsource.MemoryStore
	id    string
}

func launchGitLabPlugin(t *testing.T) scmv1.ProviderServiceClient {
	t.Helper()
	m := plugintest.BuildGitLab(t, t.TempDir())
	p, err := launcher.Launch(context.Background(), m, launcher.Options{Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatalf("launch the gitlab plugin: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p.Provider()
}

// connect runs the OAuth flow a host runs: BeginOAuth, the browser at the
// simulator's /oauth/authorize, the redirect with the code, CompleteOAuth;
// and stores the credentials.
func connect(t *testing.T, prov scmv1.ProviderServiceClient) *e2eHost {
	t.Helper()
	ctx := context.Background()
	sim := gitlabsim.NewTestServer(t, gitlabsim.Options{})
	demo := sim.SeedDemo()
	sim.SetAccessTokenLifetime(firstLifetime)
	h := &e2eHost{sim: sim, demo: demo, prov: prov, store: credsource.NewMemoryStore(), id: "gitlab-integration-1"}

	verifier := randomString(t)
	state := randomString(t)
	sum := sha256.Sum256([]byte(verifier))
	begin, err := prov.BeginOAuth(ctx, &scmv1.BeginOAuthRequest{
		HostUrl:             sim.URL,
		ClientId:            demo.ClientID,
		RedirectUri:         gitlabsim.DemoRedirectURI,
		State:               state,
		CodeChallenge:       base64.RawURLEncoding.EncodeToString(sum[:]),
		CodeChallengeMethod: "S256",
	})
	if err != nil {
		t.Fatalf("BeginOAuth: %v", err)
	}
	code := authorize(t, begin.GetAuthorizeUrl(), state)
	client := &scmv1.OAuthClient{ClientId: demo.ClientID, ClientSecret: demo.ClientSecret, RedirectUri: gitlabsim.DemoRedirectURI}
	done, err := prov.CompleteOAuth(ctx, &scmv1.CompleteOAuthRequest{
		Connection: &scmv1.Connection{
			HostUrl:     sim.URL,
			Credentials: &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_OAUTH_APP, OauthClient: client},
		},
		Code:         code,
		CodeVerifier: verifier,
	})
	if err != nil {
		t.Fatalf("CompleteOAuth: %v", err)
	}
	creds := done.GetCredentials()
	if creds.GetAccessToken() == "" || creds.GetRefreshToken() == "" || creds.GetExpiresAt() == 0 {
		t.Fatalf("CompleteOAuth gave incomplete credentials (access %t, refresh %t, expires_at %d)",
			creds.GetAccessToken() != "", creds.GetRefreshToken() != "", creds.GetExpiresAt())
	}
	if creds.GetOauthClient().GetClientSecret() != "" {
		t.Errorf("CompleteOAuth answered with the client secret")
	}
	creds.OauthClient = client // the host keeps its application's configuration
	if err := h.store.Save(ctx, h.id, creds); err != nil {
		t.Fatal(err)
	}
	sim.SetAccessTokenLifetime(refreshedLifetime)
	return h
}

// authorize plays the browser: it opens the authorize URL (the demo user is
// signed in to the simulator) and reads the code from the redirect.
func authorize(t *testing.T, authorizeURL, state string) string {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(authorizeURL)
	if err != nil {
		t.Fatalf("open the authorize URL: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize answered %s, want a redirect", resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Query().Get("state"); got != state {
		t.Fatalf("redirect state = %q", got)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("redirect without a code: %s", loc.Query().Get("error"))
	}
	return code
}

// randomString is 43 unguessable URL-safe characters (a PKCE verifier, an
// OAuth state).
func randomString(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// source is the host's credential source over the simulator's clock (plus
// hostClockOffset, to model a host whose clock is off).
func (h *e2eHost) source(hostClockOffset time.Duration) *credsource.Source {
	return h.sourceOver(h.store, hostClockOffset)
}

// sourceOver is source over another view of the host's store (one that
// fails, say).
func (h *e2eHost) sourceOver(store credsource.Store, hostClockOffset time.Duration, opts ...credsource.Option) *credsource.Source {
	refresh := func(ctx context.Context, creds *scmv1.Credentials) (*scmv1.Credentials, error) {
		resp, err := h.prov.RefreshCredentials(ctx, &scmv1.RefreshCredentialsRequest{
			Connection: &scmv1.Connection{HostUrl: h.sim.URL, Credentials: creds},
		})
		if err != nil {
			return nil, err
		}
		return resp.GetCredentials(), nil
	}
	opts = append([]credsource.Option{credsource.WithClock(func() time.Time { return h.sim.Now().Add(hostClockOffset) })}, opts...)
	return credsource.New(store, refresh, opts...)
}

// apiCall is what a host does for any GitLab call: fresh credentials from
// the source, the call, and when GitLab refused the OAuth access token, one
// forced refresh and one retry. Refused means expired (TOKEN_EXPIRED) or
// revoked (AUTH_FAILED): a refresh revokes the access token it replaces, so a
// call still in flight with it when another caller refreshed is refused as
// revoked, and ForceRefresh then hands it the replacement. Even calls
// validate the connection, odd ones list repositories.
func (h *e2eHost) apiCall(ctx context.Context, src *credsource.Source, n int) error {
	creds, err := src.Credentials(ctx, h.id)
	if err != nil {
		return err
	}
	err = h.call(ctx, creds, n)
	if scmerr.Is(err, scmerr.ReasonTokenExpired) || scmerr.Is(err, scmerr.ReasonAuthFailed) {
		if creds, err = src.ForceRefresh(ctx, h.id, creds); err != nil {
			return err
		}
		err = h.call(ctx, creds, n)
	}
	return err
}

func (h *e2eHost) call(ctx context.Context, creds *scmv1.Credentials, n int) error {
	conn := &scmv1.Connection{HostUrl: h.sim.URL, Credentials: creds}
	if n%2 == 0 {
		resp, err := h.prov.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: conn})
		if err != nil {
			return fmt.Errorf("validate connection: %w", err)
		}
		if resp.GetAccount().GetUsername() != "demo" {
			return fmt.Errorf("validate connection: account %q, want demo", resp.GetAccount().GetUsername())
		}
		return nil
	}
	stream, err := h.prov.ListRepositories(ctx, &scmv1.ListRepositoriesRequest{Connection: conn})
	if err != nil {
		return fmt.Errorf("list repositories: %w", err)
	}
	repos := 0
	for {
		page, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("list repositories: %w", err)
		}
		repos += len(page.GetRepositories())
	}
	if repos == 0 {
		return errors.New("list repositories: none listed")
	}
	return nil
}

// concurrentAPICalls runs n API calls at once and returns their errors.
func (h *e2eHost) concurrentAPICalls(src *credsource.Source, n int) []error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = h.apiCall(ctx, src, i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func TestEndToEndRefreshThroughTheGitLabPlugin(t *testing.T) {
	t.Parallel()
	prov := launchGitLabPlugin(t)

	t.Run("concurrent calls while the token expires share one refresh", func(t *testing.T) {
		t.Parallel()
		tests := map[string]struct {
			advance         time.Duration // how far GitLab's clock moves after connecting
			hostClockOffset time.Duration // the host's clock against GitLab's
		}{
			// About 30 s left: within the 60 s skew, refreshed before use.
			"within the skew": {},
			// GitLab already refuses the first token.
			"already expired": {advance: firstLifetime + 10*time.Second},
			// The host's clock is an hour behind: it believes the token
			// fresh, GitLab says TOKEN_EXPIRED, and ForceRefresh replaces it.
			"host clock behind GitLab's": {advance: firstLifetime + 10*time.Second, hostClockOffset: -time.Hour},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				const calls = 50
				h := connect(t, prov)
				before := h.store.Stored(h.id)
				src := h.source(tc.hostClockOffset)
				h.sim.AdvanceTime(tc.advance)

				for i, err := range h.concurrentAPICalls(src, calls) {
					if err != nil {
						t.Errorf("call %d: %v", i, err)
					}
				}
				if n := h.sim.TokenRequests("refresh_token"); n != 1 {
					t.Errorf("refresh requests that reached GitLab = %d, want 1", n)
				}
				after := h.store.Stored(h.id)
				if after.GetAccessToken() == before.GetAccessToken() || after.GetRefreshToken() == before.GetRefreshToken() {
					t.Errorf("the store does not hold the rotated tokens")
				}
				if want := time.Now().Add(refreshedLifetime).Unix(); after.GetExpiresAt() < want-10 || after.GetExpiresAt() > want+10 {
					t.Errorf("stored expires_at = %d, want about %d", after.GetExpiresAt(), want)
				}
				if !proto.Equal(after.GetOauthClient(), before.GetOauthClient()) {
					t.Errorf("the OAuth client changed")
				}
				if _, marked := h.store.ReconnectReason(h.id); marked {
					t.Errorf("the integration was marked for reconnection")
				}
			})
		}
	})

	t.Run("a save that fails keeps the rotated tokens", func(t *testing.T) {
		t.Parallel()
		const calls = 50
		h := connect(t, prov)
		before := h.store.Stored(h.id)
		store := newFlakyStore(h.store)
		store.failNextSaves(-1)
		src := h.sourceOver(store, 0, fastRetry) // the first token is due for refreshing

		// GitLab rotated the tokens, the database refuses them: every call
		// still works, with the new access token.
		for i, err := range h.concurrentAPICalls(src, calls) {
			if err != nil {
				t.Errorf("call %d while the save fails: %v", i, err)
			}
		}
		if n := h.sim.TokenRequests("refresh_token"); n != 1 {
			t.Errorf("refresh requests that reached GitLab = %d, want 1", n)
		}
		if !proto.Equal(h.store.Stored(h.id), before) {
			t.Fatalf("the store changed although every save failed")
		}
		eventually(t, "the save to be retried", func() bool { return store.saveAttempts.Load() >= 3 })

		store.failNextSaves(0)
		eventually(t, "the retried save to land", func() bool { return !credsource.Unsaved(src, h.id) })
		after := h.store.Stored(h.id)
		if after.GetAccessToken() == before.GetAccessToken() || after.GetRefreshToken() == before.GetRefreshToken() {
			t.Fatalf("the store does not hold the rotated tokens")
		}
		if !proto.Equal(after.GetOauthClient(), before.GetOauthClient()) {
			t.Errorf("the OAuth client changed")
		}
		for i, err := range h.concurrentAPICalls(src, 10) {
			if err != nil {
				t.Errorf("call %d after the save: %v", i, err)
			}
		}
		if n := h.sim.TokenRequests("refresh_token"); n != 1 {
			t.Errorf("refresh requests that reached GitLab = %d, want still 1", n)
		}
		// The saved refresh token is the grant GitLab knows.
		if _, err := src.ForceRefresh(context.Background(), h.id, after); err != nil {
			t.Fatalf("refresh with the saved refresh token: %v", err)
		}
		if _, marked := h.store.ReconnectReason(h.id); marked {
			t.Errorf("the integration was marked for reconnection")
		}
	})

	t.Run("a save that fails for longer than the tokens live", func(t *testing.T) {
		t.Parallel()
		h := connect(t, prov)
		before := h.store.Stored(h.id)
		store := newFlakyStore(h.store)
		store.failNextSaves(-1)
		src := h.sourceOver(store, 0, fastRetry)
		ctx := context.Background()

		if err := h.apiCall(ctx, src, 0); err != nil {
			t.Fatalf("call while the save fails: %v", err)
		}
		h.sim.AdvanceTime(refreshedLifetime + time.Minute)
		for n := range 2 {
			err := h.apiCall(ctx, src, n)
			if !errors.Is(err, credsource.ErrCredentialsNotSaved) || errors.Is(err, credsource.ErrReconnectRequired) {
				t.Fatalf("call %d after the unsaved token expired: %v, want ErrCredentialsNotSaved", n, err)
			}
			if !strings.Contains(err.Error(), h.id) {
				t.Errorf("error %q does not name the integration", err)
			}
			assertNoSecret(t, err, before.GetAccessToken(), before.GetRefreshToken(), h.demo.ClientSecret)
		}
		if n := h.sim.TokenRequests("refresh_token"); n != 1 {
			t.Errorf("refresh requests that reached GitLab = %d, want 1", n)
		}
		if _, marked := h.store.ReconnectReason(h.id); marked {
			t.Fatalf("the integration was marked for reconnection although the grant is fine")
		}

		// The store recovers: the kept refresh token is saved and GitLab
		// accepts it for the refresh the expired token needs.
		store.failNextSaves(0)
		eventually(t, "the retried save to land", func() bool { return !credsource.Unsaved(src, h.id) })
		if err := h.apiCall(ctx, src, 1); err != nil {
			t.Fatalf("call after the save: %v", err)
		}
		if n := h.sim.TokenRequests("refresh_token"); n != 2 {
			t.Errorf("refresh requests that reached GitLab = %d, want 2", n)
		}
		if _, marked := h.store.ReconnectReason(h.id); marked {
			t.Errorf("the integration was marked for reconnection")
		}
	})

	t.Run("refusals leave the stored credentials as they were", func(t *testing.T) {
		t.Parallel()
		tests := map[string]struct {
			// spoil breaks the grant behind the host's back.
			spoil func(t *testing.T, h *e2eHost)
			// refreshRequests is how many refresh requests reach GitLab in
			// all (spoil's included).
			refreshRequests int
			reason          scmerr.Reason
		}{
			"reused refresh token": {
				// A host refreshed, then crashed before saving: the stored
				// refresh token is spent.
				spoil: func(t *testing.T, h *e2eHost) {
					_, err := h.prov.RefreshCredentials(context.Background(), &scmv1.RefreshCredentialsRequest{
						Connection: &scmv1.Connection{HostUrl: h.sim.URL, Credentials: h.store.Stored(h.id)},
					})
					if err != nil {
						t.Fatalf("spend the refresh token: %v", err)
					}
				},
				refreshRequests: 2,
				reason:          scmerr.ReasonInvalidGrant,
			},
			"revoked grant": {
				// The user revoked the application in GitLab.
				spoil: func(t *testing.T, h *e2eHost) {
					resp, err := h.prov.RevokeCredentials(context.Background(), &scmv1.RevokeCredentialsRequest{
						Connection: &scmv1.Connection{HostUrl: h.sim.URL, Credentials: h.store.Stored(h.id)},
					})
					if err != nil || !resp.GetRevoked() {
						t.Fatalf("revoke the grant: %v, %v", resp, err)
					}
				},
				refreshRequests: 1,
				reason:          scmerr.ReasonInvalidGrant,
			},
			"wrong client secret": {
				// The application's secret was renewed in GitLab.
				spoil: func(t *testing.T, h *e2eHost) {
					creds := h.store.Stored(h.id)
					creds.OauthClient.ClientSecret = "gloas-" + strings.Repeat("0", 64)
					if err := h.store.Save(context.Background(), h.id, creds); err != nil {
						t.Fatal(err)
					}
				},
				refreshRequests: 1,
				reason:          scmerr.ReasonInvalidClient,
			},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				const calls = 10
				h := connect(t, prov)
				tc.spoil(t, h)
				before := h.store.Stored(h.id)
				src := h.source(0) // the first token is due for refreshing

				errs := h.concurrentAPICalls(src, calls)
				withReason := 0
				for i, err := range errs {
					if !errors.Is(err, credsource.ErrReconnectRequired) {
						t.Fatalf("call %d: %v, want ErrReconnectRequired", i, err)
					}
					if scmerr.Is(err, tc.reason) {
						withReason++
					}
					assertNoSecret(t, err, before.GetAccessToken(), before.GetRefreshToken(), before.GetOauthClient().GetClientSecret(), h.demo.ClientSecret)
				}
				if withReason == 0 {
					t.Errorf("no call reported the provider's reason %s: %v", tc.reason, errs[0])
				}
				if n := h.sim.TokenRequests("refresh_token"); n != tc.refreshRequests {
					t.Errorf("refresh requests that reached GitLab = %d, want %d (no retries)", n, tc.refreshRequests)
				}
				if after := h.store.Stored(h.id); !proto.Equal(after, before) {
					t.Errorf("the stored credentials changed")
				}
				if _, marked := h.store.ReconnectReason(h.id); !marked {
					t.Errorf("the integration is not marked for reconnection")
				}
				if !strings.Contains(errs[0].Error(), h.id) {
					t.Errorf("error %q does not name the integration", errs[0])
				}
			})
		}
	})
}
