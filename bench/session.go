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
// goroutines send verify calls over it, each with its own id, and one
// receiver hands each answer to the call with the same id.
type session struct {
	stream grpc.BidiStreamingClient[scmv1.WebhookSessionRequest, scmv1.WebhookSessionResponse]
	cancel context.CancelFunc

	sendMu sync.Mutex // gRPC streams allow one sender at a time

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan *scmv1.WebhookSessionResponse
	err     error // set once the receiver stops
	done    chan struct{}
}

// openSession opens a WebhookSession on client. The stream lives until
// close or until ctx ends.
func openSession(ctx context.Context, client scmv1.ProviderServiceClient) (*session, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := client.WebhookSession(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open webhook session: %w", err)
	}
	s := &session{stream: stream, cancel: cancel, pending: map[uint64]chan *scmv1.WebhookSessionResponse{}, done: make(chan struct{})}
	go s.receive()
	return s, nil
}

func (s *session) receive() {
	defer close(s.done)
	for {
		resp, err := s.stream.Recv()
		if err != nil {
			s.mu.Lock()
			s.err = err
			for id, ch := range s.pending {
				close(ch)
				delete(s.pending, id)
			}
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		ch, ok := s.pending[resp.GetId()]
		delete(s.pending, resp.GetId())
		s.mu.Unlock()
		if ok {
			ch <- resp
		}
	}
}

// verify sends one verify call and waits for its answer.
func (s *session) verify(ctx context.Context, req *scmv1.VerifyWebhookRequest) (*scmv1.VerifyWebhookResponse, error) {
	ch := make(chan *scmv1.WebhookSessionResponse, 1)
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", errSessionClosed, s.err)
	}
	s.nextID++
	id := s.nextID
	s.pending[id] = ch
	s.mu.Unlock()

	s.sendMu.Lock()
	err := s.stream.Send(&scmv1.WebhookSessionRequest{Id: id, Call: &scmv1.WebhookSessionRequest_Verify{Verify: req}})
	s.sendMu.Unlock()
	if err != nil {
		s.forget(id)
		return nil, fmt.Errorf("webhook session send: %w", err)
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%w: %w", errSessionClosed, s.closeErr())
		}
		return sessionResult(resp)
	case <-ctx.Done():
		s.forget(id)
		return nil, ctx.Err()
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

// close ends the stream and waits for the receiver.
func (s *session) close() {
	s.sendMu.Lock()
	_ = s.stream.CloseSend()
	s.sendMu.Unlock()
	s.cancel()
	<-s.done
}
