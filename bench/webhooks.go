package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	gl "gitlab.com/gitlab-org/api/client-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/oore-ci/oore-scm-gitlab/bench/internal/peerplugin"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// webhookPaths are the ways one delivery can be verified, each an op.
type webhookPaths struct {
	hook *webhook
	req  *scmv1.VerifyWebhookRequest

	floor  op // raw Unix-socket round trip of the same sizes
	inproc op // the provider's VerifyWebhook, called in-process
	// inprocIDV is the provider's IdentifyWebhook then VerifyWebhook,
	// in-process: the provider's work in one receive call.
	inprocIDV op
	clientgo  op // client-go's ParseWebhook of the same payload
	unary     op // VerifyWebhook through the plugin process, one unary call
	session   op // one verify call over the WebhookSession stream (nil: not served)
	// receive is what a host's intake sends for a delivery in steady state:
	// one receive call over a session that learnt the repository's secret
	// (nil: receive not served).
	receive op
	// firstDelivery is what it sends for a repository's first delivery in
	// a session: receive, which answers identity only, then verify over the
	// same session (nil: receive not served).
	firstDelivery op
	peer          op // the Woodpecker-addon-style peer plugin

	// reqSize and respSize are the sizes of the verify request and
	// answer, for the floor.
	reqSize, respSize int
	// pids are the processes each path runs in besides this one.
	pids struct{ echo, plugin, peer int }
}

// errNotServed marks a capability the plugin does not serve yet.
var errNotServed = errors.New("not served by the plugin yet")

// newWebhookPaths checks that every path answers the delivery, and answers
// it alike, and returns the ops.
func newWebhookPaths(ctx context.Context, h *webhook, rig *webhookRig) (*webhookPaths, error) {
	prov, plug := rig.prov, rig.plug
	req := h.request()
	w := &webhookPaths{hook: h, req: req}
	want, err := prov.VerifyWebhook(ctx, req)
	if status.Code(err) == codes.Unimplemented {
		return nil, fmt.Errorf("VerifyWebhook: %w", errNotServed)
	}
	if err != nil {
		return nil, fmt.Errorf("verify a %d-commit push in-process: %w", h.commits, err)
	}
	if n := len(want.GetEvents()); n != 1 || want.GetEvents()[0].GetPush() == nil {
		return nil, fmt.Errorf("verify a %d-commit push in-process: %d events, want one push", h.commits, n)
	}
	idReq := &scmv1.IdentifyWebhookRequest{Delivery: req.GetDelivery()}
	wantID, err := prov.IdentifyWebhook(ctx, idReq)
	if err != nil {
		return nil, fmt.Errorf("identify a %d-commit push in-process: %w", h.commits, err)
	}
	if wantID.GetRepositoryExternalId() != h.projectID {
		return nil, fmt.Errorf("identify a %d-commit push in-process: repository %q, want %q", h.commits, wantID.GetRepositoryExternalId(), h.projectID)
	}
	w.inproc = func() error {
		_, err := prov.VerifyWebhook(ctx, req)
		return err
	}
	w.inprocIDV = func() error {
		if _, err := prov.IdentifyWebhook(ctx, idReq); err != nil {
			return err
		}
		_, err := prov.VerifyWebhook(ctx, req)
		return err
	}
	eventType := gl.EventType(h.header.Get("X-Gitlab-Event"))
	w.clientgo = func() error {
		_, err := gl.ParseWebhook(eventType, h.body)
		return err
	}

	client := plug.Provider()
	got, err := client.VerifyWebhook(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("verify a %d-commit push through the plugin: %w", h.commits, err)
	}
	if !proto.Equal(got, want) {
		return nil, fmt.Errorf("verify a %d-commit push: the plugin's answer differs from the in-process one", h.commits)
	}
	w.unary = func() error {
		_, err := client.VerifyWebhook(ctx, req)
		return err
	}
	if sess := rig.sess; sess != nil {
		got, err := sess.Verify(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("verify a %d-commit push over a webhook session: %w", h.commits, err)
		}
		if !proto.Equal(got, want) {
			return nil, fmt.Errorf("verify a %d-commit push: the session's answer differs from the in-process one", h.commits)
		}
		w.session = func() error {
			_, err := sess.Verify(ctx, req)
			return err
		}
		if err := w.receivePaths(ctx, rig, want, wantID); err != nil {
			return nil, err
		}
	}

	pres, err := rig.peer.Hook(ctx, h.header, h.body, h.secret, h.projectID)
	if err != nil {
		return nil, fmt.Errorf("verify a %d-commit push through the peer plugin: %w", h.commits, err)
	}
	if err := samePush(want, pres); err != nil {
		return nil, fmt.Errorf("a %d-commit push: the peer plugin and ours disagree: %w", h.commits, err)
	}
	w.peer = func() error {
		_, err := rig.peer.Hook(ctx, h.header, h.body, h.secret, h.projectID)
		return err
	}

	w.reqSize, w.respSize = proto.Size(req), proto.Size(want)
	conn, err := rig.floor.dial(w.reqSize, w.respSize)
	if err != nil {
		return nil, err
	}
	w.floor = conn.roundTrip
	w.pids.echo, w.pids.plugin, w.pids.peer = rig.floor.cmd.Process.Pid, plug.Pid(), rig.peer.Pid()
	return w, nil
}

