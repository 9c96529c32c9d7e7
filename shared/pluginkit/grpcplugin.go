package pluginkit

import (
	"context"
	"errors"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// GRPCPlugin is the go-plugin Plugin of an SCM provider. On the plugin side
// Impl is the provider; on the host side Impl is nil and GRPCClient hands out
// a Conn.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl scmv1.ProviderServiceServer
}

// Conn is what a host gets when it dispenses the provider: the gRPC
// connection to the plugin process and a context that ends when the process
// exits.
type Conn struct {
	*grpc.ClientConn
	// Done is closed when go-plugin sees the plugin process exit.
	Done <-chan struct{}
}

// GRPCServer registers the provider on the plugin's gRPC server.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("pluginkit: GRPCPlugin.Impl is nil on the plugin side")
	}
	scmv1.RegisterProviderServiceServer(s, p.Impl)
	return nil
}

// GRPCClient returns a *Conn for the host side.
func (p *GRPCPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &Conn{ClientConn: c, Done: ctx.Done()}, nil
}

// DialOptions are the gRPC client options hosts use (raised message limits).
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageSize),
			grpc.MaxCallSendMsgSize(MaxMessageSize),
		),
		grpc.WithInitialWindowSize(1 << 20),
		grpc.WithInitialConnWindowSize(4 << 20),
	}
}

// ServerOptions are the gRPC server options a plugin serves with: raised
// message limits and panic recovery (recovered panics are logged to log).
func ServerOptions(log hclog.Logger) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.InitialWindowSize(1 << 20),
		grpc.InitialConnWindowSize(4 << 20),
		grpc.ChainUnaryInterceptor(RecoverUnary(log)),
		grpc.ChainStreamInterceptor(RecoverStream(log)),
	}
}
