package launcher

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/pluginkit"
)

// Registry is every provider plugin a host serves, by provider name.
type Registry struct {
	mu      sync.RWMutex
	plugins map[string]*Plugin
}

// LaunchDir discovers <dir>/*/manifest.json and launches each plugin. A
// plugin that is refused is reported in errs and left out; the others serve.
// Two plugins claiming one provider name: the second is refused.
func LaunchDir(ctx context.Context, dir string, opts Options) (*Registry, []error) {
	r := &Registry{plugins: map[string]*Plugin{}}
	ms, errs := manifest.Discover(dir, pluginkit.ProtocolVersion)
	for _, m := range ms {
		if _, dup := r.plugins[m.Name]; dup {
			errs = append(errs, fmt.Errorf("plugin %s in %s: another plugin already serves provider %q", m.Name, m.Dir, m.Name))
			continue
		}
		p, err := Launch(ctx, m, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.plugins[m.Name] = p
	}
	return r, errs
}

// NewRegistry wraps already launched plugins (tests, embedding hosts).
func NewRegistry(ps ...*Plugin) *Registry {
	r := &Registry{plugins: map[string]*Plugin{}}
	for _, p := range ps {
		r.plugins[p.Manifest().Name] = p
	}
	return r
}

// Get returns the plugin serving provider name.
func (r *Registry) Get(name string) (*Plugin, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.plugins[name]
	return p, ok
}

// Names lists the provider names served, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.plugins))
	for n := range r.plugins {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Close stops every plugin and waits for their processes to exit.
func (r *Registry) Close() error {
	r.mu.Lock()
	ps := r.plugins
	r.plugins = map[string]*Plugin{}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() { defer wg.Done(); _ = p.Close() }()
	}
	wg.Wait()
	return nil
}
