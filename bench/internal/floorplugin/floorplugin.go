// Package floorplugin is the cold-start floor of the benchmarks: the
// smallest scm.v1 plugin this stack allows. It serves through
// pluginkit.Serve (go-plugin, gRPC, the launcher's mutual TLS) a provider
// that answers only GetProviderInfo, with a small fixed ProviderInfo, and
// links nothing a real provider would add (no HTTP client, no validator, no
// client-go). Launching it the way a host launches any plugin measures what
// every provider here pays before its own code runs.
//
// It is not a provider anyone uses; it exists only to be measured.
package floorplugin

import (
	"context"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// Executable is the binary's name (the manifest's "executable").
const Executable = "oore-bench-floor"

// Manifest is the source manifest the benchmark driver seals beside the
// binary; it says what Info says, so the launcher's comparison passes.
const Manifest = `{
  "name": "benchfloor",
  "display_name": "Benchmark floor",
  "kind": "scm-provider",
  "version": "0.0.1",
  "description": "The smallest scm.v1 plugin: answers GetProviderInfo only (oore-bench's cold-start floor).",
  "protocol_versions": [1],
  "executable": "` + Executable + `",
  "auth_modes": [{"mode": "personal_token"}],
  "event_kinds": [],
  "capabilities": [],
  "routes": {
    "integrations": "/v1/integrations/benchfloor",
    "webhooks": "/v1/webhooks/benchfloor"
  }
}
`

// Info is the fixed provider info, equal to Manifest.
func Info() *scmv1.ProviderInfo {
	return &scmv1.ProviderInfo{
		Name:             "benchfloor",
		DisplayName:      "Benchmark floor",
		Version:          "0.0.1",
		ProtocolVersions: []uint32{1},
		AuthModes:        []*scmv1.AuthModeInfo{{Mode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN}},
	}
}

// Provider answers GetProviderInfo; every other call is Unimplemented.
type Provider struct {
	scmv1.UnimplementedProviderServiceServer
}

// GetProviderInfo answers Info.
func (Provider) GetProviderInfo(context.Context, *scmv1.GetProviderInfoRequest) (*scmv1.GetProviderInfoResponse, error) {
	return &scmv1.GetProviderInfoResponse{Info: Info()}, nil
}
