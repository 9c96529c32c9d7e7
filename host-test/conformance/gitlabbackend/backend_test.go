package gitlabbackend_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/conformance/gitlabbackend"
	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
)

func get(ctx context.Context, t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("PRIVATE-TOKEN", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestFixturesAreWhatTheSimulatorHolds checks what the backend promises
// the suite, against the simulator itself.
func TestFixturesAreWhatTheSimulatorHolds(t *testing.T) {
	t.Parallel()
	b := gitlabbackend.Start(gitlabsim.Options{})
	t.Cleanup(b.Close)
	ctx := context.Background()
	conn, err := b.Connection(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rejected, err := b.RejectedConnection(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if code := get(ctx, t, b.URL()+"/api/v4/user", conn.Connection.GetCredentials().GetAccessToken()); code != http.StatusOK {
		t.Errorf("the working token answers %d", code)
	}
	if code := get(ctx, t, b.URL()+"/api/v4/user", rejected.GetCredentials().GetAccessToken()); code != http.StatusUnauthorized {
		t.Errorf("the rejected token answers %d", code)
	}
	for _, r := range conn.Repositories {
		if code := get(ctx, t, b.URL()+"/api/v4/projects/"+r.GetExternalId(), conn.Connection.GetCredentials().GetAccessToken()); code != http.StatusOK {
			t.Errorf("listed project %s answers %d", r.GetFullName(), code)
		}
	}
	w, err := b.Webhook(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Delivery.GetHeaders()["x-gitlab-token"]; got != w.Secret {
		t.Errorf("the genuine delivery's token is not the secret")
	}
	if got := w.Forged.GetHeaders()["x-gitlab-token"]; got == "" || got == w.Secret {
		t.Errorf("the forged delivery's token is empty or the secret")
	}
	if got := w.Unhandled.GetHeaders()["x-gitlab-event"]; got != "Note Hook" {
		t.Errorf("the unhandled delivery is a %q", got)
	}
	large, err := b.LargeConnection(ctx, 120)
	if err != nil || len(large.Repositories) != 120 {
		t.Fatalf("LargeConnection(120): %d repositories, %v", len(large.Repositories), err)
	}
}

// TestInFlightCountsWhatTheCallerStillAwaits: a request waiting through
// the simulator's latency counts until its caller gives up.
func TestInFlightCountsWhatTheCallerStillAwaits(t *testing.T) {
	t.Parallel()
	b := gitlabbackend.Start(gitlabsim.Options{})
	t.Cleanup(b.Close)
	b.SetLatency(5 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); get(ctx, t, b.URL()+"/api/v4/version", "") }()
	waitFor(t, func() bool { return b.InFlight() == 1 }, "the request to count")
	cancel()
	<-done
	waitFor(t, func() bool { return b.InFlight() == 0 }, "the abandoned request to stop counting")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 2s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
