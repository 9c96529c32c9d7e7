package host

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// startRequest is Oore's GitLabStartRequest (any provider).
type startRequest struct {
	HostURL      string `json:"host_url"`
	AuthMode     string `json:"auth_mode" validate:"required,max=64"`
	AccessToken  string `json:"access_token" validate:"omitempty,max=4096,printascii"`
	ClientID     string `json:"client_id" validate:"omitempty,max=512,printascii"`
	ClientSecret string `json:"client_secret" validate:"omitempty,max=4096,printascii"`
}

// startIntegration creates an integration: a personal token is checked by
// the plugin, turns active and its repositories are synced; an OAuth app is
// stored (its secret encrypted) inactive until the callback.
func (h *Host) startIntegration(w http.ResponseWriter, r *http.Request) error {
	pr, aerr := h.provider(r.PathValue("provider"))
	if aerr != nil {
		return aerr
	}
	var req startRequest
	if aerr := decodeJSON(w, r, &req); aerr != nil {
		return aerr
	}
	if !pr.supportsAuthMode(req.AuthMode) {
		return fieldError("auth_mode", fmt.Sprintf("the %s provider supports %s, not %q", pr.name, strings.Join(pr.authModes(), ", "), req.AuthMode))
	}
	hostURL, aerr := normaliseHostURL("host_url", req.HostURL)
	if aerr != nil {
		return aerr
	}
	switch req.AuthMode {
	case "personal_token":
		switch {
		case req.AccessToken == "":
			return fieldError("access_token", "is required for auth_mode personal_token")
		case req.ClientID != "":
			return fieldError("client_id", "is only for auth_mode oauth_app")
		case req.ClientSecret != "":
			return fieldError("client_secret", "is only for auth_mode oauth_app")
		}
		return h.startPersonalToken(w, r, pr, hostURL, req.AccessToken)
	case "oauth_app":
		switch {
		case req.ClientID == "":
			return fieldError("client_id", "is required for auth_mode oauth_app")
		case req.ClientSecret == "":
			return fieldError("client_secret", "is required for auth_mode oauth_app")
		case req.AccessToken != "":
			return fieldError("access_token", "is only for auth_mode personal_token")
		}
		return h.startOAuthApp(w, r, pr, hostURL, req.ClientID, req.ClientSecret)
	}
	return fieldError("auth_mode", fmt.Sprintf("%q cannot be started through this endpoint", req.AuthMode))
}

func (h *Host) startPersonalToken(w http.ResponseWriter, r *http.Request, pr *provider, hostURL, token string) error {
	ctx := r.Context()
	creds := &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, AccessToken: token}
	v, err := call(ctx, h, pr, "ValidateConnection", func(ctx context.Context, c scmv1.ProviderServiceClient) (*scmv1.ValidateConnectionResponse, error) {
		return c.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: h.connection(hostURL, creds)})
	})
	if err != nil {
		return pluginError(pr.name, err)
	}
	if v.GetAccount().GetId() == "" {
		return newError(http.StatusBadGateway, pr.name+suffixAPIError, "the provider named no account for the token")
	}
	if v.GetHostUrl() != "" {
		hostURL = v.GetHostUrl()
	}
	in := store.Integration{
		ID: newIntegrationID(), Provider: pr.name, HostURL: hostURL, AuthMode: "personal_token", Status: store.StatusActive,
		DisplayName: displayName(v.GetAccount(), hostURL), CreatedBy: callerOf(ctx).TokenID,
		AccountID: v.GetAccount().GetId(), AccountUsername: v.GetAccount().GetUsername(), Scopes: v.GetScopes(),
		TokenExpiresAt: v.GetExpiresAt(),
	}
	if err := h.store.CreateIntegration(ctx, in, store.Credentials{AccessToken: token, ExpiresAt: v.GetExpiresAt()}); err != nil {
		return internalError("create the integration", err)
	}
	h.audit(ctx, "integration.create", in.ID, "personal_token "+hostURL)
	h.log.Info("integration created", "integration_id", in.ID, "provider", pr.name, "auth_mode", in.AuthMode, "account", in.AccountUsername)
	if _, _, err := h.syncRepositories(ctx, pr, in); err != nil {
		ae := asAPIError("sync repositories", err)
		ae.Message = fmt.Sprintf("the integration %s was created, but its repositories could not be synced (retry with POST /v1/integrations/%s/installations): %s", in.ID, in.ID, ae.Message)
		return ae
	}
	return h.writeIntegration(w, r, in.ID)
}

func (h *Host) startOAuthApp(w http.ResponseWriter, r *http.Request, pr *provider, hostURL, clientID, clientSecret string) error {
	ctx := r.Context()
	in := store.Integration{
		ID: newIntegrationID(), Provider: pr.name, HostURL: hostURL, AuthMode: "oauth_app", Status: store.StatusInactive,
		DisplayName: strings.TrimPrefix(strings.TrimPrefix(hostURL, "https://"), "http://") + " (OAuth, not yet authorized)",
		CreatedBy:   callerOf(ctx).TokenID, StatusReason: "waiting for authorization",
	}
	creds := store.Credentials{ClientID: clientID, ClientSecret: clientSecret, RedirectURI: h.callbackURL(pr.name)}
	if err := h.store.CreateIntegration(ctx, in, creds); err != nil {
		return internalError("create the integration", err)
	}
	h.audit(ctx, "integration.create", in.ID, "oauth_app "+hostURL)
	h.log.Info("integration created", "integration_id", in.ID, "provider", pr.name, "auth_mode", in.AuthMode)
	return h.writeIntegration(w, r, in.ID)
}

