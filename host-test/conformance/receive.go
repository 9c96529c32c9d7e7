package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// receiveCases: the WebhookSession's receive call. A host trusts a receive
// answer's verified once its secret_ref names the repository's current
// secret, so a session that answers verified for a delivery that did not
// verify, with a ref it was not given for that repository, or with a secret
// learnt from a failed verify, lets a forged delivery build. Each case drives
// real session streams call by call: a call is sent once the one before it
// is answered, so what the session holds is what those calls left.
func receiveCases() []testCase {
	session := []scmv1.Capability{scmv1.Capability_CAPABILITY_WEBHOOK_SESSION}
	return []testCase{
		{name: "webhook_session/receive-before-verify", needs: session, run: caseReceiveBeforeVerify},
		{name: "webhook_session/receive-after-verify", needs: session, run: caseReceiveAfterVerify},
		{name: "webhook_session/failed-verify-learns-nothing", needs: session, run: caseReceiveFailedVerify},
		{name: "webhook_session/receive-forged-unverified", needs: session, run: caseReceiveForged},
		{name: "webhook_session/receive-other-repository-unverified", needs: session, run: caseReceiveOtherRepository},
		{name: "webhook_session/new-session-holds-nothing", needs: session, run: caseReceiveNewSession},
		{name: "webhook_session/empty-call-invalid-argument", needs: session, run: caseSessionEmptyCall},
		{name: "webhook_session/secret-stays-in-session", needs: session, run: caseSessionSecretStays},
	}
}

// liveSession is one WebhookSession stream that a case drives one call at a
// time. Every answer must carry its request's id, and its bytes are searched
// for the secrets the suite handed out.
type liveSession struct {
	c      *C
	name   string // "session 1", in reports
	stream scmv1.ProviderService_WebhookSessionClient
	cancel context.CancelFunc
	next   uint64
}

// openSession opens a stream; the case's end closes it.
func (c *C) openSession(name string) *liveSession {
	ctx, cancel := context.WithCancel(c.ctx)
	stream, err := c.s.client.WebhookSession(ctx)
	if err != nil {
		cancel()
		c.Fatalf("%s: WebhookSession could not be opened: %s", name, c.redact(err.Error()))
	}
	s := &liveSession{c: c, name: name, stream: stream, cancel: cancel, next: 1000}
	c.Cleanup(s.close)
	return s
}

// close ends the stream as a host does: it closes its side, then drops it.
func (s *liveSession) close() {
	_ = s.stream.CloseSend()
	s.cancel()
}

// call sends req (with the next id) and waits for its answer. A stream that
// fails, or an answer with another id, ends the case: the calls after it
// would test nothing.
func (s *liveSession) call(what string, req *scmv1.WebhookSessionRequest) *scmv1.WebhookSessionResponse {
	c := s.c
	s.next++
	req.Id = s.next
	what = s.name + ": " + what
	if err := s.stream.Send(req); err != nil {
		c.Fatalf("%s: the stream failed while sending: %s", what, c.redact(err.Error()))
	}
	resp, err := s.stream.Recv()
	if err != nil {
		c.Fatalf("%s: the stream failed instead of answering: %s", what, c.redact(err.Error()))
	}
	if resp.GetId() != req.GetId() {
		c.Fatalf("%s: answered id %d, want %d (one call was in flight)", what, resp.GetId(), req.GetId())
	}
	raw, err := proto.Marshal(resp)
	if err != nil {
		c.Fatalf("%s: the answer does not marshal: %v", what, err)
	}
	c.clean(what+"'s answer bytes", string(raw))
	c.noSecret(what+"'s error", sessionError(resp))
	return resp
}

