package pluginkit

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// RecoverUnary returns an interceptor that turns a panic in a unary handler
// into codes.Internal and keeps the plugin serving. The stack goes to log,
// not to the caller.
func RecoverUnary(log hclog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = recovered(log, info.FullMethod, r)
			}
		}()
		return handler(ctx, req)
	}
}

// RecoverStream is RecoverUnary for streaming handlers.
func RecoverStream(log hclog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = recovered(log, info.FullMethod, r)
			}
		}()
		return handler(srv, ss)
	}
}

func recovered(log hclog.Logger, method string, r any) error {
	log.Error("provider panicked; answered Internal and kept serving", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	return scmerr.Newf(codes.Internal, scmerr.ReasonInternal, "the provider failed inside %s (a bug in the plugin; its log has the details)", method)
}
