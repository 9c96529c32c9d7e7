package conformance

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// webhookCases: IdentifyWebhook, VerifyWebhook and WebhookSession (its
// receive calls in receive.go).
func webhookCases() []testCase {
	hooks := []scmv1.Capability{scmv1.Capability_CAPABILITY_WEBHOOKS}
	return append([]testCase{
		{name: "webhooks/genuine-delivery-verifies", needs: hooks, run: caseWebhookGenuine},
		{name: "webhooks/wrong-secret", needs: hooks, run: caseWebhookWrongSecret},
		{name: "webhooks/forged-delivery", needs: hooks, run: caseWebhookForged},
		{name: "webhooks/truncated-body", needs: hooks, run: caseWebhookTruncated},
		{name: "webhooks/swapped-repository", needs: hooks, run: caseWebhookSwapped},
		{name: "webhooks/unhandled-event-ignored", needs: hooks, run: caseWebhookUnhandled},
		{name: "webhooks/identify-never-trusts", needs: hooks, run: caseWebhookIdentifyUntrusted},
		{name: "webhooks/bad-input", needs: hooks, run: caseWebhookBadInput},
		{name: "webhook_session/identify-and-verify", needs: []scmv1.Capability{scmv1.Capability_CAPABILITY_WEBHOOK_SESSION}, run: caseWebhookSession},
	}, receiveCases()...)
}

func (c *C) verify(d *scmv1.WebhookDelivery, secret, repo string) (*scmv1.VerifyWebhookResponse, error) {
	resp, err := c.s.client.VerifyWebhook(c.ctx, &scmv1.VerifyWebhookRequest{Delivery: d, Secret: secret, RepositoryExternalId: repo})
	if err == nil {
		c.cleanMsg("VerifyWebhook's answer", resp)
	}
	return resp, err
}

func (c *C) identify(d *scmv1.WebhookDelivery) (*scmv1.IdentifyWebhookResponse, error) {
	resp, err := c.s.client.IdentifyWebhook(c.ctx, &scmv1.IdentifyWebhookRequest{Delivery: d})
	if err == nil {
		c.cleanMsg("IdentifyWebhook's answer", resp)
	}
	return resp, err
}

// checkVerified records what is wrong with the answer to a genuine delivery.
func (c *C) checkVerified(what string, w *Webhook, resp *scmv1.VerifyWebhookResponse) {
	if resp.GetDeliveryId() == "" {
		c.Errorf("%s: no delivery id (hosts deduplicate on it)", what)
	}
	if len(resp.GetEvents()) == 0 {
		c.Errorf("%s: no events (ignored_reason %q)", what, resp.GetIgnoredReason())
	}
	if w.Kind != scmv1.EventKind_EVENT_KIND_UNSPECIFIED && resp.GetEventKind() != w.Kind {
		c.Errorf("%s: event_kind %s, want %s", what, resp.GetEventKind(), w.Kind)
	}
	for i, e := range resp.GetEvents() {
		if e.GetRepositoryExternalId() != w.RepositoryExternalID {
			c.Errorf("%s: event %d is about repository %q, want %q", what, i, e.GetRepositoryExternalId(), w.RepositoryExternalID)
		}
		if w.Kind != scmv1.EventKind_EVENT_KIND_UNSPECIFIED && e.GetKind() != w.Kind {
			c.Errorf("%s: event %d is a %s, want %s", what, i, e.GetKind(), w.Kind)
		}
		var hasPayload bool
		switch e.GetKind() {
		case scmv1.EventKind_EVENT_KIND_PUSH:
			hasPayload = e.GetPush() != nil
		case scmv1.EventKind_EVENT_KIND_TAG_PUSH:
			hasPayload = e.GetTagPush() != nil
		case scmv1.EventKind_EVENT_KIND_MERGE_REQUEST:
			hasPayload = e.GetMergeRequest() != nil
		default:
			hasPayload = true
		}
		if !hasPayload {
			c.Errorf("%s: event %d is a %s without its payload", what, i, e.GetKind())
		}
	}
}

