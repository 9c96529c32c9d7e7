package host

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// listInstallations answers GET /v1/integrations/{id}/installations.
func (h *Host) listInstallations(w http.ResponseWriter, r *http.Request) error {
	in, err := h.integrationOf(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	ins, err := h.store.ListInstallations(r.Context(), in.ID)
	if err != nil {
		return internalError("list installations", err)
	}
	writeJSON(w, http.StatusOK, installationsResponse{Installations: viewInstallations(ins)})
	return nil
}

// syncInstallationsRequest is Oore's SyncInstallationsRequest.
type syncInstallationsRequest struct {
	InstallationID string `json:"installation_id" validate:"omitempty,max=128"`
}

// syncInstallations re-syncs an integration's repositories from the provider
// (POST /v1/integrations/{id}/installations); repositories no longer visible
// are removed.
func (h *Host) syncInstallations(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	in, err := h.integrationOf(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	var req syncInstallationsRequest
	if aerr := decodeJSON(w, r, &req); aerr != nil {
		return aerr
	}
	pr, aerr := h.provider(in.Provider)
	if aerr != nil {
		return aerr
	}
	if aerr := requireConnected(pr, in); aerr != nil {
		return aerr
	}
	if req.InstallationID != "" {
		ins, err := h.store.ListInstallations(ctx, in.ID)
		if err != nil {
			return internalError("list installations", err)
		}
		found := false
		for _, i := range ins {
			found = found || i.ID == req.InstallationID
		}
		if !found {
			return notFoundError("installation", req.InstallationID)
		}
	}
	_, res, err := h.syncRepositories(ctx, pr, in)
	if err != nil {
		return err
	}
	ins, err := h.store.ListInstallations(ctx, in.ID)
	if err != nil {
		return internalError("list installations", err)
	}
	writeJSON(w, http.StatusOK, syncInstallationsResponse{installationsResponse{Installations: viewInstallations(ins)}, res.hooks})
	return nil
}

// listRepositories answers GET /v1/integrations/{id}/repositories.
func (h *Host) listRepositories(w http.ResponseWriter, r *http.Request) error {
	in, err := h.integrationOf(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	limit, offset, q, aerr := page(r.URL.Query())
	if aerr != nil {
		return aerr
	}
	repos, total, err := h.store.ListRepositories(r.Context(), store.RepositoryQuery{IntegrationID: in.ID, Q: q, Limit: limit, Offset: offset})
	if err != nil {
		return internalError("list repositories", err)
	}
	out := listRepositoriesResponse{Repositories: make([]repositoryView, 0, len(repos)), Total: total}
	for _, rp := range repos {
		out.Repositories = append(out.Repositories, viewRepository(rp))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listSourceRepositories answers GET /v1/integration-repositories.
func (h *Host) listSourceRepositories(w http.ResponseWriter, r *http.Request) error {
	limit, offset, q, aerr := page(r.URL.Query())
	if aerr != nil {
		return aerr
	}
	repos, total, err := h.store.ListRepositories(r.Context(), store.RepositoryQuery{Q: q, Limit: limit, Offset: offset})
	if err != nil {
		return internalError("list repositories", err)
	}
	out := listSourceRepositoriesResponse{Repositories: make([]sourceRepositoryView, 0, len(repos)), Total: total}
	for _, rp := range repos {
		out.Repositories = append(out.Repositories, sourceRepositoryView{repositoryView: viewRepository(rp), Provider: rp.Provider, HostURL: rp.HostURL})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// webhookSecretBytes is the entropy of a webhook secret.
const webhookSecretBytes = 32

// rotateWebhookSecret generates (or replaces) a repository's webhook secret
// and shows it once. The old secret stops working at once. By default the
// secret is a plain token (GitLab's X-Gitlab-Token); ?type=signing_token
// (added by the reference host) makes a Standard Webhooks signing key
// ("whsec_" + base64 of 32 bytes) for GitLab's signed deliveries.
func (h *Host) rotateWebhookSecret(provider string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		id := r.PathValue("id")
		kind := r.URL.Query().Get("type")
		if kind != "" && kind != "token" && kind != "signing_token" {
			return fieldError("type", "must be token or signing_token")
		}
		rp, err := h.store.GetRepository(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && rp.Provider != provider) {
			return notFoundError(provider+" repository", id)
		}
		if err != nil {
			return internalError("load the repository", err)
		}
		secret := secrets.RandomToken("", webhookSecretBytes)
		if kind == "signing_token" {
			key := make([]byte, webhookSecretBytes)
			_, _ = rand.Read(key) // never fails (crypto/rand)
			secret = "whsec_" + base64.StdEncoding.EncodeToString(key)
		}
		at := h.now().Unix()
		if err := h.store.SetWebhookSecret(ctx, rp.ID, secret, at); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return notFoundError(provider+" repository", id)
			}
			return internalError("store the webhook secret", err)
		}
		action := "webhook_secret.create"
		if rp.HasWebhookSecret {
			action = "webhook_secret.rotate"
		}
		h.audit(ctx, action, rp.IntegrationID, rp.FullName)
		h.log.Info("webhook secret set", "repository_id", rp.ID, "repository", rp.FullName, "rotated", rp.HasWebhookSecret)
		writeJSON(w, http.StatusOK, webhookSecretResponse{RepositoryID: rp.ID, WebhookSecret: secret, RotatedAt: at, WebhookURL: h.webhookURL(provider)})
		return nil
	}
}
