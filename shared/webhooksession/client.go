package webhooksession

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// wedgedAfter is how long a caller that gave up while reading the stream
// for everyone waits for the plugin to answer anything at all before the
// session is dropped as wedged (see conn.lead).
var wedgedAfter = 5 * time.Second

// errClosed answers calls made after Close, and those Close caught.
var errClosed = scmerr.New(codes.Unavailable, scmerr.ReasonPluginUnavailable,
	"the webhook session client is closed (the host is shutting its plugin down)")

// Client carries identify, verify and receive calls over a WebhookSession
// of c, opened on first use and reopened after the stream fails (calls in
// flight when it fails get codes.Unavailable, like a unary call to a plugin
// that went away). Safe for concurrent use.
//
// Errors are what the unary RPC would return: status errors scmerr.Parse
// reads. A plugin that does not serve WebhookSession answers Unimplemented;
// the caller then uses the unary RPCs. A new session holds no secrets:
// receive answers identity only until verify calls with a secret_ref
// refill it.
//
// Who reads the stream: a caller waiting for its answer when nobody else is
// reading it (a leader; the others follow). The reader hands the others'
// answers over, and when its own arrives it passes the reading on to a
// caller still waiting. A lone caller thus reads its own answer, with no
// hand-off to another goroutine (each may wake another OS thread).
//
// A caller whose context ends stops waiting. If it was reading for everyone,
// it cannot leave before the stream yields a message, so it sends an empty
// call, which every WebhookSession server answers at once (InvalidArgument,
// dropped here); if nothing at all comes back within wedgedAfter, the
// plugin is taken as wedged and the session is dropped (its calls get
// Unavailable, the next call opens a new one).
//
// Limits: a call blocks in Send while the plugin pushes back (at most
// MaxCalls in flight on the plugin's side, then gRPC flow control), and its
// context does not interrupt that. A request larger than the connection's
// send limit ends the stream for every call in flight, as gRPC finishes a
// stream on a local send error; hosts cap delivery bodies well below it.
type Client struct {
	c scmv1.ProviderServiceClient

	mu      sync.Mutex
	cur     *conn
	opening *opening // the session being opened, if any
	closed  bool
}

// NewClient returns a Client of c; nothing is opened until the first call.
func NewClient(c scmv1.ProviderServiceClient) *Client {
	return &Client{c: c}
}

// Identify is IdentifyWebhook over the session.
func (c *Client) Identify(ctx context.Context, req *scmv1.IdentifyWebhookRequest) (*scmv1.IdentifyWebhookResponse, error) {
	resp, err := c.call(ctx, &scmv1.WebhookSessionRequest{Call: &scmv1.WebhookSessionRequest_Identify{Identify: req}})
	if err != nil {
		return nil, err
	}
	if r, ok := resp.GetResult().(*scmv1.WebhookSessionResponse_Identify); ok && r.Identify != nil {
		return r.Identify, nil
	}
	return nil, answerError(resp, "an identify result")
}

// Verify is VerifyWebhook over the session. With req.SecretRef set, a
// delivery that verifies leaves the secret with the session for
// req.RepositoryExternalId, for later Receive calls.
func (c *Client) Verify(ctx context.Context, req *scmv1.VerifyWebhookRequest) (*scmv1.VerifyWebhookResponse, error) {
	resp, err := c.call(ctx, &scmv1.WebhookSessionRequest{Call: &scmv1.WebhookSessionRequest_Verify{Verify: req}})
	if err != nil {
		return nil, err
	}
	if r, ok := resp.GetResult().(*scmv1.WebhookSessionResponse_Verify); ok && r.Verify != nil {
		return r.Verify, nil
	}
	return nil, answerError(resp, "a verify result")
}

