package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/hashicorp/go-hclog"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/pluginkit"
)

// suite is one launched plugin and what its cases share: the manifest, the
// provider info, the fixtures from the Backend, the secrets handed out and
// the plugin's log.
type suite struct {
	ctx      context.Context
	cancel   context.CancelFunc
	cfg      Config
	manifest *manifest.Manifest
	plugin   *launcher.Plugin
	client   scmv1.ProviderServiceClient
	info     *scmv1.ProviderInfo
	logs     *logSink
	logger   hclog.Logger
	secrets  *secrets

	conn     memo[*TokenConnection]
	rejected memo[*scmv1.Connection]
	webhook  memo[*Webhook]
	oauth    memo[*OAuthApp]
}

// start loads the manifest and launches the plugin as a host does.
func start(ctx context.Context, cfg Config) (*suite, error) {
	if cfg.Manifest == "" {
		return nil, errors.New("conformance: Config.Manifest is empty: name the plugin's sealed manifest.json")
	}
	if cfg.Backend == nil {
		return nil, errors.New("conformance: Config.Backend is nil: the suite needs connections to call the plugin with")
	}
	cfg = cfg.withDefaults()
	m, err := manifest.Load(cfg.Manifest, pluginkit.ProtocolVersion)
	if err != nil {
		return nil, fmt.Errorf("conformance: %w", err)
	}
	logs := newLogSink(cfg.Log)
	logger := hclog.New(&hclog.LoggerOptions{Name: "conformance", Output: logs, Level: hclog.Trace})
	s := &suite{cfg: cfg, manifest: m, logs: logs, logger: logger, secrets: &secrets{}}
	s.ctx, s.cancel = context.WithCancel(ctx)
	p, err := s.launch(s.ctx)
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("conformance: a host would refuse this plugin: %w", err)
	}
	s.plugin, s.client, s.info = p, p.Provider(), p.Info()
	return s, nil
}

// launch starts another process of the plugin under test, as a host does.
func (s *suite) launch(ctx context.Context) (*launcher.Plugin, error) {
	return launcher.Launch(ctx, s.manifest, launcher.Options{Logger: s.logger})
}

func (s *suite) close() {
	if s.plugin != nil {
		_ = s.plugin.Close()
	}
	s.cancel()
}

// announces reports whether the provider's info lists capability c.
func (s *suite) announces(c scmv1.Capability) bool {
	return slices.Contains(s.info.GetCapabilities(), c)
}

// memo remembers one Backend fixture (or its error).
type memo[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (m *memo[T]) get(f func() (T, error)) (T, error) {
	m.once.Do(func() { m.v, m.err = f() })
	return m.v, m.err
}

// fetch asks the Backend for a fixture once, under the run's context.
func fetch[T any](s *suite, m *memo[T], f func(context.Context) (T, error)) (T, error) {
	return m.get(func() (T, error) {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.CaseTimeout)
		defer cancel()
		return f(ctx)
	})
}

// fixture fetches a Backend fixture for a case: ErrUnsupported skips the
// case, any other error fails it.
func fixture[T any](c *C, what string, m *memo[T], f func(context.Context) (T, error)) T {
	v, err := fetch(c.s, m, f)
	switch {
	case errors.Is(err, ErrUnsupported):
		c.Skipf("the backend provides no %s: %v", what, err)
	case err != nil:
		c.Fatalf("the backend failed to provide %s: %v", what, err)
	}
	return v
}

// conn is the Backend's working connection; its secrets are registered.
func (c *C) conn() *TokenConnection {
	tc := fixture(c, "connection", &c.s.conn, c.s.cfg.Backend.Connection)
	if tc == nil || tc.Connection == nil {
		c.Fatalf("the backend's Connection returned no connection")
	}
	c.s.secrets.addConnection("the working connection", tc.Connection)
	return tc
}

// rejectedConn is the Backend's connection with refused credentials.
func (c *C) rejectedConn() *scmv1.Connection {
	conn := fixture(c, "rejected credentials", &c.s.rejected, c.s.cfg.Backend.RejectedConnection)
	if conn == nil {
		c.Fatalf("the backend's RejectedConnection returned no connection")
	}
	c.s.secrets.addConnection("the rejected connection", conn)
	return conn
}

// webhook is the Backend's genuine delivery; its secret is registered.
func (c *C) webhook() *Webhook {
	w := fixture(c, "webhook delivery", &c.s.webhook, c.s.cfg.Backend.Webhook)
	if w == nil || w.Delivery == nil || w.Secret == "" || w.RepositoryExternalID == "" {
		c.Fatalf("the backend's Webhook lacks a delivery, a secret or a repository id")
	}
	c.s.secrets.add("the webhook secret", w.Secret)
	return w
}

// oauthApp is the Backend's OAuth application; its secret is registered.
func (c *C) oauthApp() *OAuthApp {
	a := fixture(c, "OAuth application", &c.s.oauth, c.s.cfg.Backend.OAuthApp)
	if a == nil || a.Client == nil || a.Authorize == nil {
		c.Fatalf("the backend's OAuthApp lacks a client or an Authorize function")
	}
	c.s.secrets.add("the OAuth client secret", a.Client.GetClientSecret())
	return a
}

// logSink keeps what the launcher and the plugin log (up to 16 MiB), and
// copies it to an optional writer.
type logSink struct {
	mu        sync.Mutex
	buf       []byte
	truncated bool
	tee       io.Writer
}

const maxLog = 16 << 20

func newLogSink(tee io.Writer) *logSink { return &logSink{tee: tee} }

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := maxLog - len(l.buf); room > 0 {
		l.buf = append(l.buf, p[:min(room, len(p))]...)
	}
	if len(l.buf) >= maxLog {
		l.truncated = true
	}
	if l.tee != nil {
		_, _ = l.tee.Write(p)
	}
	return len(p), nil
}

func (l *logSink) String() (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf), l.truncated
}
