package gitlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// maxSessionCalls bounds how many calls of one WebhookSession are worked on
// at once. A slow call does not hold up the others; past this many, the
// session stops reading requests until one finishes, which pushes back on
// the host through gRPC flow control.
const maxSessionCalls = 64

// WebhookSession serves identify and verify calls over one long-lived
// stream. Each request is answered, in any order, by a response with its
// id; a failed call answers with the serialized google.rpc.Status the unary
// RPC would have returned. The session ends cleanly when the host closes
// its side (after answering every request already read) or the stream's
// context ends.
func (p *Provider) WebhookSession(stream scmv1.ProviderService_WebhookSessionServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()

	var (
		wg      sync.WaitGroup
		sendMu  sync.Mutex // gRPC allows one sender at a time
		sendErr error
	)
	slots := make(chan struct{}, maxSessionCalls)
	finish := func(err error) error {
		wg.Wait()
		sendMu.Lock()
		defer sendMu.Unlock()
		if err == nil && sendErr != nil {
			err = sendErr
		}
		return err
	}

	for {
		req, err := stream.Recv()
		switch {
		case errors.Is(err, io.EOF):
			return finish(nil)
		case err != nil:
			if ctx.Err() != nil {
				return finish(status.FromContextError(ctx.Err()).Err())
			}
			return finish(fmt.Errorf("webhook session: receive: %w", err))
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return finish(status.FromContextError(ctx.Err()).Err())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			resp := p.answerSessionCall(ctx, req)
			sendMu.Lock()
			defer sendMu.Unlock()
			if sendErr != nil {
				return
			}
			if err := stream.Send(resp); err != nil {
				sendErr = fmt.Errorf("webhook session: send the answer to call %d: %w", req.GetId(), err)
				p.log.Debug("webhook session ended: an answer could not be sent", "call_id", req.GetId(), "error", err)
				cancel()
			}
		}()
	}
}

// answerSessionCall runs one call of a session. A panic is answered as the
// unary RPC's recovery would answer it (Internal) and logged with its stack.
func (p *Provider) answerSessionCall(ctx context.Context, req *scmv1.WebhookSessionRequest) (resp *scmv1.WebhookSessionResponse) {
	resp = &scmv1.WebhookSessionResponse{Id: req.GetId()}
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("webhook session call panicked; answered Internal", "call_id", req.GetId(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp.Result = &scmv1.WebhookSessionResponse_Error{Error: statusBytes(scmerr.New(codes.Internal, scmerr.ReasonInternal,
				"the provider failed inside WebhookSession (a bug in the plugin; its log has the details)"))}
		}
	}()
	var err error
	switch call := req.GetCall().(type) {
	case *scmv1.WebhookSessionRequest_Identify:
		var r *scmv1.IdentifyWebhookResponse
		if r, err = p.IdentifyWebhook(ctx, call.Identify); err == nil {
			resp.Result = &scmv1.WebhookSessionResponse_Identify{Identify: r}
		}
	case *scmv1.WebhookSessionRequest_Verify:
		var r *scmv1.VerifyWebhookResponse
		if r, err = p.VerifyWebhook(ctx, call.Verify); err == nil {
			resp.Result = &scmv1.WebhookSessionResponse_Verify{Verify: r}
		}
	default:
		err = scmerr.New(codes.InvalidArgument, scmerr.ReasonInvalidInput,
			"invalid request: call: a webhook session request carries identify or verify",
			scmerr.WithField("call", "is required"))
	}
	if err != nil {
		resp.Result = &scmv1.WebhookSessionResponse_Error{Error: statusBytes(err)}
	}
	return resp
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
