// Command oore-host is the reference Oore host for SCM integrations: Oore's
// integration API (host-test/host) over an embedded SQLite store (or a
// PostgreSQL database several hosts share, --database postgres://...), with
// the provider plugins found in a plugins directory.
//
//	oore-host serve --listen 127.0.0.1:8787 --public-url http://127.0.0.1:8787 \
//	  --data-dir ./oore-data --plugins-dir dist/plugins
//	oore-host token create --role owner --data-dir ./oore-data
//
// OORE_BOOTSTRAP_TOKEN=<t> makes <t> an owner token at start (for scripts);
// OORE_ENCRYPTION_KEY (base64 of 32 bytes) replaces the key file in the data
// directory. SIGINT or SIGTERM stops the server, then every plugin process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv, nil); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "oore-host: "+err.Error())
		}
		os.Exit(2)
	}
}

const usage = `oore-host: the reference Oore host for SCM integrations

Usage:
  oore-host serve [flags]                      serve Oore's integration API
  oore-host token create --role ROLE [flags]   mint an API token (printed once)

Run "oore-host serve --help" or "oore-host token create --help" for flags.

Environment:
  OORE_BOOTSTRAP_TOKEN   (serve) make this value an owner API token at start
  OORE_ENCRYPTION_KEY    base64 of 32 bytes: the key for secrets at rest
                         (default: <data-dir>/encryption.key, created 0600);
                         hosts sharing a database must share it
  OORE_DATABASE_URL      postgres://... : the default of --database
`

// run is the command line; ready, when not nil, receives the base URL once
// serve accepts connections.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, ready chan<- string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("a command is required: serve or token create")
	}
	switch args[0] {
	case "serve":
		cfg, err := parseServe(args[1:], stderr, getenv)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout, stderr, ready)
	case "token":
		if len(args) < 2 || args[1] != "create" {
			fmt.Fprint(stderr, usage)
			return errors.New(`unknown token command; use "oore-host token create --role ROLE"`)
		}
		cfg, err := parseTokenCreate(args[2:], stderr, getenv)
		if err != nil {
			return err
		}
		return createToken(ctx, cfg, stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
