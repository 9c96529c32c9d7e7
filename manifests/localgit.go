package manifests

import _ "embed"

// LocalGit is the local git provider's manifest (plugin/localgit) as checked
// in (without sha256).
//
//go:embed localgit.json
var LocalGit []byte
