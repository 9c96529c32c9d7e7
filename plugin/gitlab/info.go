package gitlab

import scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"

// Scopes GitLab grants that this provider cares about.
const (
	ScopeAPI            = "api"
	ScopeReadAPI        = "read_api"
	ScopeReadRepository = "read_repository"
)

// DefaultHostURL is gitlab.com.
const DefaultHostURL = "https://gitlab.com"

// requiredScopes: read_repository (clones), and api or read_api (the REST API).
func requiredScopes() []*scmv1.ScopeRequirement {
	return []*scmv1.ScopeRequirement{
		{AnyOf: []string{ScopeReadRepository}},
		{AnyOf: []string{ScopeAPI, ScopeReadAPI}},
	}
}

// capabilities is what this provider serves. Only what works is listed: an
// RPC that answers Unimplemented is never announced.
var capabilities = []scmv1.Capability{
	scmv1.Capability_CAPABILITY_VALIDATE_CONNECTION,
	scmv1.Capability_CAPABILITY_CHECK_CREDENTIALS,
	scmv1.Capability_CAPABILITY_LIST_REPOSITORIES,
	scmv1.Capability_CAPABILITY_OAUTH,
	scmv1.Capability_CAPABILITY_WEBHOOKS,
	scmv1.Capability_CAPABILITY_WEBHOOK_SESSION,
	scmv1.Capability_CAPABILITY_CLONE_CREDENTIALS,
	scmv1.Capability_CAPABILITY_PROJECT_WEBHOOKS,
	scmv1.Capability_CAPABILITY_COMMIT_STATUS,
}

// eventKinds are the webhook events this provider normalises.
var eventKinds = []scmv1.EventKind{
	scmv1.EventKind_EVENT_KIND_PUSH,
	scmv1.EventKind_EVENT_KIND_TAG_PUSH,
	scmv1.EventKind_EVENT_KIND_MERGE_REQUEST,
}

func hostURLField() *scmv1.FormField {
	return &scmv1.FormField{
		Name: "host_url", Label: "GitLab URL", Kind: "url", Required: true,
		Help:         "https://gitlab.com, or your self-managed GitLab's address (https; http only for loopback).",
		Placeholder:  DefaultHostURL,
		DefaultValue: DefaultHostURL,
	}
}

// Info describes the provider. It must equal manifests/gitlab.json; a test
// and every host's launcher check that.
func Info() *scmv1.ProviderInfo {
	return &scmv1.ProviderInfo{
		Name:             Name,
		DisplayName:      "GitLab",
		Version:          Version,
		ProtocolVersions: []uint32{1},
		DefaultHostUrl:   DefaultHostURL,
		EventKinds:       eventKinds,
		Capabilities:     capabilities,
		AuthModes: []*scmv1.AuthModeInfo{
			{
				Mode:           scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN,
				Label:          "Personal access token",
				Help:           "Create a personal access token in GitLab (User settings > Access tokens) with the api and read_repository scopes.",
				RequiredScopes: requiredScopes(),
				DefaultScopes:  []string{ScopeAPI, ScopeReadRepository},
				Fields: []*scmv1.FormField{
					hostURLField(),
					{
						Name: "access_token", Label: "Access token", Kind: "password", Required: true, Secret: true,
						Help:        "Scopes: api (or read_api) and read_repository. api also lets Oore register webhooks and report commit statuses.",
						Placeholder: "glpat-…",
					},
				},
			},
			{
				Mode:  scmv1.AuthMode_AUTH_MODE_OAUTH_APP,
				Label: "OAuth application",
				Help: "Create an application in GitLab (User settings > Applications, or a group's or the instance's " +
					"Applications page): confidential, scopes api and read_repository, and the redirect URI this " +
					"host shows. Then authorize Oore at GitLab.",
				RequiredScopes: requiredScopes(),
				DefaultScopes:  []string{ScopeAPI, ScopeReadRepository},
				Fields: []*scmv1.FormField{
					hostURLField(),
					{
						Name: "client_id", Label: "Application ID", Kind: "text", Required: true,
						Help: "The Application ID GitLab shows for the application.",
					},
					{
						Name: "client_secret", Label: "Secret", Kind: "password", Required: true, Secret: true,
						Help:        "The application's Secret (GitLab shows it once, when the application is created or renewed).",
						Placeholder: "gloas-…",
					},
				},
			},
		},
	}
}
