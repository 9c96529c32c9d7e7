package host

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// credentialStatusName is Oore's word for a credential status.
func credentialStatusName(s scmv1.CredentialStatus) string {
	switch s {
	case scmv1.CredentialStatus_CREDENTIAL_STATUS_VALID:
		return "valid"
	case scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRING:
		return "expiring"
	case scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRED:
		return "expired"
	case scmv1.CredentialStatus_CREDENTIAL_STATUS_REJECTED:
		return "rejected"
	}
	return "unknown"
}

// personalTokenIntegration loads the integration of a provider's token route;
// it must use a personal token.
func (h *Host) personalTokenIntegration(r *http.Request, provider string) (*provider, store.Integration, error) {
	in, err := h.integrationOf(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, in, err
	}
	if in.Provider != provider {
		return nil, in, notFoundError(provider+" integration", in.ID)
	}
	pr, aerr := h.provider(provider)
	if aerr != nil {
		return nil, in, aerr
	}
	if in.AuthMode != "personal_token" {
		return nil, in, newError(http.StatusBadRequest, codeInvalidInput, fmt.Sprintf("this integration uses %s, not a personal access token", in.AuthMode))
	}
	return pr, in, nil
}

// checkCredentials asks the plugin how the integration's credentials are.
func (h *Host) checkCredentials(ctx context.Context, pr *provider, in store.Integration) (*scmv1.CheckCredentialsResponse, error) {
	return withConnection(ctx, h, pr, in, "CheckCredentials", func(ctx context.Context, c scmv1.ProviderServiceClient, conn *scmv1.Connection) (*scmv1.CheckCredentialsResponse, error) {
		return c.CheckCredentials(ctx, &scmv1.CheckCredentialsRequest{Connection: conn})
	})
}

func (h *Host) statusResponse(resp *scmv1.CheckCredentialsResponse) credentialStatusResponse {
	return credentialStatusResponse{Status: credentialStatusName(resp.GetStatus()), ExpiresAt: optInt(resp.GetExpiresAt()),
		CheckedAt: h.now().Unix(), Detail: optString(resp.GetDetail())}
}

// checkToken answers POST /v1/integrations/{id}/{provider}-token/check: an
// expired or rejected token turns the integration to "error", a good one
// back to "active".
func (h *Host) checkToken(provider string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		pr, in, err := h.personalTokenIntegration(r, provider)
		if err != nil {
			return err
		}
		resp, err := h.checkCredentials(ctx, pr, in)
		if err != nil {
			return err
		}
		out := h.statusResponse(resp)
		switch resp.GetStatus() {
		case scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRED, scmv1.CredentialStatus_CREDENTIAL_STATUS_REJECTED:
			reason := "the personal access token is " + out.Status
			if d := resp.GetDetail(); d != "" {
				reason += ": " + d
			}
			if err := h.store.SetIntegrationStatus(ctx, in.ID, store.StatusError, reason); err != nil {
				return internalError("record the token status", err)
			}
		case scmv1.CredentialStatus_CREDENTIAL_STATUS_VALID, scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRING:
			if in.Status == store.StatusError {
				if err := h.store.SetIntegrationStatus(ctx, in.ID, store.StatusActive, ""); err != nil {
					return internalError("record the token status", err)
				}
			}
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

type replaceTokenRequest struct {
	AccessToken string `json:"access_token" validate:"required,max=4096,printascii"`
}

// replaceToken answers PUT /v1/integrations/{id}/{provider}-token: the new
// personal token must belong to the same account and carry the scopes.
func (h *Host) replaceToken(provider string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		pr, in, err := h.personalTokenIntegration(r, provider)
		if err != nil {
			return err
		}
		var req replaceTokenRequest
		if aerr := decodeJSON(w, r, &req); aerr != nil {
			return aerr
		}
		creds := &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, AccessToken: req.AccessToken}
		conn := h.connection(in.HostURL, creds)
		v, err := call(ctx, h, pr, "ValidateConnection", func(ctx context.Context, c scmv1.ProviderServiceClient) (*scmv1.ValidateConnectionResponse, error) {
			return c.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{Connection: conn})
		})
		if err != nil {
			return pluginError(pr.name, err)
		}
		if v.GetAccount().GetId() != in.AccountID {
			return newError(http.StatusConflict, pr.name+suffixAccountMismatch,
				fmt.Sprintf("the new token belongs to %s account %q, but this integration acts as %q; use a token of the same account, or create another integration",
					pr.name, v.GetAccount().GetUsername(), in.AccountUsername))
		}
		err = h.store.ConnectIntegration(ctx, in.ID, store.Connection{
			HostURL: in.HostURL, DisplayName: in.DisplayName, AccountID: in.AccountID, AccountUsername: v.GetAccount().GetUsername(),
			Scopes: v.GetScopes(), Credentials: store.Credentials{AccessToken: req.AccessToken, ExpiresAt: v.GetExpiresAt()},
		})
		if err != nil {
			return internalError("store the new token", err)
		}
		h.audit(ctx, "token.replace", in.ID, strings.Join(v.GetScopes(), " "))
		h.log.Info("personal token replaced", "integration_id", in.ID, "provider", pr.name)
		in.TokenExpiresAt = v.GetExpiresAt()
		resp, err := h.checkCredentials(ctx, pr, in)
		if err != nil {
			// The token was just validated; say so even if the second look failed.
			h.log.Warn("token check after replacement failed", "integration_id", in.ID, "error", err)
			resp = &scmv1.CheckCredentialsResponse{Status: scmv1.CredentialStatus_CREDENTIAL_STATUS_UNKNOWN, ExpiresAt: v.GetExpiresAt()}
		}
		writeJSON(w, http.StatusOK, h.statusResponse(resp))
		return nil
	}
}
