// Package launcher is the host side of the plugin boundary: it starts a
// provider plugin from its manifest, checks it, and keeps it running.
//
// Launch order: the manifest is loaded and validated (shared/manifest) → the
// binary is checked against the manifest's SHA-256 before it runs (go-plugin
// SecureConfig) → it starts with AutoMTLS over gRPC only → the protocol version
// is negotiated → the provider's info is compared with the manifest, and a
// difference refuses the plugin → it serves.
//
// The supervisor notices an exited plugin, answers calls in the gap at once
// with codes.Unavailable (reason PLUGIN_UNAVAILABLE), and restarts it with
// backoff. Plugin logs are forwarded through hclog as a named sub-logger.
// Close stops the process; no plugin outlives its Plugin value.
package launcher

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/pluginkit"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// Errors a launch can fail with. Each says how to fix its cause.
var (
	// ErrInfoMismatch: the running plugin describes itself differently from its
	// manifest. Rebuild the plugin and its manifest together (`make build`).
	ErrInfoMismatch = errors.New("plugin's provider info differs from its manifest; rebuild the plugin and its manifest together")
	// ErrProtocol: the plugin does not speak a protocol version this host speaks.
	// Use a plugin built for scm.v1.
	ErrProtocol = errors.New("plugin negotiated no protocol version this host speaks; use a plugin built for this host's scm protocol")
	// ErrClosed: the Plugin was closed.
	ErrClosed = errors.New("plugin closed")
)

// Options tune launching and supervision. The zero value is usable.
type Options struct {
	// Logger receives launcher events; each plugin's own log lines are
	// forwarded to Logger.Named(<plugin name>). Default: a null logger.
	Logger hclog.Logger
	// StartTimeout bounds one start, handshake included. Default 10s.
	StartTimeout time.Duration
	// MinBackoff is the first wait before a restart (default 50ms); it doubles
	// up to MaxBackoff (default 10s) while restarts keep failing, and resets
	// once a plugin has served for StableAfter (default 30s).
	MinBackoff, MaxBackoff, StableAfter time.Duration
	// OnRestart, when set, is called after each successful restart (metrics).
	OnRestart func(name string)
	// ChecksumCache remembers verified binaries by path, size and mtime so an
	// unchanged file is not hashed twice by this host (go-plugin still checks
	// the binary it runs when the cache misses). Optional.
	ChecksumCache *ChecksumCache
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 10 * time.Second
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = 50 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.StableAfter == 0 {
		o.StableAfter = 30 * time.Second
	}
}

// Plugin is one supervised provider plugin.
type Plugin struct {
	manifest *manifest.Manifest
	opts     Options
	log      hclog.Logger

	mu      sync.RWMutex
	client  *plugin.Client
	conn    *pluginkit.Conn
	info    *scmv1.ProviderInfo
	started time.Time

	restarts atomic.Int64
	closed   chan struct{}
	done     chan struct{}
	once     sync.Once
}

// Launch starts the plugin described by m and returns once it serves, or the
// reason it was refused. The plugin is supervised until Close.
func Launch(ctx context.Context, m *manifest.Manifest, opts Options) (*Plugin, error) {
	opts.defaults()
	p := &Plugin{
		manifest: m,
		opts:     opts,
		log:      opts.Logger.Named("launcher").With("plugin", m.Name),
		closed:   make(chan struct{}),
		done:     make(chan struct{}),
	}
	if err := p.start(ctx); err != nil {
		return nil, err
	}
	go p.supervise()
	return p, nil
}

// LaunchPath loads the manifest at path (checking it against protocol
// version 1) and launches it.
func LaunchPath(ctx context.Context, path string, opts Options) (*Plugin, error) {
	m, err := manifest.Load(path, pluginkit.ProtocolVersion)
	if err != nil {
		return nil, err
	}
	return Launch(ctx, m, opts)
}

