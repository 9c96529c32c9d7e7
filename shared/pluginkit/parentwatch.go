package pluginkit

import (
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
)

// watchParent exits the plugin when the process that started it is gone
// (the plugin is re-parented, so its parent pid changes). A host killed with
// SIGKILL cannot stop its plugins; this keeps them from living on as orphans.
func watchParent(every time.Duration, logger hclog.Logger) {
	parent := os.Getppid()
	t := time.NewTicker(every)
	defer t.Stop()
	for range t.C {
		if os.Getppid() != parent {
			logger.Warn("host process is gone; plugin exiting", "host_pid", parent)
			os.Exit(0)
		}
	}
}
