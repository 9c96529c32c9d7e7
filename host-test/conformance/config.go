package conformance

import (
	"io"
	"time"
)

// Config configures a run of the suite. Build it with NewConfig, then change
// what you need; zero fields take NewConfig's defaults.
type Config struct {
	// Manifest is the path of the plugin's sealed manifest.json (written by
	// `oore-manifest seal` or plugintest.Build); the binary sits beside it.
	// Required.
	Manifest string

	// Backend gives the suite connections, webhooks and OAuth applications
	// over the provider's SCM (simulator or test instance). Required.
	Backend Backend

	// CaseTimeout bounds each case. Default 30s.
	CaseTimeout time.Duration

	// Concurrency is how many callers call the plugin at once in
	// robustness/concurrent-callers. Default 64.
	Concurrency int

	// MalformedCalls is how many malformed requests robustness/malformed-burst
	// sends before checking that the same process still serves. Default 200.
	MalformedCalls int

	// LargeListing is how many repositories list_repositories/bounded-memory
	// asks the Backend for. Default 10000.
	LargeListing int

	// MaxRSSGrowth is how many bytes the plugin's peak resident memory may
	// grow while it streams the large listing. Default 64 MiB: enough for a
	// provider that streams page by page, too little for one that holds the
	// whole listing (or the SCM's raw answers) in memory.
	MaxRSSGrowth int64

	// Git is the git binary the suite clones with to check clone
	// credentials. Empty: "git" on PATH; when there is none, clone URLs are
	// only checked for shape (the case logs that).
	Git string

	// Run, when set, is a regular expression: only cases whose name matches
	// run (Execute and the CLI; Run leaves filtering to `go test -run`).
	Run string

	// Log, when set, receives the launcher's and the plugin's log lines (the
	// suite reads them anyway, to look for secrets).
	Log io.Writer
}

// NewConfig returns a Config for the sealed manifest at manifestPath and
// backend, with every other field at its default.
func NewConfig(manifestPath string, backend Backend) Config {
	return Config{
		Manifest:       manifestPath,
		Backend:        backend,
		CaseTimeout:    30 * time.Second,
		Concurrency:    64,
		MalformedCalls: 200,
		LargeListing:   10000,
		MaxRSSGrowth:   64 << 20,
	}
}

// withDefaults fills zero fields with NewConfig's values.
func (c Config) withDefaults() Config {
	d := NewConfig(c.Manifest, c.Backend)
	if c.CaseTimeout <= 0 {
		c.CaseTimeout = d.CaseTimeout
	}
	if c.Concurrency <= 0 {
		c.Concurrency = d.Concurrency
	}
	if c.MalformedCalls <= 0 {
		c.MalformedCalls = d.MalformedCalls
	}
	if c.LargeListing <= 0 {
		c.LargeListing = d.LargeListing
	}
	if c.MaxRSSGrowth <= 0 {
		c.MaxRSSGrowth = d.MaxRSSGrowth
	}
	return c
}