func (p *Plugin) start(ctx context.Context) error {
	m := p.manifest
	sum, err := m.Checksum()
	if err != nil {
		return fmt.Errorf("launch plugin %s: %w", m.Name, err)
	}
	path := m.ExecutablePath()
	// Refuse a changed binary before go-plugin runs anything; the cache lets an
	// unchanged file skip re-hashing on restarts.
	if err := p.opts.ChecksumCache.verify(path, sum); err != nil {
		return fmt.Errorf("launch plugin %s from %s: %w", m.Name, path, err)
	}
	secure := &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	if p.opts.ChecksumCache != nil {
		secure = nil // verified above, by path, size and mtime
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginkit.Handshake,
		VersionedPlugins: pluginkit.VersionedPlugins(nil),
		Cmd:              exec.Command(path),
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           p.opts.Logger.Named(m.Name),
		GRPCDialOptions:  pluginkit.DialOptions(),
		StartTimeout:     p.opts.StartTimeout,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return fmt.Errorf("launch plugin %s from %s: %w", m.Name, path, manifest.ErrChecksumMismatch)
		}
		return fmt.Errorf("launch plugin %s from %s: %w", m.Name, path, err)
	}
	if client.NegotiatedVersion() != pluginkit.ProtocolVersion {
		client.Kill()
		return fmt.Errorf("launch plugin %s: negotiated %d: %w", m.Name, client.NegotiatedVersion(), ErrProtocol)
	}
	raw, err := rpc.Dispense(pluginkit.PluginName)
	if err != nil {
		client.Kill()
		return fmt.Errorf("launch plugin %s: dispense: %w", m.Name, err)
	}
	conn, ok := raw.(*pluginkit.Conn)
	if !ok {
		client.Kill()
		return fmt.Errorf("launch plugin %s: unexpected client type %T", m.Name, raw)
	}
	ictx, cancel := context.WithTimeout(ctx, p.opts.StartTimeout)
	defer cancel()
	resp, err := scmv1.NewProviderServiceClient(conn).GetProviderInfo(ictx, &scmv1.GetProviderInfoRequest{})
	if err != nil {
		client.Kill()
		return fmt.Errorf("launch plugin %s: provider info: %w", m.Name, err)
	}
	if diff := m.Diff(resp.GetInfo()); len(diff) > 0 {
		client.Kill()
		return fmt.Errorf("launch plugin %s: %w: %v", m.Name, ErrInfoMismatch, diff)
	}
	p.mu.Lock()
	p.client, p.conn, p.info, p.started = client, conn, resp.GetInfo(), time.Now()
	p.mu.Unlock()
	p.log.Info("plugin serving", "pid", p.Pid(), "version", resp.GetInfo().GetVersion(), "protocol", client.NegotiatedVersion())
	return nil
}

// supervise restarts the plugin whenever its process exits, until Close.
func (p *Plugin) supervise() {
	defer close(p.done)
	backoff := p.opts.MinBackoff
	for {
		p.mu.RLock()
		conn, started := p.conn, p.started
		p.mu.RUnlock()
		select {
		case <-p.closed:
			return
		case <-conn.Done:
		}
		p.mu.Lock()
		old := p.client
		p.client, p.conn = nil, nil
		p.mu.Unlock()
		old.Kill()
		if time.Since(started) > p.opts.StableAfter {
			backoff = p.opts.MinBackoff
		}
		p.log.Warn("plugin process exited; restarting", "backoff", backoff)
		for {
			select {
			case <-p.closed:
				return
			case <-time.After(backoff):
			}
			err := p.start(context.Background())
			if err == nil {
				p.restarts.Add(1)
				if p.opts.OnRestart != nil {
					p.opts.OnRestart(p.manifest.Name)
				}
				break
			}
			p.log.Error("plugin restart failed", "error", err)
			backoff = min(backoff*2, p.opts.MaxBackoff)
		}
	}
}

// Manifest is the plugin's manifest.
func (p *Plugin) Manifest() *manifest.Manifest { return p.manifest }

// Info is the provider info the running plugin announced (equal to the manifest).
func (p *Plugin) Info() *scmv1.ProviderInfo {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.info
}

// Pid is the current plugin process id, or 0 while it is down.
func (p *Plugin) Pid() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.client == nil {
		return 0
	}
	rc := p.client.ReattachConfig()
	if rc == nil {
		return 0
	}
	return rc.Pid
}

// Restarts counts successful restarts since Launch.
func (p *Plugin) Restarts() int64 { return p.restarts.Load() }

// Provider is an scm.v1 client that always reaches the current plugin
// process. While the plugin is down, calls fail at once with Unavailable.
func (p *Plugin) Provider() scmv1.ProviderServiceClient {
	return scmv1.NewProviderServiceClient(supervisedConn{p})
}

// Close stops the plugin process and its supervisor. It waits for the
// process to exit.
func (p *Plugin) Close() error {
	p.once.Do(func() {
		close(p.closed)
		<-p.done
		p.mu.Lock()
		c := p.client
		p.client, p.conn = nil, nil
		p.mu.Unlock()
		if c != nil {
			c.Kill()
		}
	})
	return nil
}

func (p *Plugin) current() *pluginkit.Conn {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.conn
}

func (p *Plugin) unavailable() error {
	select {
	case <-p.closed:
		return scmerr.Newf(codes.Unavailable, scmerr.ReasonPluginUnavailable, "the %s plugin is shut down", p.manifest.Name)
	default:
	}
	return scmerr.Newf(codes.Unavailable, scmerr.ReasonPluginUnavailable, "the %s plugin is restarting; retry shortly", p.manifest.Name)
}

// supervisedConn routes calls to the plugin's current connection.
type supervisedConn struct{ p *Plugin }

func (s supervisedConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	c := s.p.current()
	if c == nil {
		return s.p.unavailable()
	}
	return c.Invoke(ctx, method, args, reply, opts...)
}

func (s supervisedConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	c := s.p.current()
	if c == nil {
		return nil, s.p.unavailable()
	}
	return c.NewStream(ctx, desc, method, opts...)
}
