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

// panicLogger receives recovered panics; Serve points it at the plugin's logger.
var panicLogger hclog.Logger = hclog.NewNullLogger()

// RecoverUnary turns a panic in a unary handler into codes.Internal and
// keeps the plugin serving. The stack goes to the plugin's log, not to the caller.
func RecoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = recovered(info.FullMethod, r)
		}
	}()
	return handler(ctx, req)
}

// RecoverStream is RecoverUnary for streaming handlers.
func RecoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = recovered(info.FullMethod, r)
		}
	}()
	return handler(srv, ss)
}

func recovered(method string, r any) error {
	panicLogger.Error("provider panicked; answered Internal and kept serving", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	return scmerr.Newf(codes.Internal, scmerr.ReasonInternal, "the provider failed inside %s (a bug in the plugin; its log has the details)", method)
}
