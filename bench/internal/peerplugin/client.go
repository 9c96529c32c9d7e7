package peerplugin

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/rpc"
	"os/exec"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
)

// rpcClient is the host side's stub: JSON-encode, call, JSON-decode, as
// Woodpecker's addon RPC client does.
type rpcClient struct{ client *rpc.Client }

func (c *rpcClient) hook(r *HookRequest) (*Result, error) {
	args, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode hook request: %w", err)
	}
	var raw []byte
	if err := c.client.Call(rpcHook, args, &raw); err != nil {
		return nil, fmt.Errorf("peer plugin hook: %w", err)
	}
	var res Result
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("decode hook result: %w", err)
	}
	return &res, nil
}

// Client is a launched peer plugin. Its methods are safe for concurrent use
// (net/rpc multiplexes calls over one connection).
type Client struct {
	plugin *plugin.Client
	stub   *rpcClient
}

// LaunchOptions tune Launch.
type LaunchOptions struct {
	// Checksum is the binary's SHA-256; when set, go-plugin checks it
	// before running the binary.
	Checksum []byte
	// Logger receives go-plugin's and the plugin's logs (default: none).
	Logger hclog.Logger
	// Env is the plugin's environment besides go-plugin's own variables
	// (default: empty; the host's environment is never passed on).
	Env []string
}

// Launch starts the peer plugin binary at path with go-plugin's AutoMTLS
// over net/rpc and returns once it serves.
func Launch(path string, opts LaunchOptions) (*Client, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	cmd := exec.Command(path)
	cmd.Env = opts.Env
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          map[string]plugin.Plugin{PluginName: &Plugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolNetRPC},
		AutoMTLS:         true,
		Logger:           opts.Logger,
		SkipHostEnv:      true,
	}
	if opts.Checksum != nil {
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: opts.Checksum, Hash: sha256.New()}
	}
	pc := plugin.NewClient(cfg)
	rpcc, err := pc.Client()
	if err != nil {
		pc.Kill()
		return nil, fmt.Errorf("launch peer plugin %s: %w", path, err)
	}
	raw, err := rpcc.Dispense(PluginName)
	if err != nil {
		pc.Kill()
		return nil, fmt.Errorf("launch peer plugin %s: dispense: %w", path, err)
	}
	stub, ok := raw.(*rpcClient)
	if !ok {
		pc.Kill()
		return nil, fmt.Errorf("launch peer plugin %s: unexpected client type %T", path, raw)
	}
	return &Client{plugin: pc, stub: stub}, nil
}

// Hook sends one delivery to the plugin. net/rpc has no cancellation: ctx is
// checked before the call only.
func (c *Client) Hook(ctx context.Context, header http.Header, body []byte, secret, repositoryID string) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.stub.hook(&HookRequest{
		Method: http.MethodPost, URL: "/hook", Header: header, Body: body,
		Secret: secret, RepositoryID: repositoryID,
	})
}

// Pid is the plugin process id.
func (c *Client) Pid() int {
	if rc := c.plugin.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// Close stops the plugin process.
func (c *Client) Close() { c.plugin.Kill() }
