package host

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/shared/credsource"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// Project webhooks (added by the reference host; Oore asks people to create
// the hook by hand): POST /v1/integration-repositories/{id}/{provider}-webhook
// registers the host's webhook on the repository at the provider with a
// fresh secret, so nobody copies a secret; DELETE removes it; deleting the
// integration removes every hook it registered. The secret is the
// repository's webhook secret, the same one {provider}-webhook-secret
// rotates, so there is one rotation rule: the old secret stops working at
// once.

// projectHookCleanupTimeout bounds the removal of a deleted integration's
// hooks at the provider; hooks not removed by then are reported as failed.
const projectHookCleanupTimeout = time.Minute

// projectWebhookResponse answers a registration. It never holds the secret.
type projectWebhookResponse struct {
	RepositoryID string `json:"repository_id"`
	HookID       string `json:"hook_id"`
	WebhookURL   string `json:"webhook_url"`
	// Created is true when the provider made a new hook, false when it
	// updated the one the host registered before.
	Created bool `json:"created"`
	// SecretType is "token" (sent as is with each delivery) or
	// "signing_token" (deliveries are signed with it).
	SecretType string `json:"secret_type"`
	RotatedAt  int64  `json:"rotated_at"`
}

// projectWebhookDeleteResponse answers a removal.
type projectWebhookDeleteResponse struct {
	RepositoryID string `json:"repository_id"`
	// HookID is the hook the host had registered (null when it had none and
	// removed the hooks with its webhook URL instead).
	HookID *string `json:"hook_id"`
	// Deleted is false when the provider had no such hook any more.
	Deleted bool `json:"deleted"`
}

// projectHooks is the host's store of registered hooks, or nil when its
// store keeps none.
func (h *Host) projectHooks() store.ProjectHookStore {
	ps, _ := h.store.(store.ProjectHookStore)
	return ps
}

// servesProjectWebhooks reports whether the host serves
// /v1/integration-repositories/{id}/{name}-webhook: the plugin announces
// project webhooks and the store can remember them.
func (h *Host) servesProjectWebhooks(name string) bool {
	p, ok := h.plugins.Get(name)
	return ok && p.Manifest().HasCapability(scmv1.Capability_CAPABILITY_PROJECT_WEBHOOKS) && h.projectHooks() != nil
}

// newWebhookSecret makes a repository webhook secret: a random token, or
// for kind "signing_token" a Standard Webhooks signing key ("whsec_" +
// base64 of 32 bytes).
func newWebhookSecret(kind string) string {
	if kind == "signing_token" {
		key := make([]byte, webhookSecretBytes)
		_, _ = rand.Read(key) // never fails (crypto/rand)
		return "whsec_" + base64.StdEncoding.EncodeToString(key)
	}
	return secrets.RandomToken("", webhookSecretBytes)
}

// projectHookTarget resolves a repository route: the repository of that
// provider, its integration (connected) and the plugin.
func (h *Host) projectHookTarget(ctx context.Context, providerName, repositoryID string) (store.Repository, store.Integration, *provider, error) {
	if repositoryID == "" || len(repositoryID) > 128 {
		return store.Repository{}, store.Integration{}, nil, notFoundError(providerName+" repository", repositoryID)
	}
	rp, err := h.store.GetRepository(ctx, repositoryID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rp.Provider != providerName) {
		return rp, store.Integration{}, nil, notFoundError(providerName+" repository", repositoryID)
	}
	if err != nil {
		return rp, store.Integration{}, nil, internalError("load the repository", err)
	}
	in, err := h.integrationOf(ctx, rp.IntegrationID)
	if err != nil {
		return rp, in, nil, err
	}
	pr, aerr := h.provider(providerName)
	if aerr != nil {
		return rp, in, nil, aerr
	}
	if aerr := requireConnected(pr, in); aerr != nil {
		return rp, in, pr, aerr
	}
	return rp, in, pr, nil
}

