package bench

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
)

// TestSessionAnswersEveryCallerItsOwn sends deliveries of different sizes
// from many goroutines over one session to the real plugin, in both reading
// modes, and checks each caller gets the answer to its own delivery, equal
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
	for name, relay := range map[string]bool{"callers read": false, "relay goroutine": true} {
		t.Run(name, func(t *testing.T) {
			sess, err := openSession(ctx, plug.Provider(), relay)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.close()
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
						got, err := sess.verify(ctx, h.request())
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
		})
	}
	// A closed session fails calls instead of hanging.
	sess, err := openSession(ctx, plug.Provider(), false)
	if err != nil {
		t.Fatal(err)
	}
	sess.close()
	if _, err := sess.verify(ctx, hooks[1].request()); err == nil {
		t.Error("a call over a closed session succeeded")
	}
}
