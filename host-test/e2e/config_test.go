package e2e

import "github.com/oore-ci/oore-scm-gitlab/host-test/host"

// hostConfig is the in-process hosts' configuration.
func hostConfig() host.Config { return host.Config{} }
