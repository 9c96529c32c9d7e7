// Command oore-gitlab-sim runs the GitLab SIMULATOR (package
// host-test/gitlabsim) as a standalone server for demos and manual tests.
// It is a test double for an external service, not GitLab: every log line
// and every HTTP answer says so.
//
//	oore-gitlab-sim --listen 127.0.0.1:8929 --print-env
//
// With the default --seed demo it creates the users demo and alice, the
// oore-demo groups and projects, demo's personal access token and an OAuth
// application whose redirect URI is the reference host's callback
// (http://127.0.0.1:8787/v1/integrations/gitlab/callback). --print-env
// prints them as GITLAB_URL, GITLAB_TOKEN, GITLAB_OAUTH_CLIENT_ID and
// GITLAB_OAUTH_CLIENT_SECRET lines.
//
// Besides GitLab's API, OAuth and git endpoints, the simulator has a small
// admin API of its own under /-/sim/:
//
//	curl -s http://127.0.0.1:8929/-/sim/state
//	curl -s -X POST http://127.0.0.1:8929/-/sim/webhooks -d '{
//	  "project": "oore-demo/mobile/flutter-app", "kind": "push",
//	  "url": "http://127.0.0.1:8787/v1/webhooks/gitlab", "secret_token": "..."}'
//	curl -s -X POST http://127.0.0.1:8929/-/sim/push -d '{"project_id": 1001, "branch": "main"}'
//	curl -s -X POST http://127.0.0.1:8929/-/sim/faults -d '{"rate_limit_next": 2, "retry_after": "30s"}'
//	curl -s -X POST http://127.0.0.1:8929/-/sim/time -d '{"advance": "2h"}'
//
// /-/sim/push commits to the project's real repository and delivers the push
// to every hook registered on the project. SIGINT or SIGTERM shuts down
// gracefully.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
)

// banner is printed first, so nobody mistakes the simulator for GitLab.
const banner = "oore-gitlab-sim — a SIMULATOR of GitLab for tests and demos, not GitLab"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "oore-gitlab-sim (SIMULATOR): "+err.Error())
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	listen      string
	externalURL string
	seed        string
	projects    int
	latency     time.Duration
	tls         bool
	caOut       string
	printEnv    bool
	dataDir     string
	version     string
	logLevel    string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("oore-gitlab-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, banner)
		fmt.Fprintln(stderr, "\nUsage: oore-gitlab-sim [flags]")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8929", "address to listen on")
	fs.StringVar(&c.externalURL, "external-url", "", "base URL put into links, clone URLs and payloads (default: the listen address)")
	fs.StringVar(&c.seed, "seed", "demo", `data to create at start: "demo" or "none"`)
	fs.IntVar(&c.projects, "projects", 0, "extra bulk projects for the demo user (in the group oore-demo/bulk)")
	fs.DurationVar(&c.latency, "latency", 0, "delay added to every API request")
	fs.BoolVar(&c.tls, "tls", false, "serve HTTPS with a throwaway CA (see --ca-out)")
	fs.StringVar(&c.caOut, "ca-out", "oore-gitlab-sim-ca.pem", "where --tls writes the CA certificate (PEM)")
	fs.BoolVar(&c.printEnv, "print-env", false, "print the demo credentials as KEY=value lines on stdout")
	fs.StringVar(&c.dataDir, "data-dir", "", "directory for the git repositories (default: a temporary one, removed at exit)")
	fs.StringVar(&c.version, "gitlab-version", gitlabsim.DefaultVersion, "GitLab version to claim")
	fs.StringVar(&c.logLevel, "log-level", "info", "trace, debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.seed != "demo" && c.seed != "none" {
		return c, fmt.Errorf(`--seed must be "demo" or "none", not %q`, c.seed)
	}
	if c.projects > 0 && c.seed != "demo" {
		return c, errors.New("--projects needs --seed demo")
	}
	return c, nil
}

// run serves until ctx ends. ready, when not nil, receives the base URL once
// the simulator accepts connections.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready chan<- string) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:   "oore-gitlab-sim SIMULATOR",
		Level:  hclog.LevelFromString(c.logLevel),
		Output: stderr,
	})
	fmt.Fprintln(stderr, banner)

	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.listen, err)
	}
	scheme := "http"
	if c.tls {
		scheme = "https"
	}
	base := scheme + "://" + ln.Addr().String()
	external := c.externalURL
	if external == "" {
		external = base
	}

	sim := gitlabsim.New(gitlabsim.Options{Logger: logger, Version: c.version, ExternalURL: external, DataDir: c.dataDir})
	sim.URL = base
	defer func() {
		if err := sim.Close(); err != nil {
			logger.Warn("remove data directory", "error", err)
		}
	}()
	sim.SetLatency(c.latency)

	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})}
	caFile := ""
	if c.tls {
		hosts := []string{}
		if u, err := url.Parse(external); err == nil && u.Hostname() != "" {
			hosts = append(hosts, u.Hostname())
		}
		cert, caPEM, err := gitlabsim.NewSelfSignedTLS(hosts)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("make TLS certificate: %w", err)
		}
		if err := os.WriteFile(c.caOut, caPEM, 0o644); err != nil {
			_ = ln.Close()
			return fmt.Errorf("write CA certificate: %w", err)
		}
		caFile = c.caOut
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		logger.Info("serving HTTPS; clients must trust the simulator's CA", "ca_file", caFile)
	}

	if c.seed == "demo" {
		demo := sim.SeedDemo()
		if c.projects > 0 {
			sim.SeedProjects(demo.User.ID, c.projects, "oore-demo/bulk")
		}
		logger.Info("seeded the demo data", "user", demo.User.Username, "projects", len(demo.MemberProjectIDs())+c.projects,
			"oauth_redirect_uri", gitlabsim.DemoRedirectURI)
		if c.printEnv {
			fmt.Fprintf(stdout, "GITLAB_URL=%s\n", external)
			fmt.Fprintf(stdout, "GITLAB_TOKEN=%s\n", demo.Token)
			fmt.Fprintf(stdout, "GITLAB_OAUTH_CLIENT_ID=%s\n", demo.ClientID)
			fmt.Fprintf(stdout, "GITLAB_OAUTH_CLIENT_SECRET=%s\n", demo.ClientSecret)
			fmt.Fprintf(stdout, "GITLAB_OAUTH_REDIRECT_URI=%s\n", gitlabsim.DemoRedirectURI)
			if caFile != "" {
				fmt.Fprintf(stdout, "GITLAB_CA_FILE=%s\n", caFile)
			}
		}
	}

	errc := make(chan error, 1)
	go func() {
		if c.tls {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	logger.Info("listening", "url", base, "external_url", external, "gitlab_version", c.version)
	if ready != nil {
		ready <- base
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}
