// Command testprovider is a provider plugin that misbehaves on request, for
// the launcher's tests: it panics, hangs until cancelled, or echoes large
// payloads, or tells its GOMAXPROCS, chosen by the "x-test" header of a VerifyWebhook delivery.
package main

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"time"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/pluginkit"
)

type provider struct {
	scmv1.UnimplementedProviderServiceServer
}

func (provider) GetProviderInfo(context.Context, *scmv1.GetProviderInfoRequest) (*scmv1.GetProviderInfoResponse, error) {
	return &scmv1.GetProviderInfoResponse{Info: &scmv1.ProviderInfo{
		Name: "testprov", DisplayName: "Test provider", Version: "1.0.0",
		ProtocolVersions: []uint32{1},
		AuthModes:        []*scmv1.AuthModeInfo{{Mode: scmv1.AuthMode_AUTH_MODE_LOCAL_PATH}},
		Capabilities:     []scmv1.Capability{scmv1.Capability_CAPABILITY_WEBHOOKS},
		EventKinds:       []scmv1.EventKind{scmv1.EventKind_EVENT_KIND_PUSH},
	}}, nil
}

func (provider) VerifyWebhook(ctx context.Context, req *scmv1.VerifyWebhookRequest) (*scmv1.VerifyWebhookResponse, error) {
	h := req.GetDelivery().GetHeaders()
	switch h["x-test"] {
	case "panic":
		panic("testprovider: asked to panic")
	case "slow":
		<-ctx.Done()
		if marker := h["x-test-marker"]; marker != "" {
			// Written whole, then renamed: a test polling for the marker
			// never reads it half-written (empty).
			if os.WriteFile(marker+".tmp", []byte(ctx.Err().Error()), 0o600) == nil {
				_ = os.Rename(marker+".tmp", marker)
			}
		}
		return nil, ctx.Err()
	case "echo":
		return &scmv1.VerifyWebhookResponse{Events: []*scmv1.Event{{
			Kind:    scmv1.EventKind_EVENT_KIND_PUSH,
			Payload: &scmv1.Event_Push{Push: &scmv1.PushEvent{Commits: []*scmv1.Commit{{Message: string(req.GetDelivery().GetBody())}}}},
		}}}, nil
	case "sleep":
		time.Sleep(200 * time.Millisecond)
	case "gomaxprocs":
		return &scmv1.VerifyWebhookResponse{DeliveryId: strconv.Itoa(runtime.GOMAXPROCS(0))}, nil
	}
	return &scmv1.VerifyWebhookResponse{DeliveryId: "ok"}, nil
}

func main() { pluginkit.Serve(provider{}, pluginkit.WithName("testprovider")) }
