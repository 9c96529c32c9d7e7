// Command oore-conformance runs the scm.v1 conformance suite
// (host-test/conformance) against a provider plugin and prints one line per
// case: PASS, FAIL with every problem found, or SKIP with why.
//
//	go run ./host-test/cmd/oore-conformance --manifest dist/plugins/gitlab/manifest.json --backend gitlabsim
//	go run ./host-test/cmd/oore-conformance --manifest DIR/manifest.json --backend localgit
//
// The manifest must be sealed (`make build`, or `oore-manifest seal`); the
// binary sits beside it. The backend is what the suite checks the plugin
// against: gitlabsim serves the GitLab SIMULATOR (a test double of GitLab)
// on a loopback port; localgit makes git repositories in a temporary
// folder. It exits 0 when no case failed, 1 when one did, 2 when the suite
// could not run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/conformance"
	"github.com/oore-ci/oore-scm-gitlab/host-test/conformance/gitlabbackend"
	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/plugin/localgit/localgitbackend"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := conformance.NewConfig("", nil)
	fs := flag.NewFlagSet("oore-conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	backendName := fs.String("backend", "", "what the plugin is checked against: gitlabsim (the GitLab simulator) or localgit (temporary git repositories)")
	logPath := fs.String("log", "", "write the launcher's and the plugin's log lines to this file")
	list := fs.Bool("list", false, "list the cases and exit")
	rssMiB := fs.Int64("max-rss-growth-mib", cfg.MaxRSSGrowth>>20, "how many MiB the plugin's peak memory may grow while it streams the large listing")
	fs.StringVar(&cfg.Manifest, "manifest", "", "the plugin's sealed manifest.json (the binary sits beside it)")
	fs.StringVar(&cfg.Run, "run", "", "only run cases whose name matches this regular expression")
	fs.DurationVar(&cfg.CaseTimeout, "case-timeout", cfg.CaseTimeout, "how long one case may take")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "callers at once in robustness/concurrent-callers")
	fs.IntVar(&cfg.MalformedCalls, "malformed-calls", cfg.MalformedCalls, "malformed requests in robustness/malformed-burst")
	fs.IntVar(&cfg.LargeListing, "large-listing", cfg.LargeListing, "repositories seeded for list_repositories/bounded-memory")
	fs.StringVar(&cfg.Git, "git", "", "the git binary clone credentials are checked with (default: git on PATH)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *list {
		for _, name := range conformance.CaseNames() {
			fmt.Fprintln(stdout, name)
		}
		return 0
	}
	cfg.MaxRSSGrowth = *rssMiB << 20
	if cfg.Manifest == "" {
		fmt.Fprintln(stderr, "oore-conformance: --manifest is required (a sealed manifest.json, e.g. dist/plugins/gitlab/manifest.json after make build)")
		return 2
	}
	backend, closeBackend, err := newBackend(*backendName)
	if err != nil {
		fmt.Fprintln(stderr, "oore-conformance:", err)
		return 2
	}
	defer closeBackend()
	cfg.Backend = backend
	if *logPath != "" {
		f, err := os.Create(*logPath)
		if err != nil {
			fmt.Fprintln(stderr, "oore-conformance: plugin log:", err)
			return 2
		}
		defer f.Close()
		cfg.Log = f
	}

	began := time.Now()
	fmt.Fprintf(stdout, "conformance of %s against backend %s\n", cfg.Manifest, *backendName)
	results, err := conformance.Execute(ctx, cfg, func(r conformance.Result) { fmt.Fprintln(stdout, r) })
	if err != nil {
		fmt.Fprintln(stderr, "oore-conformance:", err)
		return 2
	}
	count := map[conformance.Status]int{}
	for _, r := range results {
		count[r.Status]++
	}
	fmt.Fprintf(stdout, "%d passed, %d failed, %d skipped in %s\n",
		count[conformance.Pass], count[conformance.Fail], count[conformance.Skip], time.Since(began).Round(time.Millisecond))
	if count[conformance.Fail] > 0 {
		return 1
	}
	return 0
}

// newBackend builds the named backend and what closes it.
func newBackend(name string) (conformance.Backend, func(), error) {
	switch name {
	case "gitlabsim":
		b := gitlabbackend.Start(gitlabsim.Options{})
		return b, b.Close, nil
	case "localgit":
		dir, err := os.MkdirTemp("", "oore-conformance-localgit-")
		if err != nil {
			return nil, nil, fmt.Errorf("make a folder for the local repositories: %w", err)
		}
		return localgitbackend.New(dir), func() { _ = os.RemoveAll(dir) }, nil
	case "":
		return nil, nil, errors.New("--backend is required: gitlabsim or localgit")
	default:
		return nil, nil, fmt.Errorf("unknown --backend %q: gitlabsim or localgit", name)
	}
}