// verify is a verify call with a secret_ref; the error is the session's
// error answer.
func (s *liveSession) verify(what string, d *scmv1.WebhookDelivery, secret, repo, ref string) (*scmv1.VerifyWebhookResponse, error) {
	resp := s.call(what, &scmv1.WebhookSessionRequest{Call: &scmv1.WebhookSessionRequest_Verify{Verify: &scmv1.VerifyWebhookRequest{
		Delivery: d, Secret: secret, RepositoryExternalId: repo, SecretRef: ref}}})
	if err := sessionError(resp); err != nil {
		return nil, err
	}
	if resp.GetVerify() == nil {
		s.c.Fatalf("%s: %s answered something else than a verify: %v", s.name, what, resp.GetResult())
	}
	return resp.GetVerify(), nil
}

// learn is a verify call with the genuine delivery and its secret, which
// must succeed: afterwards the session holds the secret under ref.
func (s *liveSession) learn(w *Webhook, ref string) *scmv1.VerifyWebhookResponse {
	v, err := s.verify("verify of the genuine delivery with its secret and secret_ref "+strconv.Quote(ref), w.Delivery, w.Secret, w.RepositoryExternalID, ref)
	if !s.c.ok(s.name+": verify of the genuine delivery with its secret", err) {
		s.c.Fatalf("%s: the session learnt no secret, so the receive calls after it would test nothing", s.name)
	}
	return v
}

// receive is a receive call that must answer, with the identity
// IdentifyWebhook answers for d.
func (s *liveSession) receive(what string, d *scmv1.WebhookDelivery) *scmv1.ReceiveWebhookResponse {
	c := s.c
	resp := s.call(what, &scmv1.WebhookSessionRequest{Call: &scmv1.WebhookSessionRequest_Receive{Receive: &scmv1.ReceiveWebhookRequest{Delivery: d}}})
	if !c.ok(s.name+": "+what, sessionError(resp)) {
		c.Fatalf("%s: %s must answer (identity, verified or not) for a delivery IdentifyWebhook reads", s.name, what)
	}
	r := resp.GetReceive()
	if r == nil {
		c.Fatalf("%s: %s answered something else than a receive: %v", s.name, what, resp.GetResult())
	}
	want, err := c.identify(d)
	switch {
	case err != nil:
		c.Errorf("%s: IdentifyWebhook of the delivery %s received failed: %s", s.name, what, describe(err))
	case !proto.Equal(r.GetIdentity(), want):
		c.Errorf("%s: %s answered identity {%v}, want what IdentifyWebhook answers: {%v}", s.name, what, r.GetIdentity(), want)
	}
	return r
}

// unverified records a problem when a receive answer is verified: why says
// what the delivery is and why it must not be.
func (c *C) unverified(what string, r *scmv1.ReceiveWebhookResponse, why string) {
	if r.GetVerified() != nil || r.GetSecretRef() != "" {
		c.Errorf("%s answered verified (secret_ref %q), want verified unset: %s; a host that finds the ref current builds it", what, r.GetSecretRef(), why)
	}
}

// verifiedWith records a problem unless a receive answer is verified, equal
// to want (VerifyWebhook's answer for the same delivery), with secret_ref ref.
func (c *C) verifiedWith(what string, r *scmv1.ReceiveWebhookResponse, want *scmv1.VerifyWebhookResponse, ref string) {
	switch {
	case r.GetVerified() == nil:
		c.Errorf("%s answered verified unset (secret_ref %q), want verified with secret_ref %q: the session should hold the secret a successful verify gave it", what, r.GetSecretRef(), ref)
	case r.GetSecretRef() != ref:
		c.Errorf("%s answered secret_ref %q, want %q: the ref of the secret the session learnt from its last successful verify", what, r.GetSecretRef(), ref)
	}
	if r.GetVerified() != nil && !proto.Equal(r.GetVerified(), want) {
		c.Errorf("%s answered verified {%v}, want what VerifyWebhook answers: {%v}", what, r.GetVerified(), want)
	}
}

// ref is a fresh secret_ref: an opaque name the host gives a secret's value.
func ref(n int) string { return "conformance-ref-" + strconv.Itoa(n) + "-" + randomHex(4) }

