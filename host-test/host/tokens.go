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

// checkToken answers POST /v1/integrations/{id}/{provider}-token/check:
// checkAndRecordCredentials, answered with what the plugin said.
func (h *Host) checkToken(provider string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		pr, in, err := h.personalTokenIntegration(r, provider)
		if err != nil {
			return err
		}
		c, err := h.checkAndRecordCredentials(r.Context(), pr, in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, h.statusResponse(c.resp))
		return nil
	}
}

// credentialCheck is what checkAndRecordCredentials found and stored.
type credentialCheck struct {
	resp *scmv1.CheckCredentialsResponse
	// status, reason and tokenExpiresAt are the integration's after the
	// check (as before it when nothing was stored).
	status, reason string
	tokenExpiresAt int64
	// changed: one of them differs from before the check.
	changed bool
}

// checkAndRecordCredentials asks the plugin how the integration's
// credentials are (OAuth ones refreshed first when due, as every call does)
// and records the answer on the integration: an expired or rejected token
// turns it to "error" with the reason, a valid or expiring one back to
// "active", and a personal token's expiry is stored as the provider now
// reports it (it can be changed at the provider after the token was
// connected). UNKNOWN (the provider did not answer) records nothing: it
// says nothing about the token. The manual check (checkToken) and the
// periodic round (credentialcheck.go) are this one function.
//
// An OAuth token's expiry is left to the credential source, which stores
// it with the tokens it refreshes: the check may have looked at a token a
// concurrent refresh has just replaced.
func (h *Host) checkAndRecordCredentials(ctx context.Context, pr *provider, in store.Integration) (credentialCheck, error) {
	resp, err := h.checkCredentials(ctx, pr, in)
	if err != nil {
		return credentialCheck{}, err
	}
	c := credentialCheck{resp: resp, status: in.Status, reason: in.StatusReason, tokenExpiresAt: in.TokenExpiresAt}
	switch resp.GetStatus() {
	case scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRED, scmv1.CredentialStatus_CREDENTIAL_STATUS_REJECTED:
		c.status, c.reason = store.StatusError, tokenKind(in)+" is "+credentialStatusName(resp.GetStatus())
		if d := resp.GetDetail(); d != "" {
			c.reason += ": " + d
		}
	case scmv1.CredentialStatus_CREDENTIAL_STATUS_VALID, scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRING:
		if in.Status == store.StatusError {
			c.status, c.reason = store.StatusActive, ""
		}
	default:
		return c, nil
	}
	if c.status != in.Status || c.reason != in.StatusReason {
		if err := h.store.SetIntegrationStatus(ctx, in.ID, c.status, c.reason); err != nil {
			return credentialCheck{}, internalError("record the token status", err)
		}
		c.changed = true
	}
	if exp := resp.GetExpiresAt(); exp != 0 && exp != in.TokenExpiresAt && authMode(in) == scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN {
		if err := h.store.SetTokenExpiresAt(ctx, in.ID, exp); err != nil {
			return credentialCheck{}, internalError("record the token expiry", err)
		}
		c.tokenExpiresAt, c.changed = exp, true
	}
	return c, nil
}

// tokenKind names an integration's token in a status reason.
func tokenKind(in store.Integration) string {
	if authMode(in) == scmv1.AuthMode_AUTH_MODE_OAUTH_APP {
		return "the OAuth access token"
	}
	return "the personal access token"
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