// Receive identifies a delivery and, when the session holds a secret for
// the repository it names, verifies it in the same round trip. Trust
// Verified only when SecretRef still names the repository's current secret;
// otherwise (or when Verified is unset) call Verify. A plugin older than
// receive answers an error (InvalidArgument or Unimplemented): fall back to
// Identify and Verify.
func (c *Client) Receive(ctx context.Context, req *scmv1.ReceiveWebhookRequest) (*scmv1.ReceiveWebhookResponse, error) {
	resp, err := c.call(ctx, &scmv1.WebhookSessionRequest{Call: &scmv1.WebhookSessionRequest_Receive{Receive: req}})
	if err != nil {
		return nil, err
	}
	if r, ok := resp.GetResult().(*scmv1.WebhookSessionResponse_Receive); ok && r.Receive != nil {
		return r.Receive, nil
	}
	return nil, answerError(resp, "a receive result")
}

// Close ends the session; calls waiting on it and later calls get
// Unavailable. It does not close c.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	s := c.cur
	c.cur = nil
	c.mu.Unlock()
	if s != nil {
		s.fail(errClosed)
	}
	return nil
}

// conn returns the open session, opening one if there is none or the last
// one failed. Opening runs in its own goroutine, which the callers that need
// the new session wait for as long as their contexts allow: a connection
// that is slow to become ready (the plugin restarting) does not hold a
// caller past its deadline, nor the others behind a lock.
func (c *Client) conn(ctx context.Context) (*conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errClosed
	}
	if c.cur != nil && c.cur.failure() == nil {
		s := c.cur
		c.mu.Unlock()
		return s, nil
	}
	o := c.opening
	if o == nil {
		o = &opening{done: make(chan struct{})}
		c.opening = o
		go c.open(o)
	}
	c.mu.Unlock()
	select {
	case <-o.done:
		return o.conn, o.err
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// opening is a session being opened; done is closed when conn or err is set.
type opening struct {
	done chan struct{}
	conn *conn
	err  error
}

// open opens a WebhookSession stream for o and makes it the current one,
// unless the Client was closed meanwhile.
func (c *Client) open(o *opening) {
	defer close(o.done)
	// The stream outlives any one caller: its own context, ended by Close or
	// by the stream's failure.
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := c.c.WebhookSession(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opening = nil
	switch {
	case err != nil:
		cancel()
		o.err = streamFailure(err)
	case c.closed:
		cancel()
		o.err = errClosed
	default:
		c.cur = &conn{
			stream:   stream,
			cancel:   cancel,
			pending:  map[uint64]chan *scmv1.WebhookSessionResponse{},
			handover: make(chan struct{}, 1),
		}
		o.conn = c.cur
	}
}

// call sends msg (its id is set here) and waits for its answer.
func (c *Client) call(ctx context.Context, msg *scmv1.WebhookSessionRequest) (*scmv1.WebhookSessionResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	if err := checkUTF8(msg); err != nil {
		return nil, err
	}
	var (
		s  *conn
		id uint64
		ch chan *scmv1.WebhookSessionResponse
	)
	for attempt := 0; ; attempt++ {
		var err error
		if s, err = c.conn(ctx); err != nil {
			return nil, err
		}
		if id, ch, err = s.register(); err == nil {
			break
		}
		if attempt > 0 {
			return nil, err
		}
		// The stream failed since conn looked: nothing was sent, so a
		// fresh stream can carry the call.
	}
	msg.Id = id
	s.sendMu.Lock()
	err := s.stream.Send(msg)
	s.sendMu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) {
		// A local failure (gRPC ends the stream on one): this call gets
		// it, as a unary call would; the others get Unavailable.
		s.forget(id)
		s.fail(streamFailure(err))
		if _, ok := status.FromError(err); ok {
			return nil, err
		}
		return nil, streamFailure(err)
	}
	// On io.EOF the stream has ended: whoever reads it next learns why and
	// fails this call with the rest.
	return s.wait(ctx, id, ch)
}

// conn is one WebhookSession stream and the calls waiting on it.
type conn struct {
	stream grpc.BidiStreamingClient[scmv1.WebhookSessionRequest, scmv1.WebhookSessionResponse]
	cancel context.CancelFunc

	sendMu sync.Mutex // gRPC streams allow one sender at a time

	mu       sync.Mutex
	nextID   uint64
	pending  map[uint64]chan *scmv1.WebhookSessionResponse // each buffered for its one answer
	reading  bool                                          // a caller is reading the stream
	handover chan struct{}                                 // wakes a waiting caller to take the reading over
	err      error                                         // set once the stream failed or was closed
}

// register allots an id and the channel its answer comes on.
func (s *conn) register() (uint64, chan *scmv1.WebhookSessionResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, nil, s.err
	}
	s.nextID++
	ch := make(chan *scmv1.WebhookSessionResponse, 1)
	s.pending[s.nextID] = ch
	return s.nextID, ch, nil
}

