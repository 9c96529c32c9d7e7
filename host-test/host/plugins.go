package host

import (
	"context"
	"fmt"
	"net/http"
	"time"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

// Plugins is the set of provider plugins a host routes to, by provider name.
// *launcher.Registry is one (see LauncherPlugins).
type Plugins interface {
	Get(name string) (Plugin, bool)
	Names() []string
}

// Plugin is one provider plugin as the host uses it.
type Plugin interface {
	// Provider is an scm.v1 client that reaches the current plugin process.
	Provider() scmv1.ProviderServiceClient
	// Manifest is what the plugin announced before it ran.
	Manifest() *manifest.Manifest
	// Restarts counts restarts after crashes (metrics).
	Restarts() int64
}

// LauncherPlugins serves the plugins of a launcher registry.
func LauncherPlugins(r *launcher.Registry) Plugins { return launcherPlugins{r} }

type launcherPlugins struct{ r *launcher.Registry }

func (l launcherPlugins) Get(name string) (Plugin, bool) {
	p, ok := l.r.Get(name)
	if !ok {
		return nil, false
	}
	return p, true
}

func (l launcherPlugins) Names() []string { return l.r.Names() }

// provider is a plugin resolved for one request.
type provider struct {
	name string
	p    Plugin
}

func (h *Host) provider(name string) (*provider, *apiError) {
	p, ok := h.plugins.Get(name)
	if !ok {
		return nil, newError(http.StatusNotFound, codeNotFound, fmt.Sprintf("no provider plugin serves %q; installed: %v", name, h.plugins.Names()))
	}
	return &provider{name: name, p: p}, nil
}

// supportsAuthMode reports whether the manifest announces the auth mode.
func (pr *provider) supportsAuthMode(mode string) bool {
	for _, m := range pr.p.Manifest().AuthModes {
		if m.Mode == mode {
			return true
		}
	}
	return false
}

func (pr *provider) authModes() []string {
	var out []string
	for _, m := range pr.p.Manifest().AuthModes {
		out = append(out, m.Mode)
	}
	return out
}

// pluginCallTimeout bounds one call to a plugin (a provider's own HTTP calls
// time out sooner; a repository listing may page for a while).
const pluginCallTimeout = 2 * time.Minute

// call runs one plugin RPC with a deadline and records it in the metrics.
func call[T any](ctx context.Context, h *Host, pr *provider, method string, fn func(ctx context.Context, c scmv1.ProviderServiceClient) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, pluginCallTimeout)
	defer cancel()
	start := time.Now()
	v, err := fn(ctx, pr.p.Provider())
	h.metrics.observePluginCall(pr.name, method, err, time.Since(start))
	return v, err
}
