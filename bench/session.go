package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// errSessionClosed: the session stream ended before the answer came.
var errSessionClosed = errors.New("webhook session closed")

// session is the host side of one WebhookSession stream: any number of
// goroutines send verify calls over it, each with its own id, and each
// answer goes to the call with the same id.
//
// Who reads the stream: a caller waiting for its answer when nobody else is
// reading it (leader and followers). The reader hands other callers' answers
// over, and when its own arrives it passes the reading on to a caller still
// waiting. A lone caller thus reads its own answer, without a hand-off to
// another goroutine (each hand-off may wake another thread through the
// kernel). With relay set, a dedicated goroutine reads instead (the simple
// design, kept to measure the difference).
type session struct {
	stream grpc.BidiStreamingClient[scmv1.WebhookSessionRequest, scmv1.WebhookSessionResponse]
	cancel context.CancelFunc
	relay  bool

	sendMu sync.Mutex // gRPC streams allow one sender at a time

	mu        sync.Mutex
	nextID    uint64
	pending   map[uint64]chan *scmv1.WebhookSessionResponse
	reading   bool          // a caller is reading the stream
	handover  chan struct{} // wakes a waiting caller to take the reading over
	err       error         // set once the stream failed or closed
	relayDone chan struct{}
}

// openSession opens a WebhookSession on client. The stream lives until
// close or until ctx ends. relay chooses a dedicated reader goroutine.
func openSession(ctx context.Context, client scmv1.ProviderServiceClient, relay bool) (*session, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := client.WebhookSession(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open webhook session: %w", err)
	}
	s := &session{
		stream: stream, cancel: cancel, relay: relay,
		pending:  map[uint64]chan *scmv1.WebhookSessionResponse{},
		handover: make(chan struct{}, 1),
	}
	if relay {
		s.relayDone = make(chan struct{})
		go func() {
			defer close(s.relayDone)
			for s.closeErr() == nil {
				s.readOne(0)
			}
		}()
	}
	return s, nil
}

// readOne reads one answer and delivers it; the answer to mine (0: none)
// is returned instead. A stream error fails every pending call.
func (s *session) readOne(mine uint64) *scmv1.WebhookSessionResponse {
	resp, err := s.stream.Recv()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		for id, ch := range s.pending {
			close(ch)
			delete(s.pending, id)
		}
		return nil
	}
	id := resp.GetId()
	ch, ok := s.pending[id]
	delete(s.pending, id)
	if id == mine && mine != 0 {
		return resp
	}
	if ok {
		ch <- resp // buffered: one answer per call
	}
	return nil
}

// verify sends one verify call and waits for its answer.
func (s *session) verify(ctx context.Context, req *scmv1.VerifyWebhookRequest) (*scmv1.VerifyWebhookResponse, error) {
	resp, err := s.call(ctx, func(r *scmv1.WebhookSessionRequest) {
		r.Call = &scmv1.WebhookSessionRequest_Verify{Verify: req}
	})
	if err != nil {
		return nil, err
	}
	return sessionResult(resp)
}

// identify sends one identify call and waits for its answer.
func (s *session) identify(ctx context.Context, req *scmv1.IdentifyWebhookRequest) (*scmv1.IdentifyWebhookResponse, error) {
	resp, err := s.call(ctx, func(r *scmv1.WebhookSessionRequest) {
		r.Call = &scmv1.WebhookSessionRequest_Identify{Identify: req}
	})
	if err != nil {
		return nil, err
	}
	switch r := resp.GetResult().(type) {
	case *scmv1.WebhookSessionResponse_Identify:
		return r.Identify, nil
	case *scmv1.WebhookSessionResponse_Error:
		_, err := sessionResult(resp)
		return nil, err
	default:
		return nil, fmt.Errorf("webhook session answered call %d with %T, want an identify result", resp.GetId(), r)
	}
}

