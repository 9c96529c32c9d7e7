// Package webhooksession is both sides of the scm.v1 WebhookSession stream,
// for any provider: Serve answers identify, verify and receive calls over a
// provider's IdentifyWebhook and VerifyWebhook (plugin side), and Client
// carries those calls for a host.
//
// A session holds, per repository, the last secret a verify call with a
// secret_ref succeeded with, so that a receive call can identify a delivery
// and verify it in one round trip. The host trusts a receive answer only
// when the secret_ref it names is still the repository's current secret.
package webhooksession

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// Handler is what a provider already implements (its unary methods).
type Handler interface {
	IdentifyWebhook(context.Context, *scmv1.IdentifyWebhookRequest) (*scmv1.IdentifyWebhookResponse, error)
	VerifyWebhook(context.Context, *scmv1.VerifyWebhookRequest) (*scmv1.VerifyWebhookResponse, error)
}

// MaxCalls bounds how many calls of one session are worked on at once. A
// slow call does not hold up the others; past this many, the session stops
// reading requests until one finishes, which pushes back on the host through
// gRPC flow control.
const MaxCalls = 64

// MaxSecrets bounds how many repositories' secrets one session holds. Past
// it, the repository whose secret was least recently set or looked up by a
// receive is forgotten: its next receive answers identity only and the
// host's fallback verify (with secret_ref) brings it back.
const MaxSecrets = 4096

// Serve serves one WebhookSession stream for h until the host closes its
// side (after answering every request already read) or the stream's context
// ends. log gets panics and send failures (nil: discarded).
//
// Each request is answered, in any order, by a response with its id; a
// failed call answers with the serialized google.rpc.Status the unary RPC
// would have returned. A call that arrives while no other is in flight is
// answered by the goroutine that read it (no hand-off to another goroutine,
// which may wake another OS thread; if it takes longer than a couple of
// milliseconds, another goroutine goes on reading meanwhile); calls that
// overlap run concurrently, at most MaxCalls at once. A panic in h answers
// that call Internal and is logged with its stack; the session goes on.
//
// A verify call with a secret_ref that succeeds leaves its secret with the
// session for its repository_external_id (MaxSecrets at most). A receive
// call identifies the delivery and, when the session holds a secret for the
// repository it names, verifies it with that secret: verified and the
// secret_ref on success, identity only on any verify error (the host's
// fallback verify gets the precise error). The session forgets its secrets
// when Serve returns; they never reach the log nor an answer.
//
// A request with no call set is answered InvalidArgument (field "call"),
// unless it carries fields this package does not know: that is a call kind
// newer than this server, answered Unimplemented so the host can tell "not
// served here" from "malformed".
func Serve(stream scmv1.ProviderService_WebhookSessionServer, h Handler, log hclog.Logger) error {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	l := &loop{
		stream: stream, ctx: ctx, cancel: cancel, log: log,
		s:       &server{h: h, log: log, secrets: newSecretTable(MaxSecrets)},
		slots:   make(chan struct{}, MaxCalls),
		ended:   make(chan error, 1),
		handOff: handOffAfter,
	}
	l.read() // false: the reading went on in another goroutine, which reports its end
	err := <-l.ended
	l.wg.Wait()
	return l.finish(err)
}

// handOffAfter is how long a call answered inline may hold up the reading:
// past it, another goroutine takes the reading over, so a slow call does not
// stall the calls behind it.
var handOffAfter = 2 * time.Millisecond

// loop reads one session's requests and answers them.
type loop struct {
	stream scmv1.ProviderService_WebhookSessionServer
	ctx    context.Context
	cancel context.CancelFunc
	log    hclog.Logger
	s      *server
	slots  chan struct{} // one per call in flight
	wg     sync.WaitGroup
	ended  chan error // the reading's end: nil when the host closed its side
	// handOff: how long an inline call may hold the reading (handOffAfter).
	handOff time.Duration

	sendMu  sync.Mutex // gRPC allows one sender at a time
	sendErr error
}

// read reads and answers requests until the stream ends (reported on
// l.ended; it returns true) or, while it answers a call inline, another
// goroutine takes the reading over (it returns false once that call is
// answered).
func (l *loop) read() bool {
	for {
		req, err := l.stream.Recv()
		switch {
		case errors.Is(err, io.EOF):
			l.ended <- nil
			return true
		case err != nil:
			if l.ctx.Err() != nil {
				err = status.FromContextError(l.ctx.Err()).Err()
			} else {
				err = fmt.Errorf("webhook session: receive: %w", err)
			}
			l.ended <- err
			return true
		}
		select {
		case l.slots <- struct{}{}:
		case <-l.ctx.Done():
			l.ended <- status.FromContextError(l.ctx.Err()).Err()
			return true
		}
		if len(l.slots) > 1 {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				l.answer(req)
			}()
			continue
		}
		// Ours is the only call in flight: answer it here (no hand-off
		// to another goroutine, which may wake another OS thread). If it
		// takes long, the reading goes on in another goroutine.
		var state atomic.Int32 // 0 answering, 1 answered here, 2 reading moved
		t := time.AfterFunc(l.handOff, func() {
			if state.CompareAndSwap(0, 2) {
				l.wg.Add(1)
				go func() {
					defer l.wg.Done()
					l.read()
				}()
			}
		})
		l.answer(req)
		t.Stop()
		if !state.CompareAndSwap(0, 1) {
			return false
		}
	}
}

