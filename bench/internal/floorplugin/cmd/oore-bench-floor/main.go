// Command oore-bench-floor is the benchmarks' cold-start floor: the smallest
// scm.v1 plugin (see package floorplugin), launched by oore-bench the way a
// host launches any plugin. Run by hand, it explains itself and exits 1.
package main

import (
	"github.com/oore-ci/oore-scm-gitlab/bench/internal/floorplugin"
	"github.com/oore-ci/oore-scm-gitlab/shared/pluginkit"
)

func main() {
	pluginkit.Serve(floorplugin.Provider{}, pluginkit.WithName(floorplugin.Executable))
}
