package ui

// The JSON shapes of the host API the UI reads: Oore's (see
// host-test/contract/oore-openapi-scm.json) plus the host's additions.
// Optional fields the host may add are read when present and ignored when not.

// integration is Oore's Integration, plus the host's health fields.
type integration struct {
	ID          string `json:"id"`
	Provider    string `json:"provider"`
	HostURL     string `json:"host_url"`
	AuthMode    string `json:"auth_mode"`
	Status      string `json:"status"`
	DisplayName string `json:"display_name"`
	CreatedBy   string `json:"created_by"`
	CreatedAt   int64  `json:"created_at"`
	UpdatedAt   int64  `json:"updated_at"`

	// Host additions (optional).
	AccountUsername   string   `json:"account_username"`
	StatusReason      string   `json:"status_reason"`
	ReconnectRequired bool     `json:"reconnect_required"`
	TokenExpiresAt    int64    `json:"token_expires_at"`
	Scopes            []string `json:"scopes"`
	// Capabilities are the optional capabilities the connection's scopes
	// allow, as lower-case names without the prefix ("project_webhooks").
	Capabilities     []string `json:"capabilities"`
	CredentialStatus string   `json:"credential_status"`
	CredentialDetail string   `json:"credential_detail"`
	CredentialAt     int64    `json:"credential_checked_at"`
}

type listIntegrationsResponse struct {
	Integrations []integration `json:"integrations"`
	Total        int64         `json:"total"`
	ActiveTotal  int64         `json:"active_total"`
}

type integrationDetailResponse struct {
	Integration       integration `json:"integration"`
	InstallationCount int64       `json:"installation_count"`
	RepositoryCount   int64       `json:"repository_count"`
	LastWebhookAt     int64       `json:"last_webhook_at"`
}

type integrationResponse struct {
	Integration integration `json:"integration"`
}

type authorizeResponse struct {
	AuthorizeURL string `json:"authorize_url"`
}

type credentialStatusResponse struct {
	Status    string `json:"status"`
	ExpiresAt int64  `json:"expires_at"`
	CheckedAt int64  `json:"checked_at"`
	Detail    string `json:"detail"`
}

type repository struct {
	ID             string `json:"id"`
	InstallationID string `json:"installation_id"`
	ExternalID     string `json:"external_id"`
	FullName       string `json:"full_name"`
	IsPrivate      bool   `json:"is_private"`
	DefaultBranch  string `json:"default_branch"`
	AvatarURL      string `json:"avatar_url"`
	CreatedAt      int64  `json:"created_at"`
	UpdatedAt      int64  `json:"updated_at"`

	// Host additions (optional).
	IntegrationID          string `json:"integration_id"`
	Provider               string `json:"provider"`
	WebURL                 string `json:"web_url"`
	Visibility             string `json:"visibility"`
	HasWebhookSecret       bool   `json:"has_webhook_secret"`
	WebhookSecretRotatedAt int64  `json:"webhook_secret_rotated_at"`
}

type listRepositoriesResponse struct {
	Repositories []repository `json:"repositories"`
	Total        int64        `json:"total"`
}

type webhookSecretResponse struct {
	RepositoryID  string `json:"repository_id"`
	WebhookSecret string `json:"webhook_secret"`
	RotatedAt     int64  `json:"rotated_at"`
	WebhookURL    string `json:"webhook_url"`
}

// projectWebhookResponse is the host's answer to an automatic registration.
type projectWebhookResponse struct {
	HookID  string `json:"hook_id"`
	URL     string `json:"webhook_url"`
	Created bool   `json:"created"`
	// SecretType is "token" or "signing_token" (optional).
	SecretType string `json:"secret_type"`
}

type delivery struct {
	ID                 string `json:"id"`
	Provider           string `json:"provider"`
	DeliveryID         string `json:"delivery_id"`
	IntegrationID      string `json:"integration_id"`
	RepositoryID       string `json:"repository_id"`
	RepositoryFullName string `json:"repository_full_name"`
	EventKind          string `json:"event_kind"`
	EventName          string `json:"event_name"`
	Triggered          bool   `json:"triggered"`
	IgnoredReason      string `json:"ignored_reason"`
	ReceivedAt         int64  `json:"received_at"`
	// Builds are the build triggers the delivery queued.
	Builds []trigger `json:"builds"`
}

type trigger struct {
	ID                 string `json:"id"`
	Kind               string `json:"kind"`
	Ref                string `json:"ref"`
	Branch             string `json:"branch"`
	SHA                string `json:"sha"`
	MergeRequestNumber int64  `json:"merge_request_number"`
	Status             string `json:"status"`
	CreatedAt          int64  `json:"created_at"`
}

type listDeliveriesResponse struct {
	Deliveries []delivery `json:"deliveries"`
	Total      int64      `json:"total"`
}
