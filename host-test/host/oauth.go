package host

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/oauthstate"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

type authorizeRequest struct {
	IntegrationID string `json:"integration_id" validate:"required,max=128"`
	RedirectURL   string `json:"redirect_url" validate:"required"`
}

type authorizeResponse struct {
	AuthorizeURL string `json:"authorize_url"`
}

// authorize answers POST /v1/integrations/{provider}/authorize with the
// provider's authorize URL: a sealed, one-time, 10-minute state and a PKCE
// challenge. It completes nothing.
func (h *Host) authorize(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	pr, aerr := h.provider(r.PathValue("provider"))
	if aerr != nil {
		return aerr
	}
	var req authorizeRequest
	if aerr := decodeJSON(w, r, &req); aerr != nil {
		return aerr
	}
	if _, aerr := checkRedirectURL(req.RedirectURL, h.cfg.FrontendOrigins); aerr != nil {
		return aerr
	}
	in, err := h.store.GetIntegration(ctx, req.IntegrationID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && in.Provider != pr.name) {
		return notFoundError(pr.name+" integration", req.IntegrationID)
	}
	if err != nil {
		return internalError("load the integration", err)
	}
	if in.AuthMode != "oauth_app" {
		return fieldError("integration_id", "the integration uses "+in.AuthMode+", not an OAuth application")
	}
	creds, _, err := h.store.LoadCredentials(ctx, in.ID)
	if err != nil {
		return internalError("load the OAuth application", err)
	}
	if creds.ClientID == "" {
		return newError(http.StatusConflict, pr.name+suffixOAuthNotConfigured, "the integration has no OAuth client id; create it again")
	}
	verifier, challenge := oauthstate.NewPKCE()
	now := h.now()
	claims := oauthstate.Claims{ID: secrets.RandomToken("st_", 18), IntegrationID: in.ID, ExpiresAt: now.Add(oauthstate.Lifetime).Unix()}
	state := h.sealer.Seal(claims)
	redirectURI := creds.RedirectURI
	if redirectURI == "" {
		redirectURI = h.callbackURL(pr.name)
	}
	resp, err := call(ctx, h, pr, "BeginOAuth", func(ctx context.Context, c scmv1.ProviderServiceClient) (*scmv1.BeginOAuthResponse, error) {
		return c.BeginOAuth(ctx, &scmv1.BeginOAuthRequest{HostUrl: in.HostURL, ClientId: creds.ClientID, RedirectUri: redirectURI,
			State: state, CodeChallenge: challenge, CodeChallengeMethod: "S256"})
	})
	if err != nil {
		return pluginError(pr.name, err)
	}
	err = h.store.CreateOAuthState(ctx, store.OAuthState{ID: claims.ID, IntegrationID: in.ID, RedirectURL: req.RedirectURL,
		Verifier: verifier, ExpiresAt: claims.ExpiresAt})
	if err != nil {
		return internalError("store the OAuth state", err)
	}
	writeJSON(w, http.StatusOK, authorizeResponse{AuthorizeURL: resp.GetAuthorizeUrl()})
	return nil
}

