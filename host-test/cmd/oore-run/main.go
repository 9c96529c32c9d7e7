// Command oore-run is what `make run` runs after `make build`: it starts the
// GitLab SIMULATOR (oore-gitlab-sim, with its demo projects) and the
// reference host (oore-host, with the GitLab plugin) as subprocesses, waits
// until both are healthy, and prints an owner API token, the simulator's demo
// GitLab token and a copy-paste walkthrough. Ctrl-C (or SIGTERM) stops both;
// the host stops its plugin. Nothing outlives oore-run: its children run in
// their own process group, which is killed if they do not stop in time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "oore-run: "+err.Error())
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	binDir     string
	pluginsDir string
	dataDir    string
	hostAddr   string
	simAddr    string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	exe, _ := os.Executable()
	binDir := filepath.Dir(exe)
	var c config
	fs := flag.NewFlagSet("oore-run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: oore-run [flags]\n\nRuns the demo: the GitLab SIMULATOR and the reference Oore host with the GitLab plugin.\n\nFlags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.binDir, "bin-dir", binDir, "where oore-host and oore-gitlab-sim are")
	fs.StringVar(&c.pluginsDir, "plugins-dir", filepath.Join(filepath.Dir(binDir), "plugins"), "the host's plugins directory")
	fs.StringVar(&c.dataDir, "data-dir", "", "the host's data directory (default: a temporary one, removed at exit)")
	fs.StringVar(&c.hostAddr, "listen", "127.0.0.1:8787", "the host's address (the simulator's OAuth app redirects to 127.0.0.1:8787)")
	fs.StringVar(&c.simAddr, "sim-listen", "127.0.0.1:8929", "the simulator's address")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, nil
}
