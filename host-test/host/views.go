package host

import (
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// The JSON shapes of Oore's API (host-test/contract). Fields the contract
// does not have are marked "added by the reference host"; none holds a secret.

type integrationView struct {
	ID          string  `json:"id"`
	Provider    string  `json:"provider"`
	HostURL     string  `json:"host_url"`
	AuthMode    string  `json:"auth_mode"`
	Status      string  `json:"status"`
	DisplayName *string `json:"display_name"`
	AppID       *string `json:"app_id"`
	AppSlug     *string `json:"app_slug"`
	CreatedBy   string  `json:"created_by"`
	CreatedAt   int64   `json:"created_at"`
	UpdatedAt   int64   `json:"updated_at"`
	// Added by the reference host.
	AccountUsername   *string `json:"account_username"`
	StatusReason      *string `json:"status_reason"`
	ReconnectRequired bool    `json:"reconnect_required"`
	TokenExpiresAt    *int64  `json:"token_expires_at"`
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optInt(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}

func viewIntegration(in store.Integration) integrationView {
	return integrationView{
		ID: in.ID, Provider: in.Provider, HostURL: in.HostURL, AuthMode: in.AuthMode, Status: in.Status,
		DisplayName: optString(in.DisplayName), CreatedBy: in.CreatedBy, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt,
		AccountUsername: optString(in.AccountUsername), StatusReason: optString(in.StatusReason),
		ReconnectRequired: in.ReconnectRequired, TokenExpiresAt: optInt(in.TokenExpiresAt),
	}
}

type completeResponse struct {
	Integration integrationView `json:"integration"`
}

type integrationDetailResponse struct {
	Integration       integrationView `json:"integration"`
	InstallationCount int64           `json:"installation_count"`
	RepositoryCount   int64           `json:"repository_count"`
	LastWebhookAt     *int64          `json:"last_webhook_at"`
}

type listIntegrationsResponse struct {
	Integrations []integrationView `json:"integrations"`
	Total        int64             `json:"total"`
	ActiveTotal  int64             `json:"active_total"`
}

type installationView struct {
	ID            string  `json:"id"`
	IntegrationID string  `json:"integration_id"`
	ExternalID    string  `json:"external_id"`
	AccountName   string  `json:"account_name"`
	AccountType   *string `json:"account_type"`
	CreatedAt     int64   `json:"created_at"`
}

func viewInstallations(ins []store.Installation) []installationView {
	out := make([]installationView, 0, len(ins))
	for _, in := range ins {
		out = append(out, installationView{ID: in.ID, IntegrationID: in.IntegrationID, ExternalID: in.ExternalID,
			AccountName: in.AccountName, AccountType: optString(in.AccountType), CreatedAt: in.CreatedAt})
	}
	return out
}

type installationsResponse struct {
	Installations []installationView `json:"installations"`
}

type repositoryView struct {
	ID             string  `json:"id"`
	InstallationID string  `json:"installation_id"`
	ExternalID     string  `json:"external_id"`
	FullName       string  `json:"full_name"`
	IsPrivate      bool    `json:"is_private"`
	DefaultBranch  *string `json:"default_branch"`
	AvatarURL      *string `json:"avatar_url"`
	CreatedAt      int64   `json:"created_at"`
	UpdatedAt      int64   `json:"updated_at"`
	// Added by the reference host.
	IntegrationID          string  `json:"integration_id"`
	WebURL                 *string `json:"web_url"`
	CloneURL               *string `json:"clone_url"`
	Visibility             *string `json:"visibility"`
	Archived               bool    `json:"archived"`
	HasWebhookSecret       bool    `json:"has_webhook_secret"`
	WebhookSecretRotatedAt *int64  `json:"webhook_secret_rotated_at"`
}

// sourceRepositoryView adds where a repository comes from (all integrations' list).
type sourceRepositoryView struct {
	repositoryView
	Provider string `json:"provider"`
	HostURL  string `json:"host_url"`
}

func viewRepository(r store.Repository) repositoryView {
	return repositoryView{
		ID: r.ID, InstallationID: r.InstallationID, ExternalID: r.ExternalID, FullName: r.FullName, IsPrivate: r.Private,
		DefaultBranch: optString(r.DefaultBranch), AvatarURL: optString(r.AvatarURL), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		IntegrationID: r.IntegrationID, WebURL: optString(r.WebURL), CloneURL: optString(r.CloneURL), Visibility: optString(r.Visibility),
		Archived: r.Archived, HasWebhookSecret: r.HasWebhookSecret, WebhookSecretRotatedAt: optInt(r.WebhookSecretRotatedAt),
	}
}

type listRepositoriesResponse struct {
	Repositories []repositoryView `json:"repositories"`
	Total        int64            `json:"total"`
}

type listSourceRepositoriesResponse struct {
	Repositories []sourceRepositoryView `json:"repositories"`
	Total        int64                  `json:"total"`
}

type webhookSecretResponse struct {
	RepositoryID  string `json:"repository_id"`
	WebhookSecret string `json:"webhook_secret"`
	RotatedAt     int64  `json:"rotated_at"`
	// Added by the reference host: where to point the provider's webhook.
	WebhookURL string `json:"webhook_url"`
}

type credentialStatusResponse struct {
	Status    string `json:"status"`
	ExpiresAt *int64 `json:"expires_at"`
	CheckedAt int64  `json:"checked_at"`
	// Added by the reference host: the provider's words (e.g. "expires in 12 days").
	Detail *string `json:"detail,omitempty"`
}

type okResponse struct {
	OK bool `json:"ok"`
}

type webhookResponse struct {
	OK        bool  `json:"ok"`
	Duplicate *bool `json:"duplicate,omitempty"`
}

type buildView struct {
	ID                 string `json:"id"`
	Kind               string `json:"kind"`
	Ref                string `json:"ref"`
	Branch             string `json:"branch"`
	SHA                string `json:"sha"`
	MergeRequestNumber *int64 `json:"merge_request_number"`
	Status             string `json:"status"`
	CreatedAt          int64  `json:"created_at"`
}

type deliveryView struct {
	ID                 string      `json:"id"`
	DeliveryID         string      `json:"delivery_id"`
	Provider           string      `json:"provider"`
	IntegrationID      string      `json:"integration_id"`
	RepositoryID       string      `json:"repository_id"`
	RepositoryFullName string      `json:"repository_full_name"`
	EventKind          string      `json:"event_kind"`
	EventName          string      `json:"event_name"`
	ReceivedAt         int64       `json:"received_at"`
	Triggered          bool        `json:"triggered"`
	IgnoredReason      *string     `json:"ignored_reason"`
	Builds             []buildView `json:"builds"`
}

func viewDelivery(d store.Delivery) deliveryView {
	v := deliveryView{ID: d.ID, DeliveryID: d.DeliveryID, Provider: d.Provider, IntegrationID: d.IntegrationID,
		RepositoryID: d.RepositoryID, RepositoryFullName: d.RepositoryFullName, EventKind: d.EventKind, EventName: d.EventName,
		ReceivedAt: d.ReceivedAt, Triggered: d.Triggered, IgnoredReason: optString(d.IgnoredReason), Builds: []buildView{}}
	for _, t := range d.Triggers {
		v.Builds = append(v.Builds, buildView{ID: t.ID, Kind: t.Kind, Ref: t.Ref, Branch: t.Branch, SHA: t.SHA,
			MergeRequestNumber: optInt(t.MergeRequestNumber), Status: t.Status, CreatedAt: t.CreatedAt})
	}
	return v
}

type listDeliveriesResponse struct {
	Deliveries []deliveryView `json:"deliveries"`
	Total      int64          `json:"total"`
}
