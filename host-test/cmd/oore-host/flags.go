package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// serveConfig is `oore-host serve`'s command line and environment.
type serveConfig struct {
	listen           string
	publicURL        string
	dataDir          string
	database         string
	pluginsDir       string
	frontendOrigins  []string
	webhookBodyLimit int64
	credentialCheck  time.Duration
	logLevel         string
	logJSON          bool
	scmCAFile        string
	scmInsecureTLS   bool
	bootstrapToken   string
	encryptionKey    string
}

// Defaults of the command line.
const (
	defaultListen     = "127.0.0.1:8787"
	defaultDataDir    = "oore-data"
	defaultPluginsDir = "dist/plugins"
)

// originList is a repeatable, comma-separated flag.
type originList []string

func (o *originList) String() string { return strings.Join(*o, ",") }

func (o *originList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*o = append(*o, s)
		}
	}
	return nil
}

func parseServe(args []string, stderr io.Writer, getenv func(string) string) (serveConfig, error) {
	c := serveConfig{}
	fs := flag.NewFlagSet("oore-host serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: oore-host serve [flags]\n\nServes Oore's integration API with the provider plugins in --plugins-dir.\n\nFlags:")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "\nEnvironment: OORE_BOOTSTRAP_TOKEN (an owner token to accept), OORE_ENCRYPTION_KEY (base64, 32 bytes), "+
			"OORE_DATABASE_URL (the --database default, keeps a password out of the process list).")
	}
	fs.StringVar(&c.listen, "listen", defaultListen, "address to listen on (host:port)")
	fs.StringVar(&c.publicURL, "public-url", host.DefaultPublicURL, "URL browsers and SCM hosts use to reach this host: OAuth redirect URIs and webhook URLs are built from it")
	fs.StringVar(&c.dataDir, "data-dir", defaultDataDir, "directory for the SQLite database and the encryption key file (created 0700)")
	fs.StringVar(&c.database, "database", "", databaseUsage)
	fs.StringVar(&c.pluginsDir, "plugins-dir", defaultPluginsDir, "directory of provider plugins, each in <dir>/<name>/ with a sealed manifest.json")
	fs.Var((*originList)(&c.frontendOrigins), "frontend-origin", "origin an OAuth redirect_url may point at (repeatable or comma-separated; default: the public URL's origin)")
	fs.Int64Var(&c.webhookBodyLimit, "webhook-body-limit", host.DefaultWebhookBodyLimit, "largest webhook body accepted, in bytes; larger ones get 413")
	fs.DurationVar(&c.credentialCheck, "credential-check-interval", host.DefaultCredentialCheckInterval,
		"how often every connected integration's credentials are checked (revoked, under-scoped or expiring tokens show on the integration); hosts sharing a database run one check between them; 0 disables")
	fs.StringVar(&c.scmCAFile, "scm-ca-file", "", "PEM CA bundle trusted for SCM hosts in addition to the system roots (self-managed GitLab behind a private CA)")
	fs.BoolVar(&c.scmInsecureTLS, "scm-insecure-skip-verify", false, "do not verify SCM hosts' TLS certificates (unsafe: for a test instance only)")
	fs.StringVar(&c.logLevel, "log-level", "info", "trace, debug, info, warn or error")
	fs.BoolVar(&c.logJSON, "log-json", false, "log JSON lines instead of text")
	err := fs.Parse(args)
	if err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	if hclog.LevelFromString(c.logLevel) == hclog.NoLevel {
		return c, fmt.Errorf("serve: --log-level must be trace, debug, info, warn or error, not %q", c.logLevel)
	}
	if c.webhookBodyLimit <= 0 {
		return c, errors.New("serve: --webhook-body-limit must be positive")
	}
	if c.credentialCheck < 0 {
		return c, errors.New("serve: --credential-check-interval must be 0 (off) or positive")
	}
	if c.dataDir == "" {
		return c, errors.New("serve: --data-dir is required")
	}
	c.bootstrapToken = getenv("OORE_BOOTSTRAP_TOKEN")
	c.encryptionKey = getenv("OORE_ENCRYPTION_KEY")
	if c.database, err = databaseFlag(c.database, getenv); err != nil {
		return c, err
	}
	return c, nil
}

// databaseUsage documents --database for every command that opens the store.
const databaseUsage = "PostgreSQL URL (postgres://user@host:5432/db?sslmode=...) for several hosts sharing one database; " +
	"default: OORE_DATABASE_URL, else SQLite in --data-dir. Hosts sharing a database must share OORE_ENCRYPTION_KEY"

// databaseFlag resolves --database: the flag, else OORE_DATABASE_URL, else
// "" (SQLite in the data directory). Only PostgreSQL URLs are accepted.
func databaseFlag(v string, getenv func(string) string) (string, error) {
	if v == "" {
		v = getenv("OORE_DATABASE_URL")
	}
	if v != "" && !store.IsPostgresURL(v) {
		return "", fmt.Errorf("--database must be a postgres:// or postgresql:// URL, not %s (SQLite lives in --data-dir)", store.RedactURL(v))
	}
	return v, nil
}

// tokenConfig is `oore-host token create`'s command line.
type tokenConfig struct {
	role          host.Role
	name          string
	dataDir       string
	database      string
	encryptionKey string
}

func parseTokenCreate(args []string, stderr io.Writer, getenv func(string) string) (tokenConfig, error) {
	var c tokenConfig
	var role string
	fs := flag.NewFlagSet("oore-host token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: oore-host token create --role ROLE [flags]\n\nMints an API token, stores its SHA-256 and prints the token once.\n\nFlags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&role, "role", "", "owner, admin (manage integrations), developer or qa_viewer (read)")
	fs.StringVar(&c.name, "name", "", "a name for the token (default: cli-<role>)")
	fs.StringVar(&c.dataDir, "data-dir", defaultDataDir, "the host's data directory")
	fs.StringVar(&c.database, "database", "", databaseUsage)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	r, ok := host.ParseRole(role)
	if !ok {
		return c, fmt.Errorf("token create: --role must be owner, admin, developer or qa_viewer, not %q", role)
	}
	c.role = r
	if c.name == "" {
		c.name = "cli-" + role
	}
	c.encryptionKey = getenv("OORE_ENCRYPTION_KEY")
	var err error
	if c.database, err = databaseFlag(c.database, getenv); err != nil {
		return c, err
	}
	return c, nil
}
