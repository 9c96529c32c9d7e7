package store

// Integration statuses.
const (
	StatusActive   = "active"
	StatusInactive = "inactive"
	StatusError    = "error"
)

// Build trigger statuses. A "running" trigger blocks its integration's deletion.
const (
	TriggerQueued  = "queued"
	TriggerRunning = "running"
	TriggerDone    = "done"
	// TriggerCanceled: the integration was deleted before the build ran.
	TriggerCanceled = "canceled"
)

// APIToken is an API token of the host; only the SHA-256 of its secret is kept.
type APIToken struct {
	ID        string
	Name      string
	Role      string
	Hash      []byte
	CreatedAt int64
}

// Integration is a connection of the host to one account on one SCM host.
// It never carries credentials: LoadCredentials decrypts those on demand.
type Integration struct {
	ID          string
	Provider    string
	HostURL     string
	AuthMode    string
	Status      string
	DisplayName string
	CreatedBy   string
	// AccountID and AccountUsername are the SCM account the credentials act
	// as (empty until an OAuth integration is connected).
	AccountID       string
	AccountUsername string
	Scopes          []string
	// TokenExpiresAt is when the current access token expires (0: unknown or never).
	TokenExpiresAt int64
	// ReconnectRequired is set when an OAuth refresh failed for good.
	ReconnectRequired bool
	// StatusReason says, in words for a person, why the status is what it is
	// (empty when active). Never a secret.
	StatusReason  string
	LastWebhookAt int64
	CreatedAt     int64
	UpdatedAt     int64
}

// Credentials authenticate an integration to its SCM host. They are stored
// sealed, as one value bound to the integration's id.
type Credentials struct {
	AccessToken  string `json:"access_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	// ExpiresAt is when AccessToken expires (Unix seconds; 0 = unknown or never).
	ExpiresAt    int64  `json:"expires_at,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	// RedirectURI is the OAuth redirect URI the grant was made for.
	RedirectURI string `json:"redirect_uri,omitempty"`
}

// Connection is what ConnectIntegration records.
type Connection struct {
	HostURL         string
	DisplayName     string
	AccountID       string
	AccountUsername string
	Scopes          []string
	Credentials     Credentials
}

// IntegrationQuery filters and pages ListIntegrations.
type IntegrationQuery struct {
	Provider string
	// Q matches the display name, host URL or account username (case-insensitive).
	Q string
	// Sort is "created_at" (default), "updated_at", "display_name" or "host_url".
	Sort string
	// Desc sorts descending (the default when Sort is empty).
	Desc          bool
	Limit, Offset int64
}

// IntegrationPage is one page of integrations with the totals of the filter.
type IntegrationPage struct {
	Integrations []Integration
	Total        int64
	ActiveTotal  int64
}

// Installation is the SCM account an integration acts as (one per integration).
type Installation struct {
	ID            string
	IntegrationID string
	ExternalID    string
	AccountName   string
	AccountType   string
	CreatedAt     int64
}

// Repository is a repository an integration can build.
type Repository struct {
	ID             string
	IntegrationID  string
	InstallationID string
	Provider       string
	// HostURL is the integration's host URL (filled by reads).
	HostURL          string
	ExternalID       string
	FullName         string
	Name             string
	Namespace        string
	DefaultBranch    string
	Private          bool
	Visibility       string
	CloneURL         string
	WebURL           string
	AvatarURL        string
	Archived         bool
	LastActivityAt   int64
	HasWebhookSecret bool
	// WebhookSecretRotatedAt is when the secret was last set (0: never).
	WebhookSecretRotatedAt int64
	CreatedAt              int64
	UpdatedAt              int64
}

// RepositoryQuery filters and pages ListRepositories.
type RepositoryQuery struct {
	// IntegrationID limits the list to one integration ("" = all).
	IntegrationID string
	// Q matches the full name (case-insensitive).
	Q             string
	Limit, Offset int64
}

// WebhookTarget is a repository that may receive webhooks, with its secret.
type WebhookTarget struct {
	Repository  Repository
	Integration Integration
	Secret      string
}

// OAuthState is a pending authorization: the sealed state names its ID.
type OAuthState struct {
	ID            string
	IntegrationID string
	RedirectURL   string
	// Verifier is the PKCE code verifier (stored sealed).
	Verifier  string
	ExpiresAt int64
	CreatedAt int64
}

// Delivery is an authenticated webhook delivery as the host stored it.
type Delivery struct {
	ID                 string
	Provider           string
	DeliveryID         string
	IntegrationID      string
	RepositoryID       string
	RepositoryFullName string
	EventKind          string
	EventName          string
	// Triggered is true when at least one build trigger was stored with it.
	Triggered bool
	// IgnoredReason says why nothing (or not everything) was triggered.
	IgnoredReason string
	// Events is the provider's normalised events, as JSON.
	Events     string
	ReceivedAt int64
	// Triggers are filled by ListDeliveries.
	Triggers []BuildTrigger
}

// BuildTrigger is a build the host queued for a delivery.
type BuildTrigger struct {
	ID            string
	DeliveryID    string
	IntegrationID string
	RepositoryID  string
	// Kind is "push" or "merge_request".
	Kind               string
	Ref                string
	Branch             string
	SHA                string
	MergeRequestNumber int64
	Status             string
	CreatedAt          int64
}

// DeliveryQuery filters and pages ListDeliveries.
type DeliveryQuery struct {
	IntegrationID string
	Limit, Offset int64
}

// AuditEvent records who changed what.
type AuditEvent struct {
	ID            string
	At            int64
	Actor         string
	Action        string
	IntegrationID string
	Detail        string
}