// receivePaths checks and sets the two receive paths: a repository's first
// delivery in a session (over rig.fresh, which holds no secret) and a
// delivery in steady state (over rig.sess, after it learnt the secret with
// one verify call and a secret_ref). They stay nil when the plugin's
// session does not know receive.
func (w *webhookPaths) receivePaths(ctx context.Context, rig *webhookRig, want *scmv1.VerifyWebhookResponse, wantID *scmv1.IdentifyWebhookResponse) error {
	h, req := w.hook, w.req
	rreq := &scmv1.ReceiveWebhookRequest{Delivery: req.GetDelivery()}
	got, err := rig.fresh.Receive(ctx, rreq)
	if err != nil && receiveRefused(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("receive a %d-commit push over a session without its secret: %w", h.commits, err)
	}
	if !proto.Equal(got.GetIdentity(), wantID) || got.GetVerified() != nil || got.GetSecretRef() != "" {
		return fmt.Errorf("receive a %d-commit push over a session without its secret: verified=%v secret_ref=%q, identity equal to the in-process one: %v; want that identity only",
			h.commits, got.GetVerified() != nil, got.GetSecretRef(), proto.Equal(got.GetIdentity(), wantID))
	}
	// The fallback verify carries no secret_ref here, so this session never
	// learns the secret and every round measures a first delivery. (A host
	// sends one; the plugin then only stores the secret in its table.)
	v, err := rig.fresh.Verify(ctx, req)
	if err != nil {
		return fmt.Errorf("verify a %d-commit push after its receive: %w", h.commits, err)
	}
	if !proto.Equal(v, want) {
		return fmt.Errorf("verify a %d-commit push after its receive: the session's answer differs from the in-process one", h.commits)
	}
	fresh := rig.fresh
	w.firstDelivery = func() error {
		r, err := fresh.Receive(ctx, rreq)
		if err != nil {
			return err
		}
		if r.GetVerified() != nil {
			return fmt.Errorf("receive of a %d-commit push over the session without its secret answered verified: it is no first delivery", h.commits)
		}
		_, err = fresh.Verify(ctx, req)
		return err
	}

	if err := learnSecret(ctx, rig.sess, h, want); err != nil {
		return err
	}
	if got, err = rig.sess.Receive(ctx, rreq); err != nil {
		return fmt.Errorf("receive a %d-commit push over a session holding its secret: %w", h.commits, err)
	}
	switch {
	case !proto.Equal(got.GetIdentity(), wantID):
		return fmt.Errorf("receive a %d-commit push: the identity differs from the in-process IdentifyWebhook answer", h.commits)
	case got.GetVerified() == nil:
		return fmt.Errorf("receive a %d-commit push over a session that learnt its secret answered unverified", h.commits)
	case !proto.Equal(got.GetVerified(), want):
		return fmt.Errorf("receive a %d-commit push: verified differs from the in-process VerifyWebhook answer", h.commits)
	case got.GetSecretRef() != secretRef(h):
		return fmt.Errorf("receive a %d-commit push: secret_ref %q, want %q (the one given)", h.commits, got.GetSecretRef(), secretRef(h))
	}
	w.receive = receiveOp(ctx, rig.sess, h)
	return nil
}

// samePush checks that the peer did the work ours did: the same delivery,
// push and commits.
func samePush(ours *scmv1.VerifyWebhookResponse, peer *peerplugin.Result) error {
	if len(peer.Events) != 1 || peer.Events[0].Push == nil {
		return fmt.Errorf("peer normalised %d events, want one push", len(peer.Events))
	}
	o, p := ours.GetEvents()[0], peer.Events[0]
	op, pp := o.GetPush(), p.Push
	for _, c := range []struct{ what, ours, peer string }{
		{"delivery id", ours.GetDeliveryId(), peer.DeliveryID},
		{"repository", o.GetRepositoryExternalId(), p.RepositoryExternalID},
		{"full name", o.GetRepositoryFullName(), p.RepositoryFullName},
		{"branch", op.GetBranch(), pp.Branch},
		{"checkout sha", op.GetCheckoutSha(), pp.CheckoutSHA},
		{"commit count", strconv.FormatInt(op.GetCommitCount(), 10), strconv.FormatInt(pp.CommitCount, 10)},
		{"commits listed", strconv.Itoa(len(op.GetCommits())), strconv.Itoa(len(pp.Commits))},
	} {
		if c.ours != c.peer {
			return fmt.Errorf("%s: ours %q, peer %q", c.what, c.ours, c.peer)
		}
	}
	for i, c := range op.GetCommits() {
		if c.GetSha() != pp.Commits[i].SHA || c.GetTimestamp() != pp.Commits[i].Timestamp {
			return fmt.Errorf("commit %d: ours %s@%d, peer %s@%d", i, c.GetSha(), c.GetTimestamp(), pp.Commits[i].SHA, pp.Commits[i].Timestamp)
		}
	}
	return nil
}

// intakePath is the path a host's intake takes for a delivery in steady
// state, with its in-process baseline: one receive call against identify +
// verify in-process; for a plugin that does not serve receive (a build to
// compare from before it), a verify call, over the session if served,
// against verify in-process.
func (w *webhookPaths) intakePath() (path, inproc op) {
	switch {
	case w.receive != nil:
		return w.receive, w.inprocIDV
	case w.session != nil:
		return w.session, w.inproc
	}
	return w.unary, w.inproc
}
