// Command oore-scm-gitlab is the GitLab SCM provider plugin for Oore CI.
// An Oore host launches it (go-plugin, gRPC, AutoMTLS) after checking its
// SHA-256 against manifest.json; run by hand it explains that and exits 1.
package main

import (
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	"github.com/oore-ci/oore-scm-gitlab/shared/pluginkit"
)

func main() {
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       "gitlab",
		Level:      hclog.LevelFromString(os.Getenv("OORE_PLUGIN_LOG_LEVEL")),
		Output:     os.Stderr,
		JSONFormat: true,
	})
	pluginkit.Serve(gitlab.New(gitlab.WithLogger(logger)),
		pluginkit.WithLogger(logger),
		pluginkit.WithName("oore-scm-gitlab"))
}