// caseWebhookGenuine: the genuine delivery verifies into its events, and
// IdentifyWebhook agrees on the repository, the event kind and the delivery id.
func caseWebhookGenuine(c *C) {
	w := c.webhook()
	resp, err := c.verify(w.Delivery, w.Secret, w.RepositoryExternalID)
	if !c.ok("VerifyWebhook of the genuine delivery", err) {
		return
	}
	c.checkVerified("VerifyWebhook of the genuine delivery", w, resp)
	id, err := c.identify(w.Delivery)
	if !c.ok("IdentifyWebhook of the genuine delivery", err) {
		return
	}
	if id.GetRepositoryExternalId() != w.RepositoryExternalID {
		c.Errorf("IdentifyWebhook names repository %q, want %q", id.GetRepositoryExternalId(), w.RepositoryExternalID)
	}
	if id.GetDeliveryId() != resp.GetDeliveryId() {
		c.Errorf("IdentifyWebhook's delivery id %q differs from VerifyWebhook's %q", id.GetDeliveryId(), resp.GetDeliveryId())
	}
	if id.GetEventKind() != resp.GetEventKind() {
		c.Errorf("IdentifyWebhook's event kind %s differs from VerifyWebhook's %s", id.GetEventKind(), resp.GetEventKind())
	}
	c.Logf("delivery %s: %d %s event(s)", resp.GetDeliveryId(), len(resp.GetEvents()), resp.GetEventKind())
}

// caseWebhookWrongSecret: the genuine delivery checked with another secret
// is Unauthenticated.
func caseWebhookWrongSecret(c *C) {
	w := c.webhook()
	wrong := "wrong-" + randomHex(12)
	c.s.secrets.add("a wrong webhook secret", wrong)
	_, err := c.verify(w.Delivery, wrong, w.RepositoryExternalID)
	c.code("VerifyWebhook of the genuine delivery with a wrong secret", err, codes.Unauthenticated)
	_, err = c.verify(w.Delivery, w.Secret+"x", w.RepositoryExternalID)
	c.code("VerifyWebhook of the genuine delivery with the secret plus one character", err, codes.Unauthenticated)
}

// caseWebhookForged: a delivery authenticated with another secret fails
// verification with the repository's secret.
func caseWebhookForged(c *C) {
	w := c.webhook()
	if w.Forged == nil {
		c.Skipf("the backend's Webhook has no forged delivery")
	}
	_, err := c.verify(w.Forged, w.Secret, w.RepositoryExternalID)
	c.code("VerifyWebhook of a delivery made with another secret", err, codes.Unauthenticated)
}

// caseWebhookTruncated: the genuine delivery with half its body is refused:
// Unauthenticated when a signature covers the body, InvalidArgument when the
// body no longer parses. Never OK.
func caseWebhookTruncated(c *C) {
	w := c.webhook()
	d := proto.Clone(w.Delivery).(*scmv1.WebhookDelivery)
	d.Body = d.Body[:len(d.Body)/2]
	_, err := c.verify(d, w.Secret, w.RepositoryExternalID)
	c.code("VerifyWebhook of the genuine delivery with half its body", err, codes.Unauthenticated, codes.InvalidArgument)
}

// caseWebhookSwapped: the genuine delivery checked for another repository is
// PermissionDenied: a delivery for one repository must not trigger another.
func caseWebhookSwapped(c *C) {
	w := c.webhook()
	if w.OtherRepositoryExternalID == "" {
		c.Skipf("the backend's Webhook names no other repository")
	}
	_, err := c.verify(w.Delivery, w.Secret, w.OtherRepositoryExternalID)
	c.code("VerifyWebhook of the genuine delivery for another repository", err, codes.PermissionDenied)
}

// caseWebhookUnhandled: an authentic event the provider does not normalise
// is answered OK, with no events and a reason.
func caseWebhookUnhandled(c *C) {
	w := c.webhook()
	if w.Unhandled == nil {
		c.Skipf("the backend's Webhook has no delivery of an unhandled event")
	}
	resp, err := c.verify(w.Unhandled, w.Secret, w.RepositoryExternalID)
	if !c.ok("VerifyWebhook of an authentic, unhandled event", err) {
		return
	}
	if len(resp.GetEvents()) > 0 {
		c.Errorf("VerifyWebhook normalised an unhandled event into %d events", len(resp.GetEvents()))
	}
	if resp.GetIgnoredReason() == "" {
		c.Errorf("VerifyWebhook ignored an unhandled event without saying why (ignored_reason)")
	}
	c.Logf("ignored: %s", resp.GetIgnoredReason())
}

