// Command oore-scm-localgit is the local git SCM provider plugin for Oore
// CI: read-only access to git repositories on the host's file system. An
// Oore host launches it (go-plugin, gRPC, AutoMTLS) after checking its
// SHA-256 against manifest.json; run by hand it explains that and exits 1.
package main

import (
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/oore-ci/oore-scm-gitlab/plugin/localgit"
	"github.com/oore-ci/oore-scm-gitlab/shared/pluginkit"
)

func main() {
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       localgit.Name,
		Level:      hclog.LevelFromString(os.Getenv("OORE_PLUGIN_LOG_LEVEL")),
		Output:     os.Stderr,
		JSONFormat: true,
	})
	pluginkit.Serve(localgit.New(localgit.WithLogger(logger)),
		pluginkit.WithLogger(logger),
		pluginkit.WithName("oore-scm-localgit"))
}
