package plugintest

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// InMemory serves srv over real gRPC on an in-memory listener and returns a
// client of it, both closed when the test ends: for unit tests of a
// provider's (or a session's) gRPC behaviour that need no process boundary.
// End-to-end tests launch the built plugin instead (Build).
func InMemory(t testing.TB, srv scmv1.ProviderServiceServer) scmv1.ProviderServiceClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	scmv1.RegisterProviderServiceServer(gs, srv)
	go func() { _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		gs.Stop()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(); gs.Stop() })
	return scmv1.NewProviderServiceClient(conn)
}