// answer answers one call and releases its slot.
func (l *loop) answer(req *scmv1.WebhookSessionRequest) {
	defer func() { <-l.slots }()
	resp := l.s.answer(l.ctx, req)
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	if l.sendErr != nil {
		return
	}
	if err := l.stream.Send(resp); err != nil {
		l.sendErr = fmt.Errorf("webhook session: send the answer to call %d: %w", req.GetId(), err)
		l.log.Debug("webhook session ended: an answer could not be sent", "call_id", req.GetId(), "error", err)
		l.cancel()
	}
}

// finish is Serve's result once every call is answered: the reading's end,
// or the first send failure when the reading ended cleanly.
func (l *loop) finish(err error) error {
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	if err == nil && l.sendErr != nil {
		err = l.sendErr
	}
	return err
}

// server is one session's state.
type server struct {
	h       Handler
	log     hclog.Logger
	secrets *secretTable
}

// answer runs one call. A panic is answered as the unary RPC's recovery
// would answer it (Internal) and logged with its stack, with any secret the
// call carried blanked out of the panic's text.
func (s *server) answer(ctx context.Context, req *scmv1.WebhookSessionRequest) (resp *scmv1.WebhookSessionResponse) {
	resp = &scmv1.WebhookSessionResponse{Id: req.GetId()}
	var secret string // the secret this call handles, kept out of the log
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprint(r)
			if secret != "" {
				msg = strings.ReplaceAll(msg, secret, "[secret]")
			}
			s.log.Error("webhook session call panicked; answered Internal", "call_id", req.GetId(), "panic", msg, "stack", string(debug.Stack()))
			resp.Result = &scmv1.WebhookSessionResponse_Error{Error: statusBytes(scmerr.New(codes.Internal, scmerr.ReasonInternal,
				"the provider failed inside WebhookSession (a bug in the plugin; its log has the details)"))}
		}
	}()
	var err error
	switch call := req.GetCall().(type) {
	case *scmv1.WebhookSessionRequest_Identify:
		var r *scmv1.IdentifyWebhookResponse
		if r, err = s.h.IdentifyWebhook(ctx, call.Identify); err == nil {
			resp.Result = &scmv1.WebhookSessionResponse_Identify{Identify: r}
		}
	case *scmv1.WebhookSessionRequest_Verify:
		secret = call.Verify.GetSecret()
		var r *scmv1.VerifyWebhookResponse
		if r, err = s.verify(ctx, call.Verify); err == nil {
			resp.Result = &scmv1.WebhookSessionResponse_Verify{Verify: r}
		}
	case *scmv1.WebhookSessionRequest_Receive:
		var r *scmv1.ReceiveWebhookResponse
		if r, err = s.receive(ctx, call.Receive, &secret); err == nil {
			resp.Result = &scmv1.WebhookSessionResponse_Receive{Receive: r}
		}
	default:
		if len(req.ProtoReflect().GetUnknown()) > 0 {
			err = scmerr.New(codes.Unimplemented, scmerr.ReasonUnimplemented,
				"this provider's webhook session does not know the call it was sent (the host is newer than the plugin); use identify, verify or receive, or the unary RPCs")
		} else {
			err = scmerr.New(codes.InvalidArgument, scmerr.ReasonInvalidInput,
				"invalid request: call: a webhook session request carries identify, verify or receive",
				scmerr.WithField("call", "is required"))
		}
	}
	if err != nil {
		resp.Result = &scmv1.WebhookSessionResponse_Error{Error: statusBytes(err)}
	}
	return resp
}

// verify is VerifyWebhook; when it succeeds and names a secret_ref, the
// session keeps the secret for the repository under that ref. A failed
// verify leaves the table as it was, so a wrong secret never enters it.
func (s *server) verify(ctx context.Context, req *scmv1.VerifyWebhookRequest) (*scmv1.VerifyWebhookResponse, error) {
	r, err := s.h.VerifyWebhook(ctx, req)
	if err != nil {
		return nil, err
	}
	if ref, repo := req.GetSecretRef(), req.GetRepositoryExternalId(); ref != "" && repo != "" {
		s.secrets.put(repo, req.GetSecret(), ref)
	}
	return r, nil
}

// receive identifies the delivery and verifies it with the secret the
// session holds for the repository it names. Any verify failure answers
// identity only: the host's fallback verify gives it the precise error.
// *secret is set to the secret used, for the panic log to blank out.
func (s *server) receive(ctx context.Context, req *scmv1.ReceiveWebhookRequest, secret *string) (*scmv1.ReceiveWebhookResponse, error) {
	id, err := s.h.IdentifyWebhook(ctx, &scmv1.IdentifyWebhookRequest{Delivery: req.GetDelivery()})
	if err != nil {
		return nil, err
	}
	out := &scmv1.ReceiveWebhookResponse{Identity: id}
	repo := id.GetRepositoryExternalId()
	if repo == "" {
		return out, nil
	}
	e, ok := s.secrets.get(repo)
	if !ok {
		return out, nil
	}
	*secret = e.secret
	v, err := s.h.VerifyWebhook(ctx, &scmv1.VerifyWebhookRequest{Delivery: req.GetDelivery(), Secret: e.secret, RepositoryExternalId: repo})
	if err != nil {
		return out, nil
	}
	out.Verified, out.SecretRef = v, e.ref
	return out, nil
}

// statusBytes serializes err as a google.rpc.Status.
func statusBytes(err error) []byte {
	b, mErr := proto.Marshal(status.Convert(err).Proto())
	if mErr != nil {
		// Only a detail that cannot be marshalled gets here: keep code and message.
		b, _ = proto.Marshal(status.New(status.Code(err), status.Convert(err).Message()).Proto())
	}
	return b
}
