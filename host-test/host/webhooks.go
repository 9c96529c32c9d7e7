package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// maxDeliveryIDLength bounds a stored delivery id; longer ones are hashed.
const maxDeliveryIDLength = 200

// Webhook outcomes (metrics label).
const (
	outcomeStored         = "stored"
	outcomeDuplicate      = "duplicate"
	outcomeInvalidToken   = "invalid_token"
	outcomeStale          = "stale"
	outcomeInvalid        = "invalid_payload"
	outcomeTooLarge       = "too_large"
	outcomePluginDown     = "plugin_unavailable"
	outcomeInternalError  = "error"
	msgInvalidWebhookAuth = "the webhook token or signature does not match a repository's webhook secret"
)

// receiveWebhook is POST /v1/webhooks/{provider}: body limit → identify
// (plugin, untrusted) → the repository's secret → verify (plugin) → refuse
// stale signed deliveries → dedupe on the delivery id → the delivery and its
// build triggers stored in one transaction → {ok: true}. Nothing
// unauthenticated is stored; a plugin that is down answers 503 so the sender
// can resend.
//
// With a plugin's webhook session, identify and verify are one round trip:
// receive identifies the delivery and verifies it with the secret the
// session holds for that repository, naming it by the reference the host
// gave it (webhookref.go). That answer counts only when the reference names
// a target's current secret; otherwise the host verifies with its own copy,
// as without a session, passing the reference along so that the session
// holds the current secret for the next delivery (authenticateDelivery).
func (h *Host) receiveWebhook(w http.ResponseWriter, r *http.Request) error {
	pr, aerr := h.provider(r.PathValue("provider"))
	if aerr != nil {
		return aerr
	}
	outcome := outcomeInternalError
	defer func() { h.metrics.webhook(pr.name, outcome) }()
	fail := func(o string, e *apiError) error {
		outcome = o
		return e
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.WebhookBodyLimit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fail(outcomeTooLarge, newError(http.StatusRequestEntityTooLarge, codePayloadTooLarge,
				fmt.Sprintf("the webhook body exceeds the limit of %d bytes", h.cfg.WebhookBodyLimit)))
		}
		return fail(outcomeInvalid, newError(http.StatusBadRequest, codeInvalidInput, "the webhook body could not be read"))
	}
	delivery := &scmv1.WebhookDelivery{Headers: lowerHeaders(r.Header), Body: body}
	ctx := r.Context()

	id, received, err := h.identifyDelivery(ctx, pr, delivery)
	if err != nil {
		return h.webhookPluginError(pr, err, &outcome)
	}
	if id.GetRepositoryExternalId() == "" {
		return fail(outcomeInvalidToken, newError(http.StatusUnauthorized, codeInvalidToken, "the delivery names no repository this host knows"))
	}
	targets, err := h.store.WebhookTargets(ctx, pr.name, id.GetRepositoryExternalId())
	if err != nil {
		return internalError("look up the repository's webhook secret", err)
	}
	target, verified, err := h.authenticateDelivery(ctx, pr, delivery, id.GetRepositoryExternalId(), received, targets)
	if err != nil {
		return h.webhookPluginError(pr, err, &outcome)
	}
	if target == nil {
		return fail(outcomeInvalidToken, newError(http.StatusUnauthorized, codeInvalidToken, msgInvalidWebhookAuth))
	}
	if at := verified.GetSignedAt(); at != 0 {
		age := h.now().Sub(time.Unix(at, 0))
		if age > h.cfg.WebhookMaxAge || age < -h.cfg.WebhookMaxAge {
			return fail(outcomeStale, newError(http.StatusUnauthorized, codeStaleDelivery,
				fmt.Sprintf("the delivery was signed %s ago; deliveries signed more than %s from now are refused", age.Round(time.Second), h.cfg.WebhookMaxAge)))
		}
	}
	deliveryID := verified.GetDeliveryId()
	if deliveryID == "" {
		deliveryID = id.GetDeliveryId()
	}
	if deliveryID == "" || len(deliveryID) > maxDeliveryIDLength {
		sum := sha256.Sum256(append([]byte(deliveryID+"\x00"), body...))
		deliveryID = "sha256:" + hex.EncodeToString(sum[:])
	}
	triggers, ignored := decideBuilds(verified)
	events, err := protojson.Marshal(&scmv1.VerifyWebhookResponse{Events: verified.GetEvents(), IgnoredReason: verified.GetIgnoredReason()})
	if err != nil {
		return internalError("encode the delivery's events", err)
	}
	kind := verified.GetEventKind()
	if kind == scmv1.EventKind_EVENT_KIND_UNSPECIFIED {
		kind = id.GetEventKind()
	}
	rp := target.Repository
	dup, err := h.store.RecordDelivery(ctx, store.Delivery{
		Provider: pr.name, DeliveryID: deliveryID, IntegrationID: rp.IntegrationID, RepositoryID: rp.ID,
		RepositoryFullName: rp.FullName, EventKind: manifest.EventKindName(kind), EventName: id.GetEventName(),
		IgnoredReason: ignored, Events: string(events), ReceivedAt: h.now().Unix(),
	}, triggers)
	if errors.Is(err, store.ErrNotFound) {
		return fail(outcomeInvalidToken, newError(http.StatusUnauthorized, codeInvalidToken, msgInvalidWebhookAuth))
	}
	if err != nil {
		return internalError("store the delivery", err)
	}
	if dup {
		outcome = outcomeDuplicate
		h.log.Info("duplicate webhook delivery ignored", "provider", pr.name, "repository", rp.FullName, "delivery_id", deliveryID)
		t := true
		writeJSON(w, http.StatusOK, webhookResponse{OK: true, Duplicate: &t})
		return nil
	}
	outcome = outcomeStored
	h.log.Info("webhook delivery stored", "provider", pr.name, "repository", rp.FullName, "delivery_id", deliveryID,
		"event", manifest.EventKindName(kind), "builds", len(triggers), "ignored", ignored)
	writeJSON(w, http.StatusOK, webhookResponse{OK: true})
	return nil
}

