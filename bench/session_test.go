package bench

import (
	"context"
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
