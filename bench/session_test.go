package bench

import (
	"context"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
	"github.com/oore-ci/oore-scm-gitlab/shared/webhooksession"
)

// TestSessionAnswersEveryCallerItsOwn sends deliveries of different sizes
// from many goroutines over the session client the figures use to the real
// plugin, and checks each caller gets the answer to its own delivery, equal
// to the in-process one.
func TestSessionAnswersEveryCallerItsOwn(t *testing.T) {
	bins, _ := sharedBinaries(t)
	ctx := context.Background()
	hooks, err := pushWebhooks(ctx, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	plug, err := launcher.Launch(ctx, bins.plugin, launcher.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer plug.Close()
	prov := gitlab.New()
	sess := webhooksession.NewClient(plug.Provider())
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := hooks[1]
			if g%2 == 1 {
				h = hooks[3]
			}
			want, err := prov.VerifyWebhook(ctx, h.request())
			if err != nil {
				t.Error(err)
				return
			}
			for range 20 {
				got, err := sess.Verify(ctx, h.request())
				if err != nil {
					t.Error(err)
					return
				}
				if !proto.Equal(got, want) {
					t.Errorf("caller %d got another delivery's answer", g)
					return
				}
			}
		}()
	}
	wg.Wait()
	// A closed session fails calls instead of hanging.
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Verify(ctx, hooks[1].request()); scmerr.CodeOf(err) != codes.Unavailable {
		t.Errorf("a call over a closed session answered %v, want Unavailable", err)
	}
}

// TestReceivePathsMeasureWhatTheySay checks the guards of the receive
// figures against the real plugin: the steady-state op accepts only answers
// verified under the secret_ref the session was given (a session without
// the secret answers identity only, and one holding another reference is
// not what a host trusts: both are less than a host's intake does, and
// would flatter the figure), and the first-delivery op refuses a session
// that holds the secret.
func TestReceivePathsMeasureWhatTheySay(t *testing.T) {
	bins, dir := sharedBinaries(t)
	ctx := context.Background()
	rig, err := startWebhookRig(ctx, bins, dir, rigOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rig.close()
	h := rig.hooks[2]
	paths, err := rig.paths(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if paths.receive == nil || paths.firstDelivery == nil {
		t.Fatal("the plugin serves receive, but the receive paths are not set")
	}
	for name, o := range map[string]op{"receive": paths.receive, "first delivery": paths.firstDelivery} {
		if err := o(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	if err := receiveOp(ctx, rig.fresh, h)(); err == nil || !strings.Contains(err.Error(), "no longer holds the secret") {
		t.Errorf("receive over a session without the secret: %v, want the op to refuse the unverified answer", err)
	}
	other := h.request()
	other.SecretRef = "bench-ref-rotated-away"
	if _, err := rig.fresh.Verify(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := receiveOp(ctx, rig.fresh, h)(); err == nil || !strings.Contains(err.Error(), `secret_ref="bench-ref-rotated-away"`) {
		t.Errorf("receive answered under another secret_ref: %v, want the op to refuse it", err)
	}
	if err := paths.firstDelivery(); err == nil || !strings.Contains(err.Error(), "no first delivery") {
		t.Errorf("first delivery over a session holding the secret: %v, want the op to refuse it", err)
	}
}