func (h *Host) writeIntegration(w http.ResponseWriter, r *http.Request, id string) error {
	in, err := h.integrationOf(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, completeResponse{Integration: viewIntegration(in)})
	return nil
}

func newIntegrationID() string { return secrets.RandomToken("int_", 12) }

func displayName(a *scmv1.Account, hostURL string) string {
	host := strings.TrimPrefix(strings.TrimPrefix(hostURL, "https://"), "http://")
	if a.GetUsername() == "" {
		return host
	}
	return a.GetUsername() + " @ " + host
}

// listIntegrations answers GET /v1/integrations.
func (h *Host) listIntegrations(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	limit, offset, q, aerr := page(v)
	if aerr != nil {
		return aerr
	}
	sort := v.Get("sort")
	switch sort {
	case "", "created_at", "updated_at", "display_name", "host_url":
	default:
		return fieldError("sort", "must be one of created_at, updated_at, display_name, host_url")
	}
	desc := sort == ""
	switch v.Get("direction") {
	case "":
	case "asc":
		desc = false
	case "desc":
		desc = true
	default:
		return fieldError("direction", "must be asc or desc")
	}
	p, err := h.store.ListIntegrations(r.Context(), store.IntegrationQuery{Provider: v.Get("provider"), Q: q, Sort: sort, Desc: desc, Limit: limit, Offset: offset})
	if err != nil {
		return internalError("list integrations", err)
	}
	out := listIntegrationsResponse{Integrations: make([]integrationView, 0, len(p.Integrations)), Total: p.Total, ActiveTotal: p.ActiveTotal}
	for _, in := range p.Integrations {
		out.Integrations = append(out.Integrations, viewIntegration(in))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getIntegration answers GET /v1/integrations/{id}.
func (h *Host) getIntegration(w http.ResponseWriter, r *http.Request) error {
	in, err := h.integrationOf(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	ni, nr, err := h.store.IntegrationCounts(r.Context(), in.ID)
	if err != nil {
		return internalError("count repositories", err)
	}
	writeJSON(w, http.StatusOK, integrationDetailResponse{Integration: viewIntegration(in), InstallationCount: ni, RepositoryCount: nr, LastWebhookAt: optInt(in.LastWebhookAt)})
	return nil
}

// deleteIntegration removes an integration. Credentials and webhook secrets
// go with it (so its repositories' webhooks get 401); the project webhooks
// the host registered are then removed and an OAuth grant revoked at the
// provider, best effort. 409 while a build runs.
func (h *Host) deleteIntegration(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	in, err := h.integrationOf(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	creds, _, credErr := h.store.LoadCredentials(ctx, in.ID)
	if err := h.store.DeleteIntegration(ctx, in.ID); err != nil {
		switch {
		case errors.Is(err, store.ErrActiveBuilds):
			return newError(http.StatusConflict, codeActiveBuilds, "the integration has builds running; wait for them to finish or cancel them, then delete it")
		case errors.Is(err, store.ErrNotFound):
			return notFoundError("integration", in.ID)
		}
		return internalError("delete the integration", err)
	}
	h.audit(ctx, "integration.delete", in.ID, in.Provider+" "+in.HostURL)
	h.log.Info("integration deleted", "integration_id", in.ID, "provider", in.Provider)
	hooks := h.removeIntegrationProjectHooks(ctx, in, &creds, credErr) // before the revoke, which ends the grant
	if in.AuthMode == "oauth_app" && credErr == nil && (creds.AccessToken != "" || creds.RefreshToken != "") {
		h.revoke(ctx, in, creds)
	}
	writeJSON(w, http.StatusOK, deleteIntegrationResponse{okResponse{OK: true}, hooks})
	return nil
}

// revoke forgets the OAuth grant at the provider; the outcome is logged.
func (h *Host) revoke(ctx context.Context, in store.Integration, creds store.Credentials) {
	pr, aerr := h.provider(in.Provider)
	if aerr != nil {
		h.log.Warn("oauth grant not revoked: provider plugin missing", "integration_id", in.ID, "provider", in.Provider)
		return
	}
	resp, err := call(ctx, h, pr, "RevokeCredentials", func(ctx context.Context, c scmv1.ProviderServiceClient) (*scmv1.RevokeCredentialsResponse, error) {
		return c.RevokeCredentials(ctx, &scmv1.RevokeCredentialsRequest{Connection: h.connection(in.HostURL, store.ToProto(authMode(in), creds))})
	})
	if err != nil {
		h.log.Warn("oauth grant not revoked at the provider (best effort)", "integration_id", in.ID, "provider", in.Provider, "error", pluginError(pr.name, err).Message)
		return
	}
	h.log.Info("oauth grant revoked at the provider", "integration_id", in.ID, "provider", in.Provider, "revoked", resp.GetRevoked(), "detail", resp.GetDetail())
}