// identifyDelivery asks the plugin which repository the delivery names
// (untrusted). Over a webhook session this is receive, whose answer the
// caller also gets: it may carry the verification already. A plugin whose
// session refuses receive gets IdentifyWebhook, and received is nil.
func (h *Host) identifyDelivery(ctx context.Context, pr *provider, delivery *scmv1.WebhookDelivery) (id *scmv1.IdentifyWebhookResponse, received *scmv1.ReceiveWebhookResponse, err error) {
	if s := h.webhookSessions[pr.name]; s.receives(pr.p) {
		restarts := pr.p.Restarts()
		rr, err := call(ctx, h, pr, "ReceiveWebhook", func(ctx context.Context, _ scmv1.ProviderServiceClient) (*scmv1.ReceiveWebhookResponse, error) {
			return s.client.Receive(ctx, &scmv1.ReceiveWebhookRequest{Delivery: delivery})
		})
		switch {
		case err == nil:
			if rr.GetIdentity() == nil {
				return &scmv1.IdentifyWebhookResponse{}, nil, nil // names no repository: refused
			}
			return rr.GetIdentity(), rr, nil
		case !receiveRefused(err):
			return nil, nil, err
		case s.refuseReceive(restarts):
			h.log.Warn("the plugin's webhook session does not answer receive (a plugin older than this host): deliveries use IdentifyWebhook and VerifyWebhook until the plugin restarts",
				"provider", pr.name, "code", scmerr.CodeOf(err).String())
		}
	}
	id, err = call(ctx, h, pr, "IdentifyWebhook", func(ctx context.Context, c scmv1.ProviderServiceClient) (*scmv1.IdentifyWebhookResponse, error) {
		return c.IdentifyWebhook(ctx, &scmv1.IdentifyWebhookRequest{Delivery: delivery})
	})
	return id, nil, err
}

// authenticateDelivery finds the target whose secret the delivery carries
// (the same project may be in several integrations, each with its own
// secret), and the plugin's verification with it; nil: none does.
//
// A receive answer that verified counts only when its reference names a
// target's current secret: a session may still hold a secret rotated since
// it learnt it (or one another host rotated). Otherwise each target is
// verified in turn, first success winning, over the session when receive
// was used (with the target's reference, so the session learns the secret
// for the next delivery) and with the unary VerifyWebhook when not.
func (h *Host) authenticateDelivery(ctx context.Context, pr *provider, delivery *scmv1.WebhookDelivery, repo string,
	received *scmv1.ReceiveWebhookResponse, targets []store.WebhookTarget) (*store.WebhookTarget, *scmv1.VerifyWebhookResponse, error) {
	if v := received.GetVerified(); v != nil {
		if t := h.refs.current(targets, received.GetSecretRef()); t != nil {
			return t, v, nil
		}
	}
	session := h.webhookSessions[pr.name]
	for i := range targets {
		req := &scmv1.VerifyWebhookRequest{Delivery: delivery, Secret: targets[i].Secret, RepositoryExternalId: repo}
		if received != nil {
			req.SecretRef = h.refs.of(targets[i].Repository.ID, targets[i].Secret)
		}
		v, err := call(ctx, h, pr, "VerifyWebhook", func(ctx context.Context, c scmv1.ProviderServiceClient) (*scmv1.VerifyWebhookResponse, error) {
			if received != nil {
				return session.client.Verify(ctx, req)
			}
			return c.VerifyWebhook(ctx, req)
		})
		if err != nil {
			d := scmerr.Parse(err)
			if d.Code == codes.Unauthenticated || d.Code == codes.PermissionDenied {
				continue // another integration's copy of the repository may hold the secret
			}
			return nil, nil, err
		}
		return &targets[i], v, nil
	}
	return nil, nil, nil
}

// webhookPluginError maps a plugin failure during intake.
func (h *Host) webhookPluginError(pr *provider, err error, outcome *string) error {
	e := pluginError(pr.name, err)
	switch {
	case e.Status == http.StatusServiceUnavailable:
		*outcome = outcomePluginDown
	case e.Status == http.StatusUnauthorized:
		*outcome = outcomeInvalidToken
	case e.Status == http.StatusBadRequest:
		*outcome = outcomeInvalid
		e.Code = codeInvalidInput
	default:
		*outcome = outcomeInternalError
	}
	return e
}

// lowerHeaders is the delivery's headers as scm.v1 carries them: names in
// lower case, repeated values joined with ", ".
func lowerHeaders(hdr http.Header) map[string]string {
	out := make(map[string]string, len(hdr))
	for k, vs := range hdr {
		out[strings.ToLower(k)] = strings.Join(vs, ", ")
	}
	return out
}

// listDeliveries answers GET /v1/webhook-deliveries, newest first.
func (h *Host) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	limit, offset, _, aerr := page(r.URL.Query())
	if aerr != nil {
		return aerr
	}
	ds, total, err := h.store.ListDeliveries(r.Context(), store.DeliveryQuery{IntegrationID: r.URL.Query().Get("integration_id"), Limit: limit, Offset: offset})
	if err != nil {
		return internalError("list deliveries", err)
	}
	out := listDeliveriesResponse{Deliveries: make([]deliveryView, 0, len(ds)), Total: total}
	for _, d := range ds {
		out.Deliveries = append(out.Deliveries, viewDelivery(d))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