// caseReceiveBeforeVerify: a session that was given no secret answers
// receive with the identity only.
func caseReceiveBeforeVerify(c *C) {
	w := c.webhook()
	s := c.openSession("session 1")
	r := s.receive("receive of the genuine delivery before any verify", w.Delivery)
	c.unverified("receive of the genuine delivery before any verify", r, "the session was given no secret")
}

// caseReceiveAfterVerify: after a verify with the right secret and a
// secret_ref, receive of the same delivery answers verified, equal to
// VerifyWebhook's answer, with that ref.
func caseReceiveAfterVerify(c *C) {
	w := c.webhook()
	unary, err := c.verify(w.Delivery, w.Secret, w.RepositoryExternalID)
	if !c.ok("VerifyWebhook of the genuine delivery", err) {
		return
	}
	s := c.openSession("session 1")
	r1 := ref(1)
	v := s.learn(w, r1)
	c.checkVerified("session 1: the verify with secret_ref", w, v)
	if !proto.Equal(v, unary) {
		c.Errorf("session 1: the verify with secret_ref answered {%v}, want what VerifyWebhook answers: {%v}", v, unary)
	}
	r := s.receive("receive of the genuine delivery after the verify", w.Delivery)
	c.verifiedWith("session 1: receive of the genuine delivery after the verify", r, unary, r1)
}

// caseReceiveFailedVerify: a verify with a wrong secret is Unauthenticated
// and leaves the session as it was: the secret of the last successful
// verify stays, and a session that had none still has none.
func caseReceiveFailedVerify(c *C) {
	w := c.webhook()
	wrong := "wrong-" + randomHex(12)
	c.s.secrets.add("a wrong webhook secret", wrong)
	unary, err := c.verify(w.Delivery, w.Secret, w.RepositoryExternalID)
	if !c.ok("VerifyWebhook of the genuine delivery", err) {
		return
	}

	s := c.openSession("session 1")
	good, bad := ref(1), ref(2)
	s.learn(w, good)
	_, err = s.verify("verify with a wrong secret and secret_ref "+strconv.Quote(bad), w.Delivery, wrong, w.RepositoryExternalID, bad)
	c.code("session 1: verify of the genuine delivery with a wrong secret", err, codes.Unauthenticated)
	r := s.receive("receive of the genuine delivery after a failed verify", w.Delivery)
	c.verifiedWith("session 1: receive of the genuine delivery after a verify with a wrong secret failed", r, unary, good)
	if w.OtherRepositoryExternalID != "" {
		swapped := ref(4)
		_, err = s.verify("verify for another repository with secret_ref "+strconv.Quote(swapped), w.Delivery, w.Secret, w.OtherRepositoryExternalID, swapped)
		c.code("session 1: verify of the genuine delivery for another repository", err, codes.PermissionDenied)
		r = s.receive("receive of the genuine delivery after a verify for another repository", w.Delivery)
		c.verifiedWith("session 1: receive of the genuine delivery after a verify for another repository failed", r, unary, good)
	}

	fresh := c.openSession("session 2")
	bad2 := ref(3)
	_, err = fresh.verify("verify with a wrong secret and secret_ref "+strconv.Quote(bad2), w.Delivery, wrong, w.RepositoryExternalID, bad2)
	c.code("session 2: verify of the genuine delivery with a wrong secret", err, codes.Unauthenticated)
	r = fresh.receive("receive of the genuine delivery after only a failed verify", w.Delivery)
	c.unverified("session 2: receive of the genuine delivery after only a failed verify", r, "the session's only verify failed, so it learnt no secret")
}

