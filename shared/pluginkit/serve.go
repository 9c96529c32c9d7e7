package pluginkit

import (
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// ServeOption configures Serve.
type ServeOption func(*serveConfig)

type serveConfig struct {
	logger      hclog.Logger
	name        string
	usage       io.Writer
	parentWatch time.Duration
	test        *plugin.ServeTestConfig
}

// WithLogger replaces the default logger (hclog JSON on stderr, which the
// host forwards as a named sub-logger).
func WithLogger(l hclog.Logger) ServeOption { return func(c *serveConfig) { c.logger = l } }

// WithName is the binary's name, used in the message printed when it is run
// by hand.
func WithName(name string) ServeOption { return func(c *serveConfig) { c.name = name } }

// WithParentWatch sets how often the plugin checks that its host is alive
// (default 250ms; 0 disables). go-plugin does not notice a host that died
// without killing its plugins, so the plugin does.
func WithParentWatch(every time.Duration) ServeOption {
	return func(c *serveConfig) { c.parentWatch = every }
}

// WithTestConfig serves in-process for tests (go-plugin's ServeTestConfig):
// no handshake on stdout, no parent watch, no os.Exit.
func WithTestConfig(tc *plugin.ServeTestConfig) ServeOption {
	return func(c *serveConfig) { c.test = tc; c.parentWatch = 0 }
}

// Serve serves provider as an scm.v1 plugin over go-plugin gRPC and returns
// when the host ends the plugin. Run by hand (no handshake cookie), it prints
// what the binary is and exits 1.
func Serve(provider scmv1.ProviderServiceServer, opts ...ServeOption) {
	cfg := serveConfig{
		name:        os.Args[0],
		usage:       os.Stderr,
		parentWatch: 250 * time.Millisecond,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = hclog.New(&hclog.LoggerOptions{
			Name:       "provider",
			Level:      hclog.LevelFromString(envOr("OORE_PLUGIN_LOG_LEVEL", "info")),
			Output:     os.Stderr,
			JSONFormat: true,
		})
	}
	if cfg.test == nil && os.Getenv(Handshake.MagicCookieKey) != Handshake.MagicCookieValue {
		fmt.Fprintf(cfg.usage, "%s is an Oore SCM provider plugin (scm.v1, go-plugin protocol %d).\n"+
			"It is not meant to be run by hand: an Oore host launches it, after checking its\n"+
			"SHA-256 against the plugin's manifest.json, and talks to it over gRPC with mutual TLS.\n"+
			"Put this binary and its manifest.json in the host's plugins directory\n"+
			"(oore-host serve --plugins-dir DIR).\n", cfg.name, ProtocolVersion)
		os.Exit(1)
	}
	if cfg.parentWatch > 0 {
		go watchParent(cfg.parentWatch, cfg.logger)
	}
	tlsConfig, err := serverTLSFromInheritedFD()
	if err != nil {
		cfg.logger.Error("plugin TLS set-up failed; refusing to serve without it", "error", err)
		os.Exit(1)
	}
	var tlsProvider func() (*tls.Config, error)
	if tlsConfig != nil {
		tlsProvider = func() (*tls.Config, error) { return tlsConfig, nil }
	}
	plugin.Serve(&plugin.ServeConfig{
		TLSProvider:     tlsProvider,
		HandshakeConfig: Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			ProtocolVersion: {PluginName: &GRPCPlugin{Impl: provider}},
		},
		GRPCServer: func(base []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(base, ServerOptions(cfg.logger)...)...)
		},
		Logger: cfg.logger,
		Test:   cfg.test,
	})
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
