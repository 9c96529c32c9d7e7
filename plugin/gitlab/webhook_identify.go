package gitlab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// Webhook request headers, lower case as scm.v1 delivers them.
const (
	headerEvent            = "x-gitlab-event"
	headerToken            = "x-gitlab-token"
	headerInstance         = "x-gitlab-instance"
	headerEventUUID        = "x-gitlab-event-uuid"
	headerIdempotencyKey   = "idempotency-key"
	headerWebhookID        = "webhook-id"
	headerWebhookTimestamp = "webhook-timestamp"
	headerWebhookSignature = "webhook-signature"
)

// X-Gitlab-Event values this provider treats specially.
const (
	eventPush         = "Push Hook"
	eventTagPush      = "Tag Push Hook"
	eventMergeRequest = "Merge Request Hook"
	eventSystem       = "System Hook"
	// Service Hook is what GitLab's integrations send; like a delivery
	// without X-Gitlab-Event, its kind is in the payload's object_kind.
	eventService = "Service Hook"
)

// bodyHashPrefix starts a delivery id made from the body's hash, so it can
// never equal a GitLab-issued UUID.
const bodyHashPrefix = "sha256:"

// maxWebhookBody is the largest payload accepted: GitLab.com's own limit.
const maxWebhookBody = 25 << 20

// IdentifyWebhook reads an untrusted delivery cheaply: the repository it
// claims to be about, its event, and its delivery id. It verifies nothing;
// the host uses the answer only to find the repository's secret.
func (p *Provider) IdentifyWebhook(ctx context.Context, req *scmv1.IdentifyWebhookRequest) (*scmv1.IdentifyWebhookResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	return identify(req.GetDelivery())
}

func identify(d *scmv1.WebhookDelivery) (*scmv1.IdentifyWebhookResponse, error) {
	body := d.GetBody()
	if err := checkBody(body); err != nil {
		return nil, err
	}
	payload, err := decodePayload(body, decodeIdentify)
	if err != nil {
		return nil, payloadError("identify webhook delivery", err)
	}
	headers := d.GetHeaders()
	event := header(headers, headerEvent)
	kind := deliveryKind(event, payload)
	repo := payload.repositoryID(kind)
	if repo == "" {
		return nil, scmerr.New(codes.InvalidArgument, scmerr.ReasonPayloadInvalid,
			"identify webhook delivery: the payload names no project (no project.id, project_id or object_attributes.target_project_id); only project-level GitLab events can be identified",
			scmerr.WithField("delivery.body", "names no project"))
	}
	return &scmv1.IdentifyWebhookResponse{
		RepositoryExternalId: repo,
		DeliveryId:           deliveryID(headers, body),
		EventKind:            kind,
		EventName:            eventName(event, kind, payload),
		HasToken:             header(headers, headerToken) != "",
		HasSignature:         header(headers, headerWebhookSignature) != "",
		InstanceUrl:          header(headers, headerInstance),
	}, nil
}

// checkBody refuses an empty or oversized body before anything reads it.
func checkBody(body []byte) error {
	switch {
	case len(body) == 0:
		return scmerr.New(codes.InvalidArgument, scmerr.ReasonPayloadInvalid,
			"webhook delivery has an empty body; GitLab sends a JSON object",
			scmerr.WithField("delivery.body", "is required"))
	case len(body) > maxWebhookBody:
		return scmerr.New(codes.InvalidArgument, scmerr.ReasonPayloadInvalid,
			"webhook delivery body is larger than 25 MiB, GitLab's own limit",
			scmerr.WithField("delivery.body", "must be at most 25 MiB"))
	}
	return nil
}

// payloadError is the InvalidArgument answer for a body that does not
// decode. The decoder's message names a byte offset, never the content.
func payloadError(op string, err error) error {
	return scmerr.New(codes.InvalidArgument, scmerr.ReasonPayloadInvalid,
		op+": the body is not a GitLab webhook payload: "+err.Error(),
		scmerr.WithField("delivery.body", "is not a JSON object of GitLab's webhook shape"))
}

