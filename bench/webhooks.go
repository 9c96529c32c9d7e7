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
	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/webhooksession"
)

// webhookPaths are the ways one delivery can be verified, each an op.
type webhookPaths struct {
	hook *webhook
	req  *scmv1.VerifyWebhookRequest

	floor    op // raw Unix-socket round trip of the same sizes
	inproc   op // the provider's VerifyWebhook, called in-process
	clientgo op // client-go's ParseWebhook of the same payload
	unary    op // VerifyWebhook through the plugin process, one unary call
	session  op // the same over the WebhookSession stream (nil: not served)
	// identifyVerify is what a host's intake sends: IdentifyWebhook, then
	// VerifyWebhook, over the session (unary without one).
	identifyVerify op
	peer           op // the Woodpecker-addon-style peer plugin

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
func newWebhookPaths(ctx context.Context, h *webhook, prov *gitlab.Provider, plug *launcher.Plugin, sess *webhooksession.Client, peer *peerplugin.Client, floor *echoServer) (*webhookPaths, error) {
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
	w.inproc = func() error {
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
	if sess != nil {
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
	}
	idReq := &scmv1.IdentifyWebhookRequest{Delivery: req.GetDelivery()}
	id, err := client.IdentifyWebhook(ctx, idReq)
	if err != nil {
		return nil, fmt.Errorf("identify a %d-commit push through the plugin: %w", h.commits, err)
	}
	if id.GetRepositoryExternalId() != h.projectID {
		return nil, fmt.Errorf("identify a %d-commit push: repository %q, want %q", h.commits, id.GetRepositoryExternalId(), h.projectID)
	}
	w.identifyVerify = func() error {
		if _, err := client.IdentifyWebhook(ctx, idReq); err != nil {
			return err
		}
		_, err := client.VerifyWebhook(ctx, req)
		return err
	}
	if sess != nil {
		w.identifyVerify = func() error {
			if _, err := sess.Identify(ctx, idReq); err != nil {
				return err
			}
			_, err := sess.Verify(ctx, req)
			return err
		}
	}

	pres, err := peer.Hook(ctx, h.header, h.body, h.secret, h.projectID)
	if err != nil {
		return nil, fmt.Errorf("verify a %d-commit push through the peer plugin: %w", h.commits, err)
	}
	if err := samePush(want, pres); err != nil {
		return nil, fmt.Errorf("a %d-commit push: the peer plugin and ours disagree: %w", h.commits, err)
	}
	w.peer = func() error {
		_, err := peer.Hook(ctx, h.header, h.body, h.secret, h.projectID)
		return err
	}

	w.reqSize, w.respSize = proto.Size(req), proto.Size(want)
	conn, err := floor.dial(w.reqSize, w.respSize)
	if err != nil {
		return nil, err
	}
	w.floor = conn.roundTrip
	w.pids.echo, w.pids.plugin, w.pids.peer = floor.cmd.Process.Pid, plug.Pid(), peer.Pid()
	return w, nil
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