// caseReceiveForged: a delivery made with another secret is not verified by
// the secret the session holds for its repository.
func caseReceiveForged(c *C) {
	w := c.webhook()
	if w.Forged == nil {
		c.Skipf("the backend's Webhook has no forged delivery")
	}
	unary, err := c.verify(w.Delivery, w.Secret, w.RepositoryExternalID)
	if !c.ok("VerifyWebhook of the genuine delivery", err) {
		return
	}
	s := c.openSession("session 1")
	r1 := ref(1)
	s.learn(w, r1)
	r := s.receive("receive of the forged delivery", w.Forged)
	if r.GetIdentity().GetRepositoryExternalId() != w.RepositoryExternalID {
		c.Errorf("session 1: receive of the forged delivery names repository %q, want %q", r.GetIdentity().GetRepositoryExternalId(), w.RepositoryExternalID)
	}
	c.unverified("session 1: receive of the forged delivery", r, "it was made with another secret than the one the session holds")
	// The session did hold the secret: the genuine delivery still verifies.
	r = s.receive("receive of the genuine delivery after the forged one", w.Delivery)
	c.verifiedWith("session 1: receive of the genuine delivery after the forged one", r, unary, r1)
}

// caseReceiveOtherRepository: the genuine delivery altered to name another
// repository is not verified: the session holds a secret for the delivery's
// repository only, and must not try it on another (for a token delivery the
// altered body carries the right token, so only that keeps it out).
func caseReceiveOtherRepository(c *C) {
	w := c.webhook()
	if w.OtherRepositoryExternalID == "" {
		c.Skipf("the backend's Webhook names no other repository")
	}
	other, ok := retarget(w.Delivery, w.RepositoryExternalID, w.OtherRepositoryExternalID)
	if !ok {
		c.Skipf("the genuine delivery's body is not JSON holding repository id %q, so the suite cannot make it name another repository", w.RepositoryExternalID)
	}
	id, err := c.identify(other)
	switch {
	case err != nil:
		c.Skipf("IdentifyWebhook refused the delivery altered to name repository %q (%s), so it cannot be received", w.OtherRepositoryExternalID, describe(err))
	case id.GetRepositoryExternalId() != w.OtherRepositoryExternalID:
		c.Skipf("the delivery altered to name repository %q still identifies as %q: the suite could not retarget it", w.OtherRepositoryExternalID, id.GetRepositoryExternalId())
	}
	unary, err := c.verify(w.Delivery, w.Secret, w.RepositoryExternalID)
	if !c.ok("VerifyWebhook of the genuine delivery", err) {
		return
	}
	_, err = c.verify(other, w.Secret, w.OtherRepositoryExternalID)
	c.Logf("VerifyWebhook of the altered delivery with the secret of %s for repository %s answers %s", w.RepositoryExternalID, w.OtherRepositoryExternalID, describe(err))

	s := c.openSession("session 1")
	r1 := ref(1)
	s.learn(w, r1)
	what := "receive of the genuine delivery altered to name repository " + strconv.Quote(w.OtherRepositoryExternalID)
	r := s.receive(what, other)
	c.unverified("session 1: "+what, r, "the session holds a secret for repository "+strconv.Quote(w.RepositoryExternalID)+" only")
	r = s.receive("receive of the genuine delivery after the altered one", w.Delivery)
	c.verifiedWith("session 1: receive of the genuine delivery after the altered one", r, unary, r1)
}

// caseReceiveNewSession: what one session learnt is its own: another stream,
// open at the same time or opened later, holds nothing.
func caseReceiveNewSession(c *C) {
	w := c.webhook()
	unary, err := c.verify(w.Delivery, w.Secret, w.RepositoryExternalID)
	if !c.ok("VerifyWebhook of the genuine delivery", err) {
		return
	}
	first := c.openSession("session 1")
	r1 := ref(1)
	first.learn(w, r1)
	second := c.openSession("session 2")
	r := second.receive("receive of the genuine delivery", w.Delivery)
	c.unverified("session 2 (open beside session 1, which learnt the secret): receive of the genuine delivery", r, "a session holds only what its own verify calls gave it")
	r = first.receive("receive of the genuine delivery", w.Delivery)
	c.verifiedWith("session 1: receive of the genuine delivery", r, unary, r1)
	first.close()
	third := c.openSession("session 3")
	r = third.receive("receive of the genuine delivery", w.Delivery)
	c.unverified("session 3 (opened after session 1 ended): receive of the genuine delivery", r, "a session holds only what its own verify calls gave it")
}

