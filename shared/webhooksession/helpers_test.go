package webhooksession

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// fakeHandler is a provider small enough to predict. A delivery says in its
// headers which repository it is about (x-repo), the token it carries
// (x-token) and its id (x-id); x-identify-fails, x-panic and x-block
// (a name in blocks) make the calls misbehave.
type fakeHandler struct {
	identifies, verifies  atomic.Int64
	inflight, maxInflight atomic.Int64
	blocks                sync.Map // name → chan struct{}: x-block waits for it to close
	stacks                chan string
}

func (f *fakeHandler) enter() func() {
	n := f.inflight.Add(1)
	for {
		m := f.maxInflight.Load()
		if n <= m || f.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	return func() { f.inflight.Add(-1) }
}

// gate is a named barrier x-block calls wait at until it is released.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func (f *fakeHandler) gate(name string) *gate {
	g, _ := f.blocks.LoadOrStore(name, &gate{ch: make(chan struct{})})
	return g.(*gate)
}

func (f *fakeHandler) block(ctx context.Context, d *scmv1.WebhookDelivery) {
	name := d.GetHeaders()["x-block"]
	if name == "" {
		return
	}
	select {
	case <-f.gate(name).ch:
	case <-ctx.Done():
	}
}

// release lets the calls blocked on name go; later ones do not block.
func (f *fakeHandler) release(name string) {
	g := f.gate(name)
	g.once.Do(func() { close(g.ch) })
}

func (f *fakeHandler) IdentifyWebhook(ctx context.Context, req *scmv1.IdentifyWebhookRequest) (*scmv1.IdentifyWebhookResponse, error) {
	defer f.enter()()
	f.identifies.Add(1)
	h := req.GetDelivery().GetHeaders()
	if f.stacks != nil {
		f.stacks <- stack()
	}
	f.block(ctx, req.GetDelivery())
	if h["x-identify-fails"] != "" {
		return nil, scmerr.New(codes.InvalidArgument, scmerr.ReasonPayloadInvalid, "the payload does not parse")
	}
	return &scmv1.IdentifyWebhookResponse{RepositoryExternalId: h["x-repo"], DeliveryId: h["x-id"], HasToken: h["x-token"] != ""}, nil
}

func (f *fakeHandler) VerifyWebhook(ctx context.Context, req *scmv1.VerifyWebhookRequest) (*scmv1.VerifyWebhookResponse, error) {
	defer f.enter()()
	f.verifies.Add(1)
	h := req.GetDelivery().GetHeaders()
	if f.stacks != nil {
		f.stacks <- stack()
	}
	f.block(ctx, req.GetDelivery())
	if h["x-panic"] != "" {
		panic("verify broke on secret " + req.GetSecret())
	}
	if h["x-repo"] != req.GetRepositoryExternalId() {
		return nil, scmerr.New(codes.PermissionDenied, scmerr.ReasonRepositoryMismatch, "the payload names another repository")
	}
	if h["x-token"] != req.GetSecret() {
		return nil, scmerr.New(codes.Unauthenticated, scmerr.ReasonSignatureInvalid, "the webhook token does not match the secret")
	}
	return &scmv1.VerifyWebhookResponse{DeliveryId: h["x-id"], EventKind: scmv1.EventKind_EVENT_KIND_PUSH,
		Events: []*scmv1.Event{{RepositoryExternalId: h["x-repo"]}}}, nil
}

func stack() string {
	buf := make([]byte, 64<<10)
	return string(buf[:runtime.Stack(buf, false)])
}

// delivery is a delivery about repo carrying token, with id n.
func delivery(repo, token string, n int, extra ...string) *scmv1.WebhookDelivery {
	h := map[string]string{"x-repo": repo, "x-token": token, "x-id": strconv.Itoa(n)}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return &scmv1.WebhookDelivery{Headers: h, Body: []byte(`{"n":` + strconv.Itoa(n) + `}`)}
}

// testServer serves a fakeHandler's sessions over an in-memory connection.
type testServer struct {
	scmv1.UnimplementedProviderServiceServer
	h     *fakeHandler
	log   hclog.Logger
	ended chan error
}

func (s *testServer) WebhookSession(stream scmv1.ProviderService_WebhookSessionServer) error {
	err := Serve(stream, s.h, s.log)
	s.ended <- err
	return err
}

// logBuffer is a goroutine-safe buffer for a captured hclog.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type rig struct {
	h      *fakeHandler
	srv    *testServer
	logs   *logBuffer
	client scmv1.ProviderServiceClient
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{h: &fakeHandler{}, logs: &logBuffer{}}
	r.srv = &testServer{h: r.h, ended: make(chan error, 64),
		log: hclog.New(&hclog.LoggerOptions{Output: r.logs, Level: hclog.Trace})}
	r.client = newRigWith(t, r.srv)
	return r
}

// newRigWith serves srv over an in-memory connection.
func newRigWith(t *testing.T, srv scmv1.ProviderServiceServer) scmv1.ProviderServiceClient {
	t.Helper()
	return plugintest.InMemory(t, srv)
}

// sessionError reads the google.rpc.Status of an error answer.
func sessionError(t *testing.T, resp *scmv1.WebhookSessionResponse) error {
	t.Helper()
	var st spb.Status
	if err := proto.Unmarshal(resp.GetError(), &st); err != nil {
		t.Fatalf("call %d: error is not a google.rpc.Status: %v", resp.GetId(), err)
	}
	return status.ErrorProto(&st)
}

// killable wraps a client so a test can end its sessions' streams, as a
// plugin restart does.
type killable struct {
	scmv1.ProviderServiceClient
	mu      sync.Mutex
	opened  int
	cancels []context.CancelFunc
}

func (k *killable) WebhookSession(ctx context.Context, opts ...grpc.CallOption) (grpc.BidiStreamingClient[scmv1.WebhookSessionRequest, scmv1.WebhookSessionResponse], error) {
	ctx, cancel := context.WithCancel(ctx)
	k.mu.Lock()
	k.opened++
	k.cancels = append(k.cancels, cancel)
	k.mu.Unlock()
	return k.ProviderServiceClient.WebhookSession(ctx, opts...)
}

func (k *killable) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, c := range k.cancels {
		c()
	}
	k.cancels = nil
}

func (k *killable) opens() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.opened
}

// within fails the test when f does not return in d.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s took longer than %s", what, d)
	}
}
