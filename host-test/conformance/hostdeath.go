package conformance

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/pluginkit"
)

// helperHostEnv, when set to a manifest path, turns any binary that links
// this package (a test binary or the CLI) into a helper host: it launches
// that plugin, prints "pid N" and waits to be killed. robustness/
// exits-when-host-dies re-executes its own binary this way.
const helperHostEnv = "OORE_CONFORMANCE_HELPER_HOST"

// helperLifetime bounds a helper host that nobody kills.
const helperLifetime = 2 * time.Minute

func init() {
	if path := os.Getenv(helperHostEnv); path != "" {
		os.Exit(helperHost(path))
	}
}

// helperHost launches the plugin at manifestPath as a host would and
// waits, so the case can kill it and watch the plugin.
func helperHost(manifestPath string) int {
	m, err := manifest.Load(manifestPath, pluginkit.ProtocolVersion)
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), helperLifetime)
	defer cancel()
	p, err := launcher.Launch(ctx, m, launcher.Options{})
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	fmt.Printf("pid %d\n", p.Pid())
	<-ctx.Done()
	_ = p.Close()
	return 0
}
