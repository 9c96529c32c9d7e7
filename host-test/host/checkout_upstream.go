package host

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// The checkout proxy's side towards the SCM host: the clone credentials the
// plugin hands out, and what the SCM host's refusals mean for git.

// cloneCredentials asks the provider plugin for the repository's HTTPS
// credentials through the host's connection path (OAuth tokens are refreshed
// first when they are about to expire), and checks that the clone URL is on
// the integration's own host, so the credentials go nowhere else.
func (p *checkoutProxy) cloneCredentials(ctx context.Context, job store.Job) (*scmv1.GetCloneCredentialsResponse, *gitError) {
	h := p.h
	in, err := h.integrationOf(ctx, job.IntegrationID)
	if err != nil {
		return nil, fromAPIError(err)
	}
	pr, aerr := h.provider(job.Provider)
	if aerr != nil {
		return nil, fromAPIError(aerr)
	}
	if aerr := requireConnected(pr, in); aerr != nil {
		return nil, fromAPIError(aerr)
	}
	creds, err := withConnection(ctx, h, pr, in, "GetCloneCredentials",
		func(ctx context.Context, c scmv1.ProviderServiceClient, conn *scmv1.Connection) (*scmv1.GetCloneCredentialsResponse, error) {
			return c.GetCloneCredentials(ctx, &scmv1.GetCloneCredentialsRequest{Connection: conn,
				RepositoryExternalId: job.RepositoryExternalID, FullName: job.RepositoryFullName})
		})
	if err != nil {
		return nil, fromAPIError(err)
	}
	u, err := url.Parse(creds.GetCloneUrl())
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.RawQuery != "" || origin(u) != in.HostURL {
		h.log.Error("checkout: the plugin's clone URL is not on the integration's host; not used", "provider", job.Provider,
			"integration_id", in.ID, "repository", job.RepositoryFullName)
		return nil, gitFail(http.StatusBadGateway, checkoutNoCredentials, "the %s plugin gave a clone URL outside the integration's host", job.Provider)
	}
	return creds, nil
}

// fromAPIError turns an API error met while getting credentials into an
// answer for git: 502 (the runner can do nothing about it) unless the host
// itself is unavailable.
func fromAPIError(err error) *gitError {
	ae := asAPIError("get clone credentials", err)
	status := http.StatusBadGateway
	if ae.Status == http.StatusServiceUnavailable || ae.Status == http.StatusGatewayTimeout || ae.Status == http.StatusInternalServerError {
		status = ae.Status
	}
	msg := ae.Message
	if ae.Code != "" && ae.Code != codeInternal {
		msg += " (" + ae.Code + ")"
	}
	return &gitError{status: status, outcome: checkoutNoCredentials, msg: msg}
}

// upstreamFailure explains an SCM host's refusal to git. It is always a 502:
// the runner's own token was fine; the host's credentials or the SCM host
// are not. A 401 from the SCM host is never passed on as a 401 (git would
// think its job token wrong).
func upstreamFailure(resp *http.Response, job store.Job, password, want string) *gitError {
	detail := ""
	if mediaType(resp.Header.Get("Content-Type")) == "text/plain" {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamMessage))
		detail = strings.Join(strings.Fields(redact(string(raw), password)), " ")
	}
	if detail != "" {
		detail = ": " + detail
	}
	where := "repository " + job.RepositoryFullName
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return gitFail(http.StatusBadGateway, checkoutUpstreamRefused,
			"%s refused the integration's credentials for %s (HTTP %d)%s; check or replace the integration's token (POST /v1/integrations/%s/%s-token/check), or reconnect it",
			job.Provider, where, resp.StatusCode, detail, job.IntegrationID, job.Provider)
	case resp.StatusCode == http.StatusNotFound:
		return gitFail(http.StatusBadGateway, checkoutUpstreamRefused, "%s answered that %s does not exist or is not visible to the integration (HTTP 404)%s",
			job.Provider, where, detail)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return gitFail(http.StatusBadGateway, checkoutUpstreamError, "%s answered a redirect (HTTP %d) for %s; the checkout proxy does not follow redirects",
			job.Provider, resp.StatusCode, where)
	case resp.StatusCode == http.StatusOK:
		return gitFail(http.StatusBadGateway, checkoutUpstreamError, "%s answered %q for %s, not %s", job.Provider,
			mediaType(resp.Header.Get("Content-Type")), where, want)
	}
	return gitFail(http.StatusBadGateway, checkoutUpstreamError, "%s answered HTTP %d for %s%s", job.Provider, resp.StatusCode, where, detail)
}

// upstreamCause is a transport error without the request URL (url.Error
// repeats it; the runner knows its own).
func upstreamCause(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// redact removes a secret from a text that is shown or logged.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[redacted]")
}
