package localgit

import scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"

// capabilities is what this provider serves; every other RPC answers
// Unimplemented (from the embedded UnimplementedProviderServiceServer).
func capabilities() []scmv1.Capability {
	return []scmv1.Capability{
		scmv1.Capability_CAPABILITY_VALIDATE_CONNECTION,
		scmv1.Capability_CAPABILITY_LIST_REPOSITORIES,
		scmv1.Capability_CAPABILITY_CLONE_CREDENTIALS,
	}
}

// Info describes the provider. It must equal manifests/localgit.json; a
// test and every host's launcher check that.
func Info() *scmv1.ProviderInfo {
	return &scmv1.ProviderInfo{
		Name:             Name,
		DisplayName:      "Local git repositories",
		Version:          Version,
		ProtocolVersions: []uint32{1},
		Capabilities:     capabilities(),
		AuthModes: []*scmv1.AuthModeInfo{{
			Mode:  scmv1.AuthMode_AUTH_MODE_LOCAL_PATH,
			Label: "Folder on this machine",
			Help:  "A folder on the Oore host that holds git repositories (working copies or bare). Oore lists every repository under it and clones them from disk.",
			Fields: []*scmv1.FormField{{
				Name: "host_url", Label: "Folder", Kind: "url", Required: true,
				Help:        "A file:// URL of an absolute folder, e.g. file:///srv/git.",
				Placeholder: "file:///srv/git",
			}},
		}},
	}
}