// callback is where the browser lands from the provider: the code is
// exchanged, the tokens stored, the integration activated and synced, and
// the browser sent (303) to redirect_url?{provider}=success&integration_id=.
// On error= or a bad, used or expired state, an HTML page says what
// happened, and nothing is stored.
func (h *Host) callback(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	pr, aerr := h.provider(r.PathValue("provider"))
	if aerr != nil {
		return aerr
	}
	q := r.URL.Query()
	page := func(title, detail string) error {
		writeCallbackPage(w, pr.name, title, detail)
		return nil
	}
	claims, err := h.sealer.Open(q.Get("state"), h.now())
	if err != nil {
		return page("This sign-in link is not valid", "The authorization state is missing, was not issued by this Oore host, or is more than 10 minutes old. Start connecting the integration again.")
	}
	st, err := h.store.ConsumeOAuthState(ctx, claims.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return page("This sign-in link was already used", "Each authorization can complete once. Start connecting the integration again.")
	case errors.Is(err, store.ErrExpired):
		return page("This sign-in link has expired", "Authorizations must complete within 10 minutes. Start connecting the integration again.")
	case err != nil:
		h.log.Error("oauth callback: consume state", "error", err)
		return page("Something went wrong", "The host could not read the authorization state; see its log.")
	}
	if st.IntegrationID != claims.IntegrationID {
		return page("This sign-in link is not valid", "The authorization state does not match its integration.")
	}
	if e := q.Get("error"); e != "" {
		detail := fmt.Sprintf("%s answered: %s", pr.p.Manifest().DisplayName, e)
		if d := q.Get("error_description"); d != "" {
			detail += " (" + d + ")"
		}
		h.log.Info("oauth authorization refused at the provider", "integration_id", st.IntegrationID, "error", e)
		return page("The authorization was not granted", detail+". Nothing was changed; you can try again.")
	}
	code := q.Get("code")
	if code == "" || len(code) > 2048 {
		return page("The authorization is incomplete", "The provider sent no authorization code. Start connecting the integration again.")
	}
	in, err := h.store.GetIntegration(ctx, st.IntegrationID)
	if err != nil || in.Provider != pr.name {
		return page("The integration is gone", "The integration being connected no longer exists.")
	}
	creds, _, err := h.store.LoadCredentials(ctx, in.ID)
	if err != nil {
		h.log.Error("oauth callback: load the OAuth application", "integration_id", in.ID, "error", err)
		return page("Something went wrong", "The host could not read the OAuth application; see its log.")
	}
	redirectURI := creds.RedirectURI
	if redirectURI == "" {
		redirectURI = h.callbackURL(pr.name)
	}
	client := &scmv1.OAuthClient{ClientId: creds.ClientID, ClientSecret: creds.ClientSecret, RedirectUri: redirectURI}
	resp, err := call(ctx, h, pr, "CompleteOAuth", func(ctx context.Context, c scmv1.ProviderServiceClient) (*scmv1.CompleteOAuthResponse, error) {
		return c.CompleteOAuth(ctx, &scmv1.CompleteOAuthRequest{
			Connection: h.connection(in.HostURL, &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_OAUTH_APP, OauthClient: client}),
			Code:       code, CodeVerifier: st.Verifier})
	})
	if err != nil {
		ae := pluginError(pr.name, err)
		h.log.Warn("oauth code exchange failed", "integration_id", in.ID, "code", ae.Code, "error", ae.Message)
		return page("The authorization could not be completed", fmt.Sprintf("%s (%s). Nothing was stored; start connecting the integration again.", ae.Message, ae.Code))
	}
	account := resp.GetAccount()
	if account.GetId() == "" {
		return page("The authorization could not be completed", "The provider named no account. Nothing was stored.")
	}
	if in.AccountID != "" && in.AccountID != account.GetId() {
		return page("Another account authorized", fmt.Sprintf("This integration acts as %q, but %q authorized it. Nothing was stored; sign in as %q, or create another integration.",
			in.AccountUsername, account.GetUsername(), in.AccountUsername))
	}
	got := resp.GetCredentials()
	hostURL := in.HostURL
	if resp.GetHostUrl() != "" {
		hostURL = resp.GetHostUrl()
	}
	err = h.store.ConnectIntegration(ctx, in.ID, store.Connection{
		HostURL: hostURL, DisplayName: displayName(account, hostURL), AccountID: account.GetId(), AccountUsername: account.GetUsername(),
		Scopes: resp.GetScopes(),
		Credentials: store.Credentials{AccessToken: got.GetAccessToken(), RefreshToken: got.GetRefreshToken(), ExpiresAt: got.GetExpiresAt(),
			ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, RedirectURI: redirectURI},
	})
	if err != nil {
		h.log.Error("oauth callback: store the tokens", "integration_id", in.ID, "error", err)
		return page("Something went wrong", "The host could not store the authorization; see its log.")
	}
	h.audit(ctx, "integration.connect", in.ID, "oauth "+account.GetUsername())
	h.log.Info("integration connected through oauth", "integration_id", in.ID, "provider", pr.name, "account", account.GetUsername())
	in, err = h.store.GetIntegration(ctx, in.ID)
	if err == nil {
		if _, _, err = h.syncRepositories(ctx, pr, in); err != nil {
			h.log.Warn("repositories not synced after connecting; retry with POST /v1/integrations/{id}/installations", "integration_id", in.ID, "error", err)
		}
	}
	target, _ := url.Parse(st.RedirectURL) // checked when it was stored
	v := target.Query()
	v.Set(pr.name, "success")
	v.Set("integration_id", in.ID)
	target.RawQuery = v.Encode()
	http.Redirect(w, r, target.String(), http.StatusSeeOther)
	return nil
}
