package launcher_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/pluginkit"
)

// TestPluginServesOnlyTheHostThatLaunchedIt dials the plugin's socket as a
// stranger would: in plain text, and with TLS but another certificate. Both
// must fail, in the default mode and with go-plugin's own AutoMTLS.
func TestPluginServesOnlyTheHostThatLaunchedIt(t *testing.T) {
	t.Parallel()
	m := buildTestProvider(t)
	for name, opts := range map[string]launcher.Options{
		"ed25519 mtls":       {},
		"go-plugin AutoMTLS": {GoPluginAutoMTLS: true},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := launcher.Launch(context.Background(), m, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if _, err := p.Provider().GetProviderInfo(context.Background(), &scmv1.GetProviderInfoRequest{}); err != nil {
				t.Fatalf("the launching host cannot call: %v", err)
			}
			addr := p.Addr()
			stranger, err := pluginkit.NewMTLS() // a valid certificate, but not the one the plugin pins
			if err != nil {
				t.Fatal(err)
			}
			strangerTLS := stranger.Host.Clone()
			strangerTLS.InsecureSkipVerify = true
			for cname, creds := range map[string]grpc.DialOption{
				"plain text":        grpc.WithTransportCredentials(insecure.NewCredentials()),
				"other certificate": grpc.WithTransportCredentials(credentials.NewTLS(strangerTLS)),
				"no client cert":    grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})),
			} {
				conn, err := grpc.NewClient("unix://"+addr.String(), creds)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err = scmv1.NewProviderServiceClient(conn).GetProviderInfo(ctx, &scmv1.GetProviderInfoRequest{})
				cancel()
				_ = conn.Close()
				if err == nil {
					t.Errorf("%s: a stranger was served", cname)
				}
			}
		})
	}
}
