// Package manifests holds the manifests of the plugins this repository
// builds and the JSON Schema every manifest must satisfy. A host reads a
// plugin's manifest.json (written by `make build` with the binary's sha256)
// from its plugins directory through shared/manifest.
package manifests

import _ "embed"

// Schema is the JSON Schema (draft 2020-12) of a plugin manifest.
//
//go:embed schema.json
var Schema []byte

// GitLab is the GitLab provider's manifest as checked in (without sha256).
//
//go:embed gitlab.json
var GitLab []byte