// registerProjectWebhook answers POST
// /v1/integration-repositories/{id}/{provider}-webhook (owner or admin): a
// new secret (?type=signing_token for a signing key), EnsureProjectWebhook
// with the host's webhook URL and the hook id registered before, then the
// secret and the hook id stored together. When the provider refuses,
// nothing is stored and the old secret keeps working. All of it runs under
// the repository's lease (projecthooklease.go): registrations and removals
// of one repository, on any host sharing the database, run one at a time.
func (h *Host) registerProjectWebhook(providerName string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		kind := r.URL.Query().Get("type")
		switch kind {
		case "":
			kind = "token"
		case "token", "signing_token":
		default:
			return fieldError("type", "must be token or signing_token")
		}
		rp, in, pr, err := h.projectHookTarget(ctx, providerName, r.PathValue("id"))
		if err != nil {
			return err
		}
		ps := h.projectHooks()
		hookURL := h.webhookURL(pr.name)
		var (
			resp  *scmv1.EnsureProjectWebhookResponse
			saved store.ProjectHook
			at    int64
		)
		// Under the repository's lease (projecthooklease.go): a registration
		// racing this one, on any host, waits and then updates the hook this
		// one made instead of creating a second one.
		err = h.withProjectHookLease(ctx, ps, rp.ID, func(holder string) error {
			prev, err := ps.GetProjectHook(ctx, rp.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return internalError("load the repository's webhook", err)
			}
			secret := newWebhookSecret(kind)
			resp, err = withConnection(ctx, h, pr, in, "EnsureProjectWebhook", func(ctx context.Context, c scmv1.ProviderServiceClient, conn *scmv1.Connection) (*scmv1.EnsureProjectWebhookResponse, error) {
				return c.EnsureProjectWebhook(ctx, &scmv1.EnsureProjectWebhookRequest{
					Connection: conn, RepositoryExternalId: rp.ExternalID, Url: hookURL, Secret: secret, HookId: prev.HookID,
				})
			})
			if err != nil {
				return h.scmWriteError(pr.name, err)
			}
			if resp.GetHookId() == "" {
				return newError(http.StatusBadGateway, pr.name+suffixAPIError, "the provider named no webhook id")
			}
			at = h.now().Unix()
			saved, err = ps.SaveProjectHook(ctx, rp.ID, holder, resp.GetHookId(), hookURL, secret, at)
			switch {
			case errors.Is(err, store.ErrNotFound):
				h.log.Warn("repository removed while its webhook was registered; the hook at the provider delivers to no repository",
					"repository_id", rp.ID, "repository", rp.FullName, "hook_id", resp.GetHookId())
				return notFoundError(pr.name+" repository", rp.ID)
			case errors.Is(err, store.ErrLeaseNotHeld):
				return err // withProjectHookLease answers it
			case err != nil:
				return internalError("store the webhook secret and hook", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		action := "project_webhook.update"
		if resp.GetCreated() {
			action = "project_webhook.create"
		}
		h.audit(ctx, action, in.ID, fmt.Sprintf("%s hook %s (%s)", rp.FullName, saved.HookID, kind))
		h.log.Info("project webhook registered", "repository_id", rp.ID, "repository", rp.FullName, "hook_id", saved.HookID,
			"created", resp.GetCreated(), "secret_type", kind, "url", hookURL)
		writeJSON(w, http.StatusOK, projectWebhookResponse{RepositoryID: rp.ID, HookID: saved.HookID, WebhookURL: hookURL,
			Created: resp.GetCreated(), SecretType: kind, RotatedAt: at})
		return nil
	}
}

// removeProjectWebhook answers DELETE
// /v1/integration-repositories/{id}/{provider}-webhook (owner or admin): the
// hook the host registered is deleted at the provider (without one, the
// repository's hooks with the host's webhook URL) and forgotten, under the
// repository's lease. The repository's webhook secret stays.
func (h *Host) removeProjectWebhook(providerName string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		rp, in, pr, err := h.projectHookTarget(ctx, providerName, r.PathValue("id"))
		if err != nil {
			return err
		}
		ps := h.projectHooks()
		var (
			prev store.ProjectHook
			resp *scmv1.DeleteProjectWebhookResponse
		)
		// Under the repository's lease, so that a registration racing this
		// removal runs wholly before it (and its hook is removed) or wholly
		// after it (and makes a new one), never in between.
		err = h.withProjectHookLease(ctx, ps, rp.ID, func(string) error {
			var err error
			prev, err = ps.GetProjectHook(ctx, rp.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return internalError("load the repository's webhook", err)
			}
			resp, err = h.deleteProjectHookAt(ctx, pr, in, rp.ExternalID, prev.HookID)
			if err != nil {
				return h.scmWriteError(pr.name, err)
			}
			if _, err := ps.ForgetProjectHook(ctx, rp.ID); err != nil {
				return internalError("forget the repository's webhook", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		h.audit(ctx, "project_webhook.delete", in.ID, fmt.Sprintf("%s hook %s", rp.FullName, prev.HookID))
		h.log.Info("project webhook removed", "repository_id", rp.ID, "repository", rp.FullName, "hook_id", prev.HookID, "deleted", resp.GetDeleted())
		writeJSON(w, http.StatusOK, projectWebhookDeleteResponse{RepositoryID: rp.ID, HookID: optString(prev.HookID), Deleted: resp.GetDeleted()})
		return nil
	}
}

// deleteProjectHookAt asks the plugin to delete a repository's hook at the
// provider: hookID, or without one every hook of the repository with the
// host's webhook URL. A hook or project the provider no longer has (GitLab's
// 404) is success with Deleted false. The caller holds the repository's
// lease (withProjectHookLease) and forgets the record after.
func (h *Host) deleteProjectHookAt(ctx context.Context, pr *provider, in store.Integration, externalID, hookID string) (*scmv1.DeleteProjectWebhookResponse, error) {
	req := &scmv1.DeleteProjectWebhookRequest{RepositoryExternalId: externalID, HookId: hookID}
	if hookID == "" {
		req.Url = h.webhookURL(pr.name)
	}
	return withConnection(ctx, h, pr, in, "DeleteProjectWebhook", func(ctx context.Context, c scmv1.ProviderServiceClient, conn *scmv1.Connection) (*scmv1.DeleteProjectWebhookResponse, error) {
		req.Connection = conn
		return c.DeleteProjectWebhook(ctx, req)
	})
}

// scmWriteError adjusts the answer to a refused write at the provider
// (project webhooks, commit statuses): a missing role or scope is 403 (the
// account may not do this; the message names the role or scope), a refused
// webhook URL 422 with what to change on this host.
func (h *Host) scmWriteError(providerName string, err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Code {
	case providerName + suffixRoleMissing, providerName + suffixScopeMissing:
		ae.Status = http.StatusForbidden
	case providerName + suffixHookURLRefused:
		who := providerName
		if p, ok := h.plugins.Get(providerName); ok && p.Manifest().DisplayName != "" {
			who = p.Manifest().DisplayName
		}
		ae.Status = http.StatusUnprocessableEntity
		ae.Message += fmt.Sprintf(". This host's webhook URL is %s: if %s cannot reach that address, start oore-host with --public-url set to one it can reach",
			h.webhookURL(providerName), who)
	}
	return ae
}

// projectHooksRemoval is what deleting an integration did to the project
// webhooks the host had registered for it (added by the reference host to
// the delete answer when there were any).
type projectHooksRemoval struct {
	Removed int                  `json:"removed"`
	Failed  []projectHookFailure `json:"failed"`
}

// projectHookFailure is a hook that could not be removed: it is still at
// the provider (its deliveries are refused now) and must be deleted there.
type projectHookFailure struct {
	RepositoryFullName string `json:"repository_full_name"`
	HookID             string `json:"hook_id"`
	Error              string `json:"error"`
}

// deleteIntegrationResponse is Oore's OkResponse plus what happened to the
// integration's project webhooks.
type deleteIntegrationResponse struct {
	okResponse
	ProjectWebhooks *projectHooksRemoval `json:"project_webhooks,omitempty"`
}

// removeIntegrationProjectHooks removes, best effort, the project webhooks
// the host registered for a deleted integration's repositories, with the
// credentials the integration had (creds, loaded before it was deleted;
// credErr when that failed), then forgets them. An OAuth access token about
// to expire is refreshed first and creds updated, so that a later revoke
// uses the current grant. Failures are logged and reported; nil when the
// integration had no hooks.
func (h *Host) removeIntegrationProjectHooks(ctx context.Context, in store.Integration, creds *store.Credentials, credErr error) *projectHooksRemoval {
	ps := h.projectHooks()
	if ps == nil {
		return nil
	}
	hooks, err := ps.IntegrationProjectHooks(ctx, in.ID)
	if err != nil {
		h.log.Error("project webhooks of a deleted integration not listed; they stay at the provider", "integration_id", in.ID, "error", err)
		return &projectHooksRemoval{Failed: []projectHookFailure{}}
	}
	if len(hooks) == 0 {
		return nil
	}
	out := &projectHooksRemoval{Failed: []projectHookFailure{}}
	fail := func(hk store.ProjectHook, why string) {
		out.Failed = append(out.Failed, projectHookFailure{RepositoryFullName: hk.RepositoryFullName, HookID: hk.HookID, Error: why})
		h.log.Warn("project webhook of a deleted integration not removed; delete it at the provider", "integration_id", in.ID,
			"repository", hk.RepositoryFullName, "hook_id", hk.HookID, "error", why)
	}
	pr, aerr := h.provider(in.Provider)
	switch {
	case aerr != nil:
		for _, hk := range hooks {
			fail(hk, aerr.Message)
		}
	case credErr != nil || creds == nil:
		h.log.Error("credentials of a deleted integration not read", "integration_id", in.ID, "error", credErr)
		for _, hk := range hooks {
			fail(hk, "the integration's credentials could not be read; see the host's log")
		}
	default:
		ctx, cancel := context.WithTimeout(ctx, projectHookCleanupTimeout)
		defer cancel()
		h.refreshForCleanup(ctx, pr, in, creds)
		conn := h.connection(in.HostURL, store.ToProto(authMode(in), *creds))
		for _, hk := range hooks {
			_, err := call(ctx, h, pr, "DeleteProjectWebhook", func(ctx context.Context, c scmv1.ProviderServiceClient) (*scmv1.DeleteProjectWebhookResponse, error) {
				return c.DeleteProjectWebhook(ctx, &scmv1.DeleteProjectWebhookRequest{Connection: conn, RepositoryExternalId: hk.RepositoryExternalID, HookId: hk.HookID})
			})
			if err != nil {
				fail(hk, pluginError(pr.name, err).Message)
				continue
			}
			out.Removed++
		}
	}
	if _, err := ps.ForgetIntegrationProjectHooks(ctx, in.ID); err != nil {
		h.log.Error("project webhook records of a deleted integration not forgotten", "integration_id", in.ID, "error", err)
	}
	h.log.Info("project webhooks of a deleted integration removed", "integration_id", in.ID, "removed", out.Removed, "failed", len(out.Failed))
	return out
}

// refreshForCleanup refreshes an OAuth access token that is about to
// expire, through the plugin (the integration is gone from the store, so
// the credential source cannot), and updates creds. A failure is logged:
// the removals then try the old token.
func (h *Host) refreshForCleanup(ctx context.Context, pr *provider, in store.Integration, creds *store.Credentials) {
	mode := authMode(in)
	if mode != scmv1.AuthMode_AUTH_MODE_OAUTH_APP || creds.RefreshToken == "" || creds.ExpiresAt == 0 ||
		creds.ExpiresAt > h.now().Add(credsource.DefaultSkew).Unix() {
		return
	}
	ctx = context.WithValue(ctx, refreshKey{}, refreshTarget{pr: pr, hostURL: in.HostURL})
	fresh, err := h.refresh(ctx, store.ToProto(mode, *creds))
	if err != nil {
		h.log.Warn("access token of a deleted integration not refreshed before removing its project webhooks", "integration_id", in.ID,
			"error", pluginError(pr.name, err).Message)
		return
	}
	next := store.FromProto(fresh)
	if next.AccessToken == "" {
		return
	}
	if next.ClientID == "" {
		next.ClientID, next.ClientSecret, next.RedirectURI = creds.ClientID, creds.ClientSecret, creds.RedirectURI
	}
	if next.RefreshToken == "" {
		next.RefreshToken = creds.RefreshToken
	}
	*creds = next
}
