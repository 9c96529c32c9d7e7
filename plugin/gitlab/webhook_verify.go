package gitlab

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// VerifyWebhook checks a delivery with the repository's secret (a plain
// X-Gitlab-Token secret, or a "whsec_" signing token) and, when it is
// authentic, returns its normalised events: pushes, tag pushes and merge
// requests. Other events are authentic but build nothing: the answer says
// why in ignored_reason.
//
// Unauthenticated: wrong or missing token or signature. InvalidArgument: an
// empty secret or repository id, or a body that is not a GitLab payload.
// PermissionDenied: the payload is about another project than the one the
// secret belongs to.
func (p *Provider) VerifyWebhook(ctx context.Context, req *scmv1.VerifyWebhookRequest) (*scmv1.VerifyWebhookResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	resp, err := verify(req)
	if err != nil {
		// Never the secret or the presented token: only what was refused and why.
		p.log.Debug("webhook delivery refused", "repository", req.GetRepositoryExternalId(),
			"code", status.Code(err).String(), "reason", string(scmerr.ReasonOf(err)))
	}
	return resp, err
}

func verify(req *scmv1.VerifyWebhookRequest) (*scmv1.VerifyWebhookResponse, error) {
	secret, repo := req.GetSecret(), req.GetRepositoryExternalId()
	if secret == "" || repo == "" {
		return nil, scmerr.Validate(
			scmerr.Check{Field: "secret", Value: secret, Tag: "required"},
			scmerr.Check{Field: "repository_external_id", Value: repo, Tag: "required"},
		)
	}
	headers, body := req.GetDelivery().GetHeaders(), req.GetDelivery().GetBody()
	if err := checkBody(body); err != nil {
		return nil, err
	}
	// Authenticate the raw bytes first: nothing in the payload is trusted,
	// or even decoded, before this passes.
	signedAt, err := authenticate(headers, body, secret)
	if err != nil {
		return nil, err
	}

	event := header(headers, headerEvent)
	kind, payload, err := decodeDelivery(event, body)
	if err != nil {
		return nil, payloadError("verify webhook delivery", err)
	}
	switch got := payload.repositoryID(kind); got {
	case repo:
	case "":
		return nil, scmerr.New(codes.InvalidArgument, scmerr.ReasonPayloadInvalid,
			"verify webhook delivery: the payload names no project (no project.id, project_id or object_attributes.target_project_id)",
			scmerr.WithField("delivery.body", "names no project"))
	default:
		return nil, scmerr.New(codes.PermissionDenied, scmerr.ReasonRepositoryMismatch,
			"verify webhook delivery: the payload is about GitLab project "+got+", not project "+repo+" whose secret was given; the host must verify a delivery with the secret of the project it names",
			scmerr.WithMetadata("payload_repository_external_id", got))
	}

	resp := &scmv1.VerifyWebhookResponse{
		DeliveryId: deliveryID(headers, body),
		EventKind:  kind,
		SignedAt:   signedAt,
	}
	switch {
	case event == eventSystem:
		resp.IgnoredReason = "System Hook events do not trigger builds: system hooks are instance-wide; Oore builds from project webhooks"
	case kind == scmv1.EventKind_EVENT_KIND_PUSH:
		resp.Events = []*scmv1.Event{normalisePush(payload, repo)}
	case kind == scmv1.EventKind_EVENT_KIND_TAG_PUSH:
		resp.Events = []*scmv1.Event{normaliseTagPush(payload, repo)}
	case kind == scmv1.EventKind_EVENT_KIND_MERGE_REQUEST:
		resp.Events = []*scmv1.Event{normaliseMergeRequest(payload, repo)}
	default:
		resp.IgnoredReason = eventName(event, kind, payload) + " events do not trigger builds"
	}
	return resp, nil
}

// decodeDelivery classifies a delivery and decodes what its kind needs, in
// one pass when X-Gitlab-Event names the kind. When the payload must say
// (system hooks, Service Hook, no header), a first pass reads only
// object_kind and event_name.
func decodeDelivery(event string, body []byte) (scmv1.EventKind, *hookPayload, error) {
	kind, known := kindFromHeader(event)
	if !known {
		payload, err := decodePayload(body, decodeIdentify)
		if err != nil {
			return kind, nil, err
		}
		kind = kindFromPayload(payload)
		if event == eventSystem || kind == scmv1.EventKind_EVENT_KIND_OTHER {
			return kind, payload, nil
		}
	}
	mode := decodeIdentify
	switch kind {
	case scmv1.EventKind_EVENT_KIND_PUSH, scmv1.EventKind_EVENT_KIND_TAG_PUSH:
		mode = decodePush
	case scmv1.EventKind_EVENT_KIND_MERGE_REQUEST:
		mode = decodeMergeRequest
	}
	payload, err := decodePayload(body, mode)
	return kind, payload, err
}
