package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/ui"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
)

// shutdownTimeout bounds the graceful stop of the HTTP server.
const shutdownTimeout = 15 * time.Second

// serve runs the host until ctx ends, then stops the server, the plugins and
// the store, in that order.
func serve(ctx context.Context, c serveConfig, stdout, stderr io.Writer, ready chan<- string) error {
	log := hclog.New(&hclog.LoggerOptions{Name: "oore-host", Level: hclog.LevelFromString(c.logLevel), Output: stderr, JSONFormat: c.logJSON})
	st, kr, err := openStore(ctx, c.dataDir, c.database, c.encryptionKey)
	if err != nil {
		return err
	}
	defer st.Close()
	if c.database != "" && c.encryptionKey == "" {
		log.Warn("on a shared database every host needs the same key: set OORE_ENCRYPTION_KEY (this host uses the key file in --data-dir)",
			"data_dir", c.dataDir)
	}
	if c.bootstrapToken != "" {
		if err := host.EnsureBootstrapToken(ctx, st, c.bootstrapToken); err != nil {
			return err
		}
		log.Info("OORE_BOOTSTRAP_TOKEN accepted as an owner token")
	}

	reg, errs := launcher.LaunchDir(ctx, c.pluginsDir, launcher.Options{Logger: log.Named("plugins"), ChecksumCache: launcher.NewChecksumCache()})
	defer reg.Close()
	for _, err := range errs {
		log.Error("plugin refused", "error", err)
	}
	if len(reg.Names()) == 0 {
		log.Warn("no provider plugin serves; build them with `make build` or point --plugins-dir at them", "plugins_dir", c.pluginsDir)
	}
	var caBundle []byte
	if c.scmCAFile != "" {
		if caBundle, err = os.ReadFile(c.scmCAFile); err != nil {
			return fmt.Errorf("--scm-ca-file: %w", err)
		}
	}
	scmTLS, err := host.SCMTLSFromPEM(caBundle, c.scmInsecureTLS)
	if err != nil {
		return fmt.Errorf("--scm-ca-file %s: %w", c.scmCAFile, err)
	}
	if c.scmInsecureTLS {
		log.Warn("--scm-insecure-skip-verify: SCM hosts' certificates are NOT verified; use only with a test instance")
	}
	h, err := host.New(host.Config{
		SCMTLS: scmTLS, CredentialCheckInterval: c.credentialCheck,
		PublicURL: c.publicURL, FrontendOrigins: c.frontendOrigins, WebhookBodyLimit: c.webhookBodyLimit, Logger: log,
	}, st, kr, host.LauncherPlugins(reg))
	if err != nil {
		return err
	}
	defer h.Close() // its webhook sessions end before the plugins stop
	sessionKey, err := kr.DeriveKey("ui-session")
	if err != nil {
		return err
	}
	publicURL := c.publicURL
	if publicURL == "" {
		publicURL = host.DefaultPublicURL
	}
	uiHandler, err := ui.New(ui.Options{
		API: h.Handler(), Providers: ui.RegistryProviders(reg), PublicURL: publicURL,
		SessionKey: sessionKey, Logger: log.Named("ui"),
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/ui/", uiHandler)
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusSeeOther))
	mux.Handle("/", h.Handler())
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.listen, err)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      5 * time.Minute, // a repository sync may take a while
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	log.Info("serving Oore's integration API", "listen", base, "public_url", c.publicURL, "providers", reg.Names(), "data_dir", c.dataDir,
		"database", databaseName(c.database))
	fmt.Fprintf(stdout, "oore-host listening on %s (providers: %v)\n", base, reg.Names())
	if ready != nil {
		ready <- base
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("graceful shutdown incomplete", "error", err)
	}
	return nil
}

// openStore creates the data directory (0700), loads the keyring and opens
// the database (PostgreSQL when databaseURL is set, else SQLite in the data
// directory), running its migrations.
func openStore(ctx context.Context, dataDir, databaseURL, encryptionKey string) (*store.SQL, *secrets.Keyring, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create data dir %s: %w", dataDir, err)
	}
	kr, err := secrets.Load(dataDir, encryptionKey)
	if err != nil {
		return nil, nil, err
	}
	var st *store.SQL
	if databaseURL != "" {
		st, err = store.OpenPostgres(ctx, databaseURL, kr, store.Options{})
	} else {
		st, err = store.OpenSQLite(ctx, dataDir, kr, store.Options{})
	}
	if err != nil {
		return nil, nil, err
	}
	return st, kr, nil
}

// databaseName says which database a host uses, without a password.
func databaseName(databaseURL string) string {
	if databaseURL == "" {
		return "sqlite"
	}
	return store.RedactURL(databaseURL)
}

// createToken mints a token and prints it.
func createToken(ctx context.Context, c tokenConfig, stdout io.Writer) error {
	st, _, err := openStore(ctx, c.dataDir, c.database, c.encryptionKey)
	if err != nil {
		return err
	}
	defer st.Close()
	tok, err := host.CreateToken(ctx, st, c.role, c.name)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