// wait waits for the answer to call id: by reading the stream when nobody
// else is, or for the reader to hand it over.
func (s *conn) wait(ctx context.Context, id uint64, ch chan *scmv1.WebhookSessionResponse) (*scmv1.WebhookSessionResponse, error) {
	for {
		if resp := s.lead(ctx, id, ch); resp != nil {
			return resp, nil
		}
		if err := ctx.Err(); err != nil {
			s.forget(id)
			return nil, status.FromContextError(err).Err()
		}
		select {
		case resp, ok := <-ch:
			if !ok {
				return nil, s.failure()
			}
			return resp, nil
		case <-s.handover:
			// The reader stopped while calls wait: take over if still free.
		case <-ctx.Done():
			s.forget(id)
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
}

// lead reads the stream for call id if nobody else is, handing the other
// calls' answers over, until its own answer comes (returned), the stream
// fails (ch is closed) or ctx ends (the call is forgotten). It returns nil
// at once when another caller reads, the answer is already in ch, or ctx
// has ended; a hand-over this caller took is then passed on.
func (s *conn) lead(ctx context.Context, id uint64, ch chan *scmv1.WebhookSessionResponse) *scmv1.WebhookSessionResponse {
	s.mu.Lock()
	if s.reading || s.err != nil || len(ch) > 0 || ctx.Err() != nil {
		pass := !s.reading && s.othersWaiting(id)
		s.mu.Unlock()
		if pass {
			s.signalHandover()
		}
		return nil
	}
	s.reading = true
	s.mu.Unlock()

	// If ctx ends while this caller is blocked in Recv, make the stream
	// yield something (see Client), and drop the session if it yields
	// nothing in wedgedAfter.
	var (
		guardMu sync.Mutex
		guard   *time.Timer
		left    bool
	)
	stop := context.AfterFunc(ctx, func() {
		s.nudge()
		guardMu.Lock()
		defer guardMu.Unlock()
		if !left {
			guard = time.AfterFunc(wedgedAfter, func() {
				s.fail(scmerr.Newf(codes.Unavailable, scmerr.ReasonPluginUnavailable,
					"the plugin answered nothing on its webhook session for %s; the session was dropped and the next call opens a new one", wedgedAfter))
			})
		}
	})

	var mine *scmv1.WebhookSessionResponse
	for mine == nil {
		resp, err := s.stream.Recv()
		if err != nil {
			s.fail(streamFailure(err))
			break
		}
		s.mu.Lock()
		rid := resp.GetId()
		if c, ok := s.pending[rid]; ok {
			delete(s.pending, rid)
			if rid == id {
				mine = resp
			} else {
				c <- resp
			}
		} // else: the answer to a call that gave up, or to a nudge
		s.mu.Unlock()
		if mine == nil && ctx.Err() != nil {
			break
		}
	}

	stop()
	guardMu.Lock()
	left = true
	if guard != nil {
		guard.Stop()
	}
	guardMu.Unlock()

	s.mu.Lock()
	s.reading = false
	if mine == nil && s.err == nil {
		delete(s.pending, id) // ctx ended: this call gives up
	}
	pass := s.err == nil && s.othersWaiting(id)
	s.mu.Unlock()
	if pass {
		s.signalHandover()
	}
	return mine
}

// othersWaiting: calls other than id wait for answers. s.mu is held.
func (s *conn) othersWaiting(id uint64) bool {
	n := len(s.pending)
	if _, ok := s.pending[id]; ok {
		n--
	}
	return n > 0
}

// nudge sends an empty call, which the plugin answers at once with an
// error nobody waits for: a reader blocked in Recv gets a message.
func (s *conn) nudge() {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.nextID++
	id := s.nextID
	s.mu.Unlock()
	s.sendMu.Lock()
	_ = s.stream.Send(&scmv1.WebhookSessionRequest{Id: id})
	s.sendMu.Unlock()
}

// signalHandover wakes one waiting caller to take the reading over.
func (s *conn) signalHandover() {
	select {
	case s.handover <- struct{}{}:
	default: // a hand-over is already signalled
	}
}

func (s *conn) forget(id uint64) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

// fail ends the session with err (the first failure wins): every waiting
// call gets err, and the stream is cancelled.
func (s *conn) fail(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	for id, ch := range s.pending {
		close(ch)
		delete(s.pending, id)
	}
	s.mu.Unlock()
	s.cancel()
}

func (s *conn) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// streamFailure is what the calls on a stream that failed with err get:
// Unavailable, as for a unary call to a plugin that went away, keeping the
// launcher's reason when it gave one. Unimplemented (the plugin does not
// serve WebhookSession) stays, so the caller can use the unary RPCs.
func streamFailure(err error) error {
	if errors.Is(err, io.EOF) {
		return scmerr.New(codes.Unavailable, scmerr.ReasonPluginUnavailable,
			"the plugin ended its webhook session before answering (restarting or shutting down); retry")
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.Unimplemented:
			return err
		}
		return scmerr.Newf(codes.Unavailable, scmerr.ReasonPluginUnavailable,
			"the webhook session with the plugin failed (%s: %s); retry", st.Code(), st.Message())
	}
	return scmerr.Newf(codes.Unavailable, scmerr.ReasonPluginUnavailable,
		"the webhook session with the plugin failed (%v); retry", err)
}

// answerError turns an answer that is not the wanted result into the error
// the unary call would return.
func answerError(resp *scmv1.WebhookSessionResponse, want string) error {
	r, ok := resp.GetResult().(*scmv1.WebhookSessionResponse_Error)
	if !ok {
		return scmerr.Newf(codes.Internal, scmerr.ReasonInternal,
			"the plugin answered webhook session call %d with %T, want %s (a bug in the plugin)", resp.GetId(), resp.GetResult(), want)
	}
	var st spb.Status
	if err := proto.Unmarshal(r.Error, &st); err != nil {
		return scmerr.Newf(codes.Internal, scmerr.ReasonInternal,
			"the plugin answered webhook session call %d with an error that is not a google.rpc.Status (%v): a bug in the plugin", resp.GetId(), err)
	}
	if codes.Code(st.GetCode()) == codes.OK {
		return scmerr.Newf(codes.Internal, scmerr.ReasonInternal,
			"the plugin answered webhook session call %d with an error of code OK (a bug in the plugin)", resp.GetId())
	}
	return status.ErrorProto(&st)
}

// checkUTF8 refuses, as a unary call's marshalling would, a request whose
// strings are not UTF-8. Sent over the stream, such a request would end it
// for every call in flight (gRPC finishes a stream on a local send error).
func checkUTF8(msg *scmv1.WebhookSessionRequest) error {
	var d *scmv1.WebhookDelivery
	var strs []string
	switch call := msg.GetCall().(type) {
	case *scmv1.WebhookSessionRequest_Identify:
		d = call.Identify.GetDelivery()
	case *scmv1.WebhookSessionRequest_Verify:
		d = call.Verify.GetDelivery()
		strs = []string{call.Verify.GetSecret(), call.Verify.GetRepositoryExternalId(), call.Verify.GetSecretRef()}
	case *scmv1.WebhookSessionRequest_Receive:
		d = call.Receive.GetDelivery()
	}
	ok := true
	for k, v := range d.GetHeaders() {
		ok = ok && utf8.ValidString(k) && utf8.ValidString(v)
	}
	for _, v := range strs {
		ok = ok && utf8.ValidString(v)
	}
	if ok {
		return nil
	}
	_, err := proto.Marshal(msg)
	if err == nil {
		return nil
	}
	// The marshalling error names the field, never its value.
	return status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err)
}