// caseSessionEmptyCall: a request with no call is answered InvalidArgument,
// naming the field, and the session goes on serving every kind of call.
func caseSessionEmptyCall(c *C) {
	w := c.webhook()
	unary, err := c.verify(w.Delivery, w.Secret, w.RepositoryExternalID)
	if !c.ok("VerifyWebhook of the genuine delivery", err) {
		return
	}
	s := c.openSession("session 1")
	resp := s.call("a request with no call", &scmv1.WebhookSessionRequest{})
	c.code("session 1: a request with no call", sessionError(resp), codes.InvalidArgument)
	resp = s.call("identify of the genuine delivery after the empty call", &scmv1.WebhookSessionRequest{Call: &scmv1.WebhookSessionRequest_Identify{Identify: &scmv1.IdentifyWebhookRequest{Delivery: w.Delivery}}})
	if c.ok("session 1: identify of the genuine delivery after the empty call", sessionError(resp)) &&
		resp.GetIdentify().GetRepositoryExternalId() != w.RepositoryExternalID {
		c.Errorf("session 1: identify after the empty call names repository %q, want %q", resp.GetIdentify().GetRepositoryExternalId(), w.RepositoryExternalID)
	}
	r1 := ref(1)
	s.learn(w, r1)
	r := s.receive("receive of the genuine delivery after the empty call", w.Delivery)
	c.verifiedWith("session 1: receive of the genuine delivery after the empty call and a verify", r, unary, r1)
}

// caseSessionSecretStays: a session that learns, fails, receives and refuses
// never puts the secret in an answer (every answer's bytes are searched) nor
// in a log line written during the case. logs/no-secrets searches the whole
// log again at the end, for lines that arrive late.
func caseSessionSecretStays(c *C) {
	w := c.webhook()
	wrong := "wrong-" + randomHex(12)
	c.s.secrets.add("a wrong webhook secret", wrong)
	before, _ := c.s.logs.String()
	s := c.openSession("session 1")
	s.learn(w, ref(1))
	_, _ = s.verify("verify with a wrong secret", w.Delivery, wrong, w.RepositoryExternalID, ref(2))
	s.receive("receive of the genuine delivery", w.Delivery)
	if w.Forged != nil {
		s.receive("receive of the forged delivery", w.Forged)
	}
	trunc := proto.Clone(w.Delivery).(*scmv1.WebhookDelivery)
	trunc.Body = trunc.Body[:len(trunc.Body)/2]
	resp := s.call("receive of the genuine delivery with half its body", &scmv1.WebhookSessionRequest{Call: &scmv1.WebhookSessionRequest_Receive{Receive: &scmv1.ReceiveWebhookRequest{Delivery: trunc}}})
	c.Logf("receive of the genuine delivery with half its body: %s", describe(sessionError(resp)))
	s.close()
	after, _ := c.s.logs.String()
	if len(after) >= len(before) {
		if found, ok := c.s.secrets.find(after[len(before):]); ok {
			c.Errorf("the plugin logged a secret during the session: %s", found)
		}
	}
}

// retarget is d with every JSON value of its body equal to from (a string,
// or a number spelt the same) replaced by to, headers unchanged: the
// delivery as someone who holds from's token would send it about
// repository to. ok is false when the body is not JSON or holds no such
// value.
func retarget(d *scmv1.WebhookDelivery, from, to string) (*scmv1.WebhookDelivery, bool) {
	dec := json.NewDecoder(bytes.NewReader(d.GetBody()))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	replaced := 0
	var walk func(any) any
	walk = func(x any) any {
		switch x := x.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		case string:
			if x == from {
				replaced++
				return to
			}
		case json.Number:
			if x.String() == from {
				replaced++
				if _, err := strconv.ParseFloat(to, 64); err == nil {
					return json.Number(to)
				}
				return to
			}
		}
		return x
	}
	v = walk(v)
	if replaced == 0 {
		return nil, false
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, false
	}
	out := proto.Clone(d).(*scmv1.WebhookDelivery)
	out.Body = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return out, true
}