// caseWebhookIdentifyUntrusted: IdentifyWebhook reads a forged delivery
// without judging it: it still names the repository, so the host can look
// up the secret that will then refuse it.
func caseWebhookIdentifyUntrusted(c *C) {
	w := c.webhook()
	if w.Forged == nil {
		c.Skipf("the backend's Webhook has no forged delivery")
	}
	id, err := c.identify(w.Forged)
	if !c.ok("IdentifyWebhook of a delivery made with another secret", err) {
		return
	}
	if id.GetRepositoryExternalId() != w.RepositoryExternalID {
		c.Errorf("IdentifyWebhook of the forged delivery names repository %q, want %q", id.GetRepositoryExternalId(), w.RepositoryExternalID)
	}
}

// caseWebhookBadInput: a missing delivery, secret or repository is
// InvalidArgument.
func caseWebhookBadInput(c *C) {
	w := c.webhook()
	_, err := c.verify(nil, w.Secret, w.RepositoryExternalID)
	c.code("VerifyWebhook without a delivery", err, codes.InvalidArgument)
	_, err = c.verify(w.Delivery, "", w.RepositoryExternalID)
	c.code("VerifyWebhook without a secret", err, codes.InvalidArgument)
	_, err = c.verify(w.Delivery, w.Secret, "")
	c.code("VerifyWebhook without a repository id", err, codes.InvalidArgument)
	_, err = c.identify(nil)
	c.code("IdentifyWebhook without a delivery", err, codes.InvalidArgument)
	_, err = c.identify(&scmv1.WebhookDelivery{Headers: w.Delivery.GetHeaders()})
	c.code("IdentifyWebhook of a delivery without a body", err, codes.InvalidArgument)
}

// caseWebhookSession: one session carries an identify, a verify and a
// verify with a wrong secret; each answer carries its request's id and
// equals what the unary RPC answers.
func caseWebhookSession(c *C) {
	w := c.webhook()
	wrong := "wrong-" + randomHex(12)
	c.s.secrets.add("a wrong webhook secret", wrong)
	resps, err := session(c.ctx, c.s.client,
		&scmv1.WebhookSessionRequest{Id: 7, Call: &scmv1.WebhookSessionRequest_Identify{Identify: &scmv1.IdentifyWebhookRequest{Delivery: w.Delivery}}},
		&scmv1.WebhookSessionRequest{Id: 8, Call: &scmv1.WebhookSessionRequest_Verify{Verify: &scmv1.VerifyWebhookRequest{Delivery: w.Delivery, Secret: w.Secret, RepositoryExternalId: w.RepositoryExternalID}}},
		&scmv1.WebhookSessionRequest{Id: 9, Call: &scmv1.WebhookSessionRequest_Verify{Verify: &scmv1.VerifyWebhookRequest{Delivery: w.Delivery, Secret: wrong, RepositoryExternalId: w.RepositoryExternalID}}},
	)
	if !c.ok("WebhookSession", err) {
		return
	}
	if len(resps) != 3 {
		c.Errorf("WebhookSession answered ids %v, want 7, 8 and 9", keys(resps))
	}
	if r := resps[7]; c.ok("the session's identify (id 7)", sessionError(r)) {
		c.cleanMsg("the session's identify", r)
		if r.GetIdentify().GetRepositoryExternalId() != w.RepositoryExternalID {
			c.Errorf("the session's identify names repository %q, want %q", r.GetIdentify().GetRepositoryExternalId(), w.RepositoryExternalID)
		}
	}
	if r := resps[8]; c.ok("the session's verify (id 8)", sessionError(r)) {
		c.cleanMsg("the session's verify", r)
		if r.GetVerify() == nil {
			c.Errorf("the session's verify (id 8) answered something else: %v", r)
		} else {
			c.checkVerified("the session's verify", w, r.GetVerify())
		}
	}
	c.code("the session's verify with a wrong secret (id 9)", sessionError(resps[9]), codes.Unauthenticated)
}

func keys[V any](m map[uint64]V) []uint64 {
	out := make([]uint64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
