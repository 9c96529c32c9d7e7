package host

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/shared/credsource"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// refreshTarget tells the credential source's refresh which plugin and host
// URL an integration uses: credsource.RefreshFunc sees only credentials, so
// the integration travels in the context (the source keeps the caller's
// values for the refresh it runs).
type refreshTarget struct {
	pr      *provider
	hostURL string
}

type refreshKey struct{}

// refresh is the credential source's RefreshFunc: the plugin's RefreshCredentials.
func (h *Host) refresh(ctx context.Context, creds *scmv1.Credentials) (*scmv1.Credentials, error) {
	t, ok := ctx.Value(refreshKey{}).(refreshTarget)
	if !ok {
		return nil, errors.New("refresh credentials: no integration in the context")
	}
	resp, err := call(ctx, h, t.pr, "RefreshCredentials", func(ctx context.Context, c scmv1.ProviderServiceClient) (*scmv1.RefreshCredentialsResponse, error) {
		return c.RefreshCredentials(ctx, &scmv1.RefreshCredentialsRequest{Connection: h.connection(t.hostURL, creds)})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetCredentials(), nil
}

// credentialError maps a credential source failure.
func credentialError(pr *provider, in store.Integration, err error) *apiError {
	switch {
	case errors.Is(err, credsource.ErrReconnectRequired):
		msg := fmt.Sprintf("the %s authorization of this integration is no longer valid; connect it again", pr.name)
		if in.StatusReason != "" {
			msg += " (" + in.StatusReason + ")"
		}
		return &apiError{Status: http.StatusConflict, Code: pr.name + suffixReconnectRequired, Message: msg, cause: err}
	case errors.Is(err, credsource.ErrUnknownIntegration):
		return notFoundError("integration", in.ID)
	case errors.Is(err, credsource.ErrCredentialsNotSaved):
		// The provider rotated the tokens and the database has not taken them
		// yet: the grant is fine and the host keeps retrying the save. Not a
		// reason to reconnect, so not 409; the store's error stays in the log.
		return &apiError{Status: http.StatusServiceUnavailable, Code: codeCredentialsNotSaved, RetryAfter: 5 * time.Second,
			Message: fmt.Sprintf("the refreshed %s credentials of this integration are not saved yet (the database refused them; the host keeps retrying); try again shortly, do not reconnect", pr.name),
			cause:   err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &apiError{Status: http.StatusGatewayTimeout, Code: pr.name + suffixUnreachable, Message: "timed out waiting for the credentials refresh", cause: err}
	}
	if scmerr.Parse(err).Reason != "" {
		return pluginError(pr.name, err)
	}
	return internalError("load credentials", err)
}

// requireConnected refuses integrations that have no usable account yet.
func requireConnected(pr *provider, in store.Integration) *apiError {
	if in.ReconnectRequired || in.AccountID == "" {
		msg := fmt.Sprintf("the integration is not connected to %s yet; authorize it first", pr.name)
		if in.ReconnectRequired {
			msg = fmt.Sprintf("the %s authorization of this integration is no longer valid; connect it again", pr.name)
		}
		return &apiError{Status: http.StatusConflict, Code: pr.name + suffixReconnectRequired, Message: msg}
	}
	return nil
}

// withConnection runs fn with the integration's connection: OAuth tokens
// are refreshed first when they are about to expire. When the provider still
// answers TOKEN_EXPIRED, or AUTH_FAILED for an OAuth token (GitLab revokes the
// access token a refresh replaces, so a call racing another caller's refresh
// sees "revoked"), one refresh is forced and fn runs once more. ForceRefresh
// hands back the replacement without refreshing again when one already
// happened, and reports reconnection when the grant itself is gone.
func withConnection[T any](ctx context.Context, h *Host, pr *provider, in store.Integration, method string,
	fn func(ctx context.Context, c scmv1.ProviderServiceClient, conn *scmv1.Connection) (T, error)) (T, error) {
	var zero T
	ctx = context.WithValue(ctx, refreshKey{}, refreshTarget{pr: pr, hostURL: in.HostURL})
	creds, err := h.creds.Credentials(ctx, in.ID)
	if err != nil {
		return zero, credentialError(pr, in, err)
	}
	run := func(creds *scmv1.Credentials) (T, error) {
		return call(ctx, h, pr, method, func(ctx context.Context, c scmv1.ProviderServiceClient) (T, error) {
			return fn(ctx, c, h.connection(in.HostURL, creds))
		})
	}
	v, err := run(creds)
	retry := scmerr.Is(err, scmerr.ReasonTokenExpired) || scmerr.Is(err, scmerr.ReasonAuthFailed)
	if err == nil || !retry || creds.GetAuthMode() != scmv1.AuthMode_AUTH_MODE_OAUTH_APP {
		if err != nil {
			return zero, pluginError(pr.name, err)
		}
		return v, nil
	}
	h.log.Info("provider refused the access token; forcing one refresh", "integration_id", in.ID, "method", method, "reason", scmerr.ReasonOf(err))
	creds, err = h.creds.ForceRefresh(ctx, in.ID, creds)
	if err != nil {
		return zero, credentialError(pr, in, err)
	}
	v, err = run(creds)
	if err != nil {
		return zero, pluginError(pr.name, err)
	}
	return v, nil
}

// authMode is the scm.v1 auth mode of an integration.
func authMode(in store.Integration) scmv1.AuthMode {
	m, _ := manifest.ParseAuthMode(in.AuthMode)
	return m
}