// call sends one call (fill sets what it is) and waits for its answer.
func (s *session) call(ctx context.Context, fill func(*scmv1.WebhookSessionRequest)) (*scmv1.WebhookSessionResponse, error) {
	ch := make(chan *scmv1.WebhookSessionResponse, 1)
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", errSessionClosed, err)
	}
	s.nextID++
	id := s.nextID
	s.pending[id] = ch
	s.mu.Unlock()

	msg := &scmv1.WebhookSessionRequest{Id: id}
	fill(msg)
	s.sendMu.Lock()
	err := s.stream.Send(msg)
	s.sendMu.Unlock()
	if err != nil {
		s.forget(id)
		return nil, fmt.Errorf("webhook session send: %w", err)
	}
	for {
		if !s.relay {
			if resp, done := s.lead(id, ch); done {
				if resp == nil {
					return nil, fmt.Errorf("%w: %w", errSessionClosed, s.closeErr())
				}
				return resp, nil
			}
		}
		select {
		case resp, ok := <-ch:
			if !ok {
				return nil, fmt.Errorf("%w: %w", errSessionClosed, s.closeErr())
			}
			return resp, nil
		case <-s.handover:
			// Someone stopped reading while calls wait: try to take over.
		case <-ctx.Done():
			s.forget(id)
			return nil, ctx.Err()
		}
	}
}

// lead reads the stream for the call id if nobody else is, until its answer
// comes (done, with the answer, or nil when the stream failed). It returns
// done = false when another caller is reading or the answer already came.
func (s *session) lead(id uint64, ch chan *scmv1.WebhookSessionResponse) (*scmv1.WebhookSessionResponse, bool) {
	s.mu.Lock()
	if s.reading || s.err != nil {
		s.mu.Unlock()
		return nil, false
	}
	if len(ch) > 0 {
		// The answer is here; if this caller was woken to take over the
		// reading, pass that on to another waiting caller.
		waiting := len(s.pending) > 0
		s.mu.Unlock()
		if waiting {
			s.signalHandover()
		}
		return nil, false
	}
	s.reading = true
	s.mu.Unlock()
	var resp *scmv1.WebhookSessionResponse
	for {
		if resp = s.readOne(id); resp != nil {
			break
		}
		s.mu.Lock()
		failed, answered := s.err != nil, len(ch) > 0
		s.mu.Unlock()
		if failed || answered {
			break
		}
	}
	s.mu.Lock()
	s.reading = false
	waiting := len(s.pending) > 0
	s.mu.Unlock()
	if waiting {
		s.signalHandover()
	}
	if resp == nil {
		return nil, false // the answer is in ch, or ch was closed
	}
	return resp, true
}

// signalHandover wakes one waiting caller to take the reading over.
func (s *session) signalHandover() {
	select {
	case s.handover <- struct{}{}:
	default: // a hand-over is already signalled
	}
}

func (s *session) forget(id uint64) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

func (s *session) closeErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// sessionResult turns an answer into what the unary call would return.
func sessionResult(resp *scmv1.WebhookSessionResponse) (*scmv1.VerifyWebhookResponse, error) {
	switch r := resp.GetResult().(type) {
	case *scmv1.WebhookSessionResponse_Verify:
		return r.Verify, nil
	case *scmv1.WebhookSessionResponse_Error:
		var st spb.Status
		if err := proto.Unmarshal(r.Error, &st); err != nil {
			return nil, fmt.Errorf("decode webhook session error: %w", err)
		}
		return nil, status.ErrorProto(&st)
	default:
		return nil, fmt.Errorf("webhook session answered call %d with %T, want a verify result", resp.GetId(), r)
	}
}

// close ends the stream and waits for a relay reader.
func (s *session) close() {
	s.sendMu.Lock()
	_ = s.stream.CloseSend()
	s.sendMu.Unlock()
	s.cancel()
	if s.relayDone != nil {
		<-s.relayDone
	}
}
