package webhooksession

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// Unary methods of the test server, to compare the session's errors with.
func (s *testServer) IdentifyWebhook(ctx context.Context, req *scmv1.IdentifyWebhookRequest) (*scmv1.IdentifyWebhookResponse, error) {
	return s.h.IdentifyWebhook(ctx, req)
}

func (s *testServer) VerifyWebhook(ctx context.Context, req *scmv1.VerifyWebhookRequest) (*scmv1.VerifyWebhookResponse, error) {
	return s.h.VerifyWebhook(ctx, req)
}

// TestClientManyCallers: goroutines, each about its own repository, make
// identify, verify and receive calls over one client at once, and each gets
// the answer to its own delivery.
func TestClientManyCallers(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	k := &killable{ProviderServiceClient: r.client}
	c := NewClient(k)
	defer c.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo, secret := strconv.Itoa(g), fmt.Sprintf("secret-%d", g)
			if _, err := c.Verify(ctx, &scmv1.VerifyWebhookRequest{Delivery: delivery(repo, secret, g*1000), Secret: secret, RepositoryExternalId: repo, SecretRef: "ref-" + repo}); err != nil {
				t.Error(err)
				return
			}
			for i := 1; i <= 40; i++ {
				n := g*1000 + i
				d := delivery(repo, secret, n)
				want := strconv.Itoa(n)
				switch i % 3 {
				case 0:
					got, err := c.Identify(ctx, &scmv1.IdentifyWebhookRequest{Delivery: d})
					if err != nil || got.GetDeliveryId() != want || got.GetRepositoryExternalId() != repo {
						t.Errorf("caller %d: identify %d answered %v, %v", g, n, got, err)
						return
					}
				case 1:
					got, err := c.Verify(ctx, &scmv1.VerifyWebhookRequest{Delivery: d, Secret: secret, RepositoryExternalId: repo})
					if err != nil || got.GetDeliveryId() != want || got.GetEvents()[0].GetRepositoryExternalId() != repo {
						t.Errorf("caller %d: verify %d answered %v, %v", g, n, got, err)
						return
					}
				default:
					got, err := c.Receive(ctx, &scmv1.ReceiveWebhookRequest{Delivery: d})
					if err != nil || got.GetVerified().GetDeliveryId() != want || got.GetSecretRef() != "ref-"+repo {
						t.Errorf("caller %d: receive %d answered %v, %v", g, n, got, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := k.opens(); n != 1 {
		t.Errorf("%d sessions opened, want 1", n)
	}
}

// TestClientReceive walks the secret table through one session: nothing
// held, a good secret, a wrong one, a forged delivery, a failed identify, a
// rotated secret, a verify without a ref.
func TestClientReceive(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	c := NewClient(r.client)
	defer c.Close()
	ctx := context.Background()
	receive := func(d *scmv1.WebhookDelivery) *scmv1.ReceiveWebhookResponse {
		t.Helper()
		got, err := c.Receive(ctx, &scmv1.ReceiveWebhookRequest{Delivery: d})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if got.GetIdentity().GetDeliveryId() != d.GetHeaders()["x-id"] || got.GetIdentity().GetRepositoryExternalId() != d.GetHeaders()["x-repo"] {
			t.Fatalf("receive identified %v", got.GetIdentity())
		}
		return got
	}
	verify := func(d *scmv1.WebhookDelivery, secret, ref string) error {
		t.Helper()
		_, err := c.Verify(ctx, &scmv1.VerifyWebhookRequest{Delivery: d, Secret: secret, RepositoryExternalId: d.GetHeaders()["x-repo"], SecretRef: ref})
		return err
	}
	identityOnly := func(what string, got *scmv1.ReceiveWebhookResponse) {
		t.Helper()
		if got.GetVerified() != nil || got.GetSecretRef() != "" {
			t.Fatalf("%s: receive verified (ref %q), want identity only", what, got.GetSecretRef())
		}
	}
	verifiedWith := func(what string, got *scmv1.ReceiveWebhookResponse, d *scmv1.WebhookDelivery, secret, ref string) {
		t.Helper()
		want, err := r.h.VerifyWebhook(ctx, &scmv1.VerifyWebhookRequest{Delivery: d, Secret: secret, RepositoryExternalId: d.GetHeaders()["x-repo"]})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got.GetVerified(), want) || got.GetSecretRef() != ref {
			t.Fatalf("%s: receive answered %v with ref %q, want %v with %q", what, got.GetVerified(), got.GetSecretRef(), want, ref)
		}
	}

	identityOnly("no secret held", receive(delivery("7", "old", 1)))

	if err := verify(delivery("7", "old", 2), "old", "r1"); err != nil {
		t.Fatal(err)
	}
	d := delivery("7", "old", 3)
	verifiedWith("good secret", receive(d), d, "old", "r1")
	identityOnly("another repository", receive(delivery("8", "old", 4)))

	if err := verify(delivery("7", "old", 5), "wrong", "r2"); scmerr.CodeOf(err) != codes.Unauthenticated {
		t.Fatalf("verify with a wrong secret: %v", err)
	}
	d = delivery("7", "old", 6)
	verifiedWith("after a wrong secret", receive(d), d, "old", "r1")

	identityOnly("forged delivery", receive(delivery("7", "forged", 7)))
	d = delivery("7", "old", 8)
	verifiedWith("after a forged delivery", receive(d), d, "old", "r1")

	if _, err := c.Receive(ctx, &scmv1.ReceiveWebhookRequest{Delivery: delivery("7", "old", 9, "x-identify-fails", "1")}); scmerr.Parse(err).Reason != scmerr.ReasonPayloadInvalid {
		t.Fatalf("receive of a delivery identify refuses: %v", err)
	}

	// The secret rotated: the host verifies with the new one and its ref.
	if err := verify(delivery("7", "new", 10), "new", "r3"); err != nil {
		t.Fatal(err)
	}
	d = delivery("7", "new", 11)
	verifiedWith("rotated", receive(d), d, "new", "r3")
	identityOnly("old secret after rotation", receive(delivery("7", "old", 12)))

	// A verify without a ref leaves the table alone.
	if err := verify(delivery("8", "s8", 13), "s8", ""); err != nil {
		t.Fatal(err)
	}
	identityOnly("verified without a ref", receive(delivery("8", "s8", 14)))
}

// TestClientSecretTableIsBounded: past MaxSecrets repositories, the least
// recently used is forgotten.
func TestClientSecretTableIsBounded(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	c := NewClient(r.client)
	defer c.Close()
	ctx := context.Background()
	for i := range MaxSecrets + 1 {
		repo := strconv.Itoa(i)
		if _, err := c.Verify(ctx, &scmv1.VerifyWebhookRequest{Delivery: delivery(repo, "s", i), Secret: "s", RepositoryExternalId: repo, SecretRef: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	for repo, want := range map[string]bool{"0": false, "1": true, strconv.Itoa(MaxSecrets): true} {
		got, err := c.Receive(ctx, &scmv1.ReceiveWebhookRequest{Delivery: delivery(repo, "s", 1)})
		if err != nil {
			t.Fatal(err)
		}
		if (got.GetVerified() != nil) != want {
			t.Errorf("repository %s: verified %v, want %v", repo, got.GetVerified() != nil, want)
		}
	}
}

// TestClientErrorsReadLikeUnary: a failed call's error over the session is
// the unary RPC's, detail for detail.
func TestClientErrorsReadLikeUnary(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	c := NewClient(r.client)
	defer c.Close()
	ctx := context.Background()
	for _, req := range []*scmv1.VerifyWebhookRequest{
		{Delivery: delivery("7", "tok", 1), Secret: "wrong", RepositoryExternalId: "7"},
		{Delivery: delivery("7", "tok", 2), Secret: "tok", RepositoryExternalId: "8"},
	} {
		_, got := c.Verify(ctx, req)
		_, want := r.client.VerifyWebhook(ctx, req)
		if want == nil || !reflect.DeepEqual(scmerr.Parse(got), scmerr.Parse(want)) {
			t.Errorf("session error %+v, unary %+v", scmerr.Parse(got), scmerr.Parse(want))
		}
	}
	_, got := c.Identify(ctx, &scmv1.IdentifyWebhookRequest{Delivery: delivery("7", "tok", 3, "x-identify-fails", "1")})
	_, want := r.client.IdentifyWebhook(ctx, &scmv1.IdentifyWebhookRequest{Delivery: delivery("7", "tok", 3, "x-identify-fails", "1")})
	if !reflect.DeepEqual(scmerr.Parse(got), scmerr.Parse(want)) {
		t.Errorf("session error %+v, unary %+v", scmerr.Parse(got), scmerr.Parse(want))
	}
}

// TestClientStreamKilledMidFlight: every call waiting on a stream that
// fails gets Unavailable at once, and the next call opens a new stream,
// which holds no secrets.
func TestClientStreamKilledMidFlight(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	k := &killable{ProviderServiceClient: r.client}
	c := NewClient(k)
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Verify(ctx, &scmv1.VerifyWebhookRequest{Delivery: delivery("7", "s", 0), Secret: "s", RepositoryExternalId: "7", SecretRef: "r"}); err != nil {
		t.Fatal(err)
	}
	defer r.h.release("k")
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := c.Verify(ctx, &scmv1.VerifyWebhookRequest{Delivery: delivery("7", "s", i+1, "x-block", "k"), Secret: "s", RepositoryExternalId: "7"})
			errs <- err
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for r.h.inflight.Load() < n && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	k.kill()
	within(t, 5*time.Second, "failing the calls in flight", func() {
		for range n {
			if err := <-errs; scmerr.CodeOf(err) != codes.Unavailable {
				t.Errorf("a call in flight when the stream failed answered %v, want Unavailable", err)
			}
		}
	})
	got, err := c.Receive(ctx, &scmv1.ReceiveWebhookRequest{Delivery: delivery("7", "s", 100)})
	if err != nil {
		t.Fatalf("the call after the failure: %v", err)
	}
	if got.GetVerified() != nil {
		t.Error("a new session verified with a secret it was never given")
	}
	if k.opens() != 2 {
		t.Errorf("%d sessions opened, want 2", k.opens())
	}
}

// TestClientCancelledCallers: a caller whose context ends stops waiting,
// whether it was reading for everyone or not, and the others go on.
func TestClientCancelledCallers(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	k := &killable{ProviderServiceClient: r.client}
	c := NewClient(k)
	defer c.Close()
	defer r.h.release("a")
	defer r.h.release("b")
	ctx := context.Background()
	blocked := func(ctx context.Context, name string, n int) <-chan error {
		errs := make(chan error, 1)
		go func() {
			got, err := c.Verify(ctx, &scmv1.VerifyWebhookRequest{Delivery: delivery("7", "s", n, "x-block", name), Secret: "s", RepositoryExternalId: "7"})
			if err == nil && got.GetDeliveryId() != strconv.Itoa(n) {
				err = fmt.Errorf("call %d got the answer to %s", n, got.GetDeliveryId())
			}
			errs <- err
		}()
		return errs
	}
	waitInflight := func(n int64) {
		deadline := time.Now().Add(30 * time.Second)
		for r.h.inflight.Load() < n && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
	}

	// A lone caller, so the one reading the stream, cancelled.
	actx, cancelA := context.WithCancel(ctx)
	a := blocked(actx, "a", 1)
	waitInflight(1)
	cancelA()
	within(t, 3*time.Second, "a cancelled lone caller", func() {
		if err := <-a; status.Code(err) != codes.Canceled {
			t.Errorf("cancelled caller answered %v, want Canceled", err)
		}
	})

	// A caller past its deadline while another waits too.
	b := blocked(ctx, "b", 2)
	waitInflight(2)
	dctx, cancelD := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelD()
	d := blocked(dctx, "d", 3)
	within(t, 3*time.Second, "a caller past its deadline", func() {
		if err := <-d; status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("caller past its deadline answered %v, want DeadlineExceeded", err)
		}
	})

	// The session still serves: a quick call, then the blocked one's answer.
	if got, err := c.Identify(ctx, &scmv1.IdentifyWebhookRequest{Delivery: delivery("7", "s", 4)}); err != nil || got.GetDeliveryId() != "4" {
		t.Fatalf("a call after the cancellations: %v, %v", got, err)
	}
	r.h.release("b")
	within(t, 5*time.Second, "the blocked call's answer", func() {
		if err := <-b; err != nil {
			t.Errorf("the call that waited on: %v", err)
		}
	})
	// Call 1's late answer (it ends when released) is dropped, not delivered
	// to anyone else.
	r.h.release("a")
	for i := 5; i < 25; i++ {
		if got, err := c.Identify(ctx, &scmv1.IdentifyWebhookRequest{Delivery: delivery("7", "s", i)}); err != nil || got.GetDeliveryId() != strconv.Itoa(i) {
			t.Fatalf("call %d after the cancellations: %v, %v", i, got, err)
		}
	}
	if k.opens() != 1 {
		t.Errorf("%d sessions opened; cancelled callers must not end the session", k.opens())
	}
	if _, err := c.Identify(actx, &scmv1.IdentifyWebhookRequest{Delivery: delivery("7", "s", 30)}); status.Code(err) != codes.Canceled {
		t.Errorf("a call with a context already cancelled answered %v", err)
	}
}

// wedgedServer reads nothing from its sessions: a plugin stuck solid.
type wedgedServer struct {
	scmv1.UnimplementedProviderServiceServer
}

func (wedgedServer) WebhookSession(stream scmv1.ProviderService_WebhookSessionServer) error {
	<-stream.Context().Done()
	return nil
}

// TestClientGivesUpOnAWedgedPlugin: a caller reading the stream whose
// context ends leaves after wedgedAfter when the plugin answers nothing at
// all, and the session is dropped.
func TestClientGivesUpOnAWedgedPlugin(t *testing.T) {
	saved := wedgedAfter
	wedgedAfter = 200 * time.Millisecond
	defer func() { wedgedAfter = saved }()
	client := newRigWith(t, wedgedServer{})
	k := &killable{ProviderServiceClient: client}
	c := NewClient(k)
	defer c.Close()
	// The caller that gives up reads the stream; the other follows.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mine := make(chan error, 1)
	go func() {
		_, err := c.Identify(ctx, &scmv1.IdentifyWebhookRequest{Delivery: delivery("7", "s", 1)})
		mine <- err
	}()
	waitFor(t, "the first caller to read the stream", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.cur == nil {
			return false
		}
		c.cur.mu.Lock()
		defer c.cur.mu.Unlock()
		return c.cur.reading
	})
	other := make(chan error, 1)
	go func() {
		_, err := c.Identify(context.Background(), &scmv1.IdentifyWebhookRequest{Delivery: delivery("7", "s", 2)})
		other <- err
	}()
	waitFor(t, "the second caller to wait", func() bool {
		c.cur.mu.Lock()
		defer c.cur.mu.Unlock()
		return len(c.cur.pending) == 2
	})
	cancel()
	within(t, 3*time.Second, "a caller on a wedged plugin", func() {
		if err := <-mine; status.Code(err) != codes.Canceled {
			t.Errorf("answered %v, want Canceled", err)
		}
		if err := <-other; scmerr.CodeOf(err) != codes.Unavailable || !strings.Contains(err.Error(), "answered nothing") {
			t.Errorf("the other caller answered %v, want Unavailable: the session was dropped", err)
		}
	})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	_, _ = c.Identify(ctx2, &scmv1.IdentifyWebhookRequest{Delivery: delivery("7", "s", 3)})
	if k.opens() != 2 {
		t.Errorf("%d sessions opened, want a new one after the wedged one was dropped", k.opens())
	}
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestClientPluginWithoutSessions(t *testing.T) {
	t.Parallel()
	c := NewClient(newRigWith(t, scmv1.UnimplementedProviderServiceServer{}))
	defer c.Close()
	if _, err := c.Verify(context.Background(), &scmv1.VerifyWebhookRequest{Delivery: delivery("7", "s", 1)}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("a plugin without WebhookSession answered %v, want Unimplemented (the host then uses the unary RPCs)", err)
	}
}

func TestClientClose(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	c := NewClient(r.client)
	defer r.h.release("c")
	errs := make(chan error, 1)
	go func() {
		_, err := c.Verify(context.Background(), &scmv1.VerifyWebhookRequest{Delivery: delivery("7", "s", 1, "x-block", "c"), Secret: "s", RepositoryExternalId: "7"})
		errs <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for r.h.inflight.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	within(t, 3*time.Second, "the call Close caught", func() {
		if err := <-errs; scmerr.CodeOf(err) != codes.Unavailable {
			t.Errorf("the call in flight at Close answered %v, want Unavailable", err)
		}
	})
	if _, err := c.Identify(context.Background(), &scmv1.IdentifyWebhookRequest{Delivery: delivery("7", "s", 2)}); scmerr.CodeOf(err) != codes.Unavailable {
		t.Errorf("a call after Close answered %v, want Unavailable", err)
	}
}

// TestClientRefusesInvalidUTF8 keeps one bad header from ending the stream
// for everyone: that call fails as a unary one would, the others go on.
func TestClientRefusesInvalidUTF8(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	k := &killable{ProviderServiceClient: r.client}
	c := NewClient(k)
	defer c.Close()
	defer r.h.release("u")
	ctx := context.Background()
	waiting := make(chan error, 1)
	go func() {
		_, err := c.Verify(ctx, &scmv1.VerifyWebhookRequest{Delivery: delivery("7", "s", 1, "x-block", "u"), Secret: "s", RepositoryExternalId: "7"})
		waiting <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for r.h.inflight.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	bad := delivery("7", "s", 2, "x-bad", "caf\xe9")
	_, err := c.Receive(ctx, &scmv1.ReceiveWebhookRequest{Delivery: bad})
	_, unary := r.client.IdentifyWebhook(ctx, &scmv1.IdentifyWebhookRequest{Delivery: bad})
	if status.Code(err) != codes.Internal || status.Code(unary) != codes.Internal || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("a header that is not UTF-8 answered %v (unary: %v)", err, unary)
	}
	r.h.release("u")
	if err := <-waiting; err != nil {
		t.Fatalf("the call in flight: %v", err)
	}
	if k.opens() != 1 {
		t.Errorf("%d sessions opened, want 1", k.opens())
	}
}

// slowOpen makes opening a session wait until release is closed, as a
// connection still becoming ready (a plugin restarting) does.
type slowOpen struct {
	scmv1.ProviderServiceClient
	release chan struct{}
	opened  chan struct{} // one value per open that got through
}

func (s *slowOpen) WebhookSession(ctx context.Context, opts ...grpc.CallOption) (grpc.BidiStreamingClient[scmv1.WebhookSessionRequest, scmv1.WebhookSessionResponse], error) {
	<-s.release
	s.opened <- struct{}{}
	return s.ProviderServiceClient.WebhookSession(ctx, opts...)
}

// TestClientSlowOpenHonoursDeadlines: while a session is being opened,
// callers wait no longer than their contexts allow (they used to wait on the
// client's lock for as long as the open took), one open serves everyone
// waiting for it, and the session is there for the calls after it.
func TestClientSlowOpenHonoursDeadlines(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	s := &slowOpen{ProviderServiceClient: r.client, release: make(chan struct{}), opened: make(chan struct{}, 8)}
	c := NewClient(s)
	defer c.Close()
	req := func(n int) *scmv1.IdentifyWebhookRequest {
		return &scmv1.IdentifyWebhookRequest{Delivery: delivery("7", "s", n)}
	}
	within(t, 3*time.Second, "callers with a 50 ms deadline while the session opens", func() {
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				if _, err := c.Identify(ctx, req(i)); status.Code(err) != codes.DeadlineExceeded {
					t.Errorf("caller %d answered %v while the session was opening, want DeadlineExceeded", i, err)
				}
			}()
		}
		wg.Wait()
	})
	waiting := make(chan error, 3)
	for i := range 3 {
		go func() {
			_, err := c.Identify(context.Background(), req(10+i))
			waiting <- err
		}()
	}
	time.Sleep(20 * time.Millisecond) // let them queue behind the same open
	close(s.release)
	for range 3 {
		if err := <-waiting; err != nil {
			t.Errorf("a caller waiting for the open: %v", err)
		}
	}
	if _, err := c.Identify(context.Background(), req(20)); err != nil {
		t.Fatal(err)
	}
	if n := len(s.opened); n != 1 {
		t.Errorf("%d sessions opened, want 1: one open serves every caller waiting for it", n)
	}
}