// header returns a request header by its lower-case name. scm.v1 delivers
// names in lower case; a host that did not is still understood.
func header(headers map[string]string, name string) string {
	if v, ok := headers[name]; ok {
		return v
	}
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// deliveryID is GitLab's id for the delivery: Idempotency-Key (stable across
// retries and resends, GitLab 17.4+), else X-Gitlab-Event-UUID, else the
// Standard Webhooks webhook-id, else the SHA-256 of the body.
func deliveryID(headers map[string]string, body []byte) string {
	for _, name := range [...]string{headerIdempotencyKey, headerEventUUID, headerWebhookID} {
		if v := strings.TrimSpace(header(headers, name)); v != "" {
			return v
		}
	}
	sum := sha256.Sum256(body)
	return bodyHashPrefix + hex.EncodeToString(sum[:])
}

// deliveryKind is the event kind: from X-Gitlab-Event, or for system hooks,
// integrations' Service Hook and deliveries without the header, from the
// payload's object_kind (else event_name).
func deliveryKind(event string, p *hookPayload) scmv1.EventKind {
	if kind, known := kindFromHeader(event); known {
		return kind
	}
	return kindFromPayload(p)
}

// kindFromHeader classifies X-Gitlab-Event. known is false when the payload
// must decide.
func kindFromHeader(event string) (kind scmv1.EventKind, known bool) {
	switch event {
	case eventPush:
		return scmv1.EventKind_EVENT_KIND_PUSH, true
	case eventTagPush:
		return scmv1.EventKind_EVENT_KIND_TAG_PUSH, true
	case eventMergeRequest:
		return scmv1.EventKind_EVENT_KIND_MERGE_REQUEST, true
	case "", eventSystem, eventService:
		return scmv1.EventKind_EVENT_KIND_UNSPECIFIED, false
	default:
		return scmv1.EventKind_EVENT_KIND_OTHER, true
	}
}

// kindFromPayload classifies a payload by object_kind, else event_name
// (system hooks name pushes only in event_name).
func kindFromPayload(p *hookPayload) scmv1.EventKind {
	name := p.ObjectKind
	if name == "" {
		name = p.EventName
	}
	switch name {
	case "push":
		return scmv1.EventKind_EVENT_KIND_PUSH
	case "tag_push":
		return scmv1.EventKind_EVENT_KIND_TAG_PUSH
	case "merge_request":
		return scmv1.EventKind_EVENT_KIND_MERGE_REQUEST
	default:
		return scmv1.EventKind_EVENT_KIND_OTHER
	}
}

// eventName is GitLab's name for the event: the X-Gitlab-Event header, else
// the hook name of the payload's kind, else its object_kind or event_name.
func eventName(event string, kind scmv1.EventKind, p *hookPayload) string {
	if event != "" {
		return event
	}
	switch kind {
	case scmv1.EventKind_EVENT_KIND_PUSH:
		return eventPush
	case scmv1.EventKind_EVENT_KIND_TAG_PUSH:
		return eventTagPush
	case scmv1.EventKind_EVENT_KIND_MERGE_REQUEST:
		return eventMergeRequest
	}
	if p.ObjectKind != "" {
		return p.ObjectKind
	}
	return p.EventName
}

// repositoryID is the GitLab project the payload is about, in decimal, or
// "" when it names none. A merge request belongs to its target project.
func (p *hookPayload) repositoryID(kind scmv1.EventKind) string {
	var ids []int64
	if kind == scmv1.EventKind_EVENT_KIND_MERGE_REQUEST {
		ids = []int64{p.Attributes.TargetProjectID, p.Project.ID, p.ProjectID}
	} else {
		ids = []int64{p.Project.ID, p.ProjectID}
	}
	for _, id := range ids {
		if id > 0 {
			return strconv.FormatInt(id, 10)
		}
	}
	return ""
}
