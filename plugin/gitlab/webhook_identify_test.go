package gitlab_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim/fixtures"
	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

func TestIdentifyWebhookReadsEveryFixture(t *testing.T) {
	t.Parallel()
	const (
		push  = scmv1.EventKind_EVENT_KIND_PUSH
		tag   = scmv1.EventKind_EVENT_KIND_TAG_PUSH
		mr    = scmv1.EventKind_EVENT_KIND_MERGE_REQUEST
		other = scmv1.EventKind_EVENT_KIND_OTHER
	)
	tests := map[string]struct {
		repo string // "" = the payload names no project
		kind scmv1.EventKind
	}{
		"client-go-v1.46.0/webhooks/build.json":                 {"380", other},
		"client-go-v1.46.0/webhooks/group_merge_request.json":   {"", mr}, // its keys end in spaces ("target_project_id ")
		"client-go-v1.46.0/webhooks/job.json":                   {"31537070", other},
		"client-go-v1.46.0/webhooks/merge_request.json":         {"14", mr}, // target_project_id wins over project.id
		"client-go-v1.46.0/webhooks/note_merge_request.json":    {"5", other},
		"client-go-v1.46.0/webhooks/pipeline.json":              {"1", other},
		"client-go-v1.46.0/webhooks/project.json":               {"7", other},
		"client-go-v1.46.0/webhooks/push.json":                  {"15", push},
		"client-go-v1.46.0/webhooks/release.json":               {"327622", other},
		"client-go-v1.46.0/webhooks/service_merge_request.json": {"2", mr},
		"client-go-v1.46.0/webhooks/tag_push.json":              {"1", tag},
		"client-go-v1.46.0/systemhooks/merge_request.json":      {"14", mr},    // object_kind
		"client-go-v1.46.0/systemhooks/project_create.json":     {"74", other}, // event_name project_create
		"client-go-v1.46.0/systemhooks/push.json":               {"15", push},  // event_name push, project_id only
		"client-go-v1.46.0/systemhooks/repository_update.json":  {"1", other},
		"client-go-v1.46.0/systemhooks/tag_push.json":           {"1", tag},
		"drone-go-scm/webhooks/branch_create.json":              {"4861503", push},
		"drone-go-scm/webhooks/branch_delete.json":              {"4861503", push},
		"drone-go-scm/webhooks/pull_request_close.json":         {"4861503", mr},
		"drone-go-scm/webhooks/pull_request_create.json":        {"4861503", mr},
		"drone-go-scm/webhooks/pull_request_merge.json":         {"4861503", mr},
		"drone-go-scm/webhooks/pull_request_reopen.json":        {"4861503", mr},
		"drone-go-scm/webhooks/push.json":                       {"4861503", push},
		"drone-go-scm/webhooks/push_merge.json":                 {"4861503", push},
		"drone-go-scm/webhooks/push_subgroup.json":              {"4861503", push},
		"drone-go-scm/webhooks/tag_create.json":                 {"4861503", tag},
		"drone-go-scm/webhooks/tag_delete.json":                 {"4861503", tag},
	}
	if len(tests) != len(fixtureEvents()) {
		t.Fatalf("the table covers %d fixtures, fixtureEvents %d", len(tests), len(fixtureEvents()))
	}
	p := gitlab.New()
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := fixtureDelivery(name)
			d.Headers["x-gitlab-instance"] = "https://gitlab.example.com"
			resp, err := p.IdentifyWebhook(context.Background(), &scmv1.IdentifyWebhookRequest{Delivery: d})
			if tt.repo == "" {
				det := wantCode(t, err, codes.InvalidArgument, scmerr.ReasonPayloadInvalid)
				if got := det.FieldNames(); len(got) != 1 || got[0] != "delivery.body" {
					t.Fatalf("field violations = %v, want delivery.body", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := &scmv1.IdentifyWebhookResponse{
				RepositoryExternalId: tt.repo,
				DeliveryId:           testEventID,
				EventKind:            tt.kind,
				EventName:            fixtureEvents()[name],
				HasToken:             true,
				InstanceUrl:          "https://gitlab.example.com",
			}
			assertProtoEqual(t, resp, want)
		})
	}
}

func TestIdentifyWebhookDeliveryIDFallbacks(t *testing.T) {
	t.Parallel()
	body := fixtures.Read("client-go-v1.46.0/webhooks/push.json")
	sum := sha256.Sum256(body)
	bodyHash := "sha256:" + hex.EncodeToString(sum[:])
	tests := map[string]struct {
		headers map[string]string
		want    string
	}{
		"Idempotency-Key first": {
			headers: map[string]string{"idempotency-key": "idem-1", "x-gitlab-event-uuid": "uuid-1", "webhook-id": "wh-1"},
			want:    "idem-1",
		},
		"then X-Gitlab-Event-UUID": {
			headers: map[string]string{"x-gitlab-event-uuid": "uuid-1", "webhook-id": "wh-1"},
			want:    "uuid-1",
		},
		"then webhook-id": {
			headers: map[string]string{"webhook-id": "wh-1"},
			want:    "wh-1",
		},
		"blank headers count as absent": {
			headers: map[string]string{"idempotency-key": " ", "x-gitlab-event-uuid": "", "webhook-id": "wh-1"},
			want:    "wh-1",
		},
		"else the body's hash": {
			headers: map[string]string{},
			want:    bodyHash,
		},
		"X-Gitlab-Webhook-UUID is per delivery attempt, never the id": {
			headers: map[string]string{"x-gitlab-webhook-uuid": "attempt-1"},
			want:    bodyHash,
		},
		"header names in another case still count": {
			headers: map[string]string{"Idempotency-Key": "idem-2"},
			want:    "idem-2",
		},
	}
	p := gitlab.New()
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tt.headers["x-gitlab-event"] = "Push Hook"
			resp, err := p.IdentifyWebhook(context.Background(), &scmv1.IdentifyWebhookRequest{
				Delivery: &scmv1.WebhookDelivery{Headers: tt.headers, Body: body},
			})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetDeliveryId() != tt.want {
				t.Fatalf("delivery id = %q, want %q", resp.GetDeliveryId(), tt.want)
			}
		})
	}
}

func TestIdentifyWebhookBodyHashCannotCollideWithAUUID(t *testing.T) {
	t.Parallel()
	p := gitlab.New()
	resp, err := p.IdentifyWebhook(context.Background(), &scmv1.IdentifyWebhookRequest{
		Delivery: &scmv1.WebhookDelivery{Body: fixtures.Read("drone-go-scm/webhooks/push.json")},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetDeliveryId()
	if !strings.HasPrefix(id, "sha256:") || len(id) != len("sha256:")+64 {
		t.Fatalf("delivery id = %q, want sha256:<64 hex>", id)
	}
	// Without X-Gitlab-Event the kind comes from object_kind, and the event
	// name is GitLab's name for it.
	if resp.GetEventKind() != scmv1.EventKind_EVENT_KIND_PUSH || resp.GetEventName() != "Push Hook" {
		t.Fatalf("kind, name = %v, %q; want PUSH, Push Hook", resp.GetEventKind(), resp.GetEventName())
	}
	if resp.GetHasToken() || resp.GetHasSignature() {
		t.Fatalf("has_token, has_signature = %v, %v for a delivery without either", resp.GetHasToken(), resp.GetHasSignature())
	}
}

func TestIdentifyWebhookKinds(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		event    string
		body     string
		wantKind scmv1.EventKind
		wantName string
	}{
		"header wins":                   {"Tag Push Hook", `{"object_kind":"push","project":{"id":3}}`, scmv1.EventKind_EVENT_KIND_TAG_PUSH, "Tag Push Hook"},
		"unknown hooks are other":       {"Emoji Hook", `{"object_kind":"emoji","project_id":3}`, scmv1.EventKind_EVENT_KIND_OTHER, "Emoji Hook"},
		"no header: object_kind":        {"", `{"object_kind":"merge_request","object_attributes":{"target_project_id":3}}`, scmv1.EventKind_EVENT_KIND_MERGE_REQUEST, "Merge Request Hook"},
		"no header, unknown kind":       {"", `{"object_kind":"issue","project":{"id":3}}`, scmv1.EventKind_EVENT_KIND_OTHER, "issue"},
		"system hook: event_name":       {"System Hook", `{"event_name":"tag_push","project_id":3}`, scmv1.EventKind_EVENT_KIND_TAG_PUSH, "System Hook"},
		"service hook: object_kind":     {"Service Hook", `{"object_kind":"push","project_id":3}`, scmv1.EventKind_EVENT_KIND_PUSH, "Service Hook"},
		"merge request falls back":      {"Merge Request Hook", `{"project":{"id":3},"object_attributes":{}}`, scmv1.EventKind_EVENT_KIND_MERGE_REQUEST, "Merge Request Hook"},
		"push prefers project.id":       {"Push Hook", `{"project_id":4,"project":{"id":3}}`, scmv1.EventKind_EVENT_KIND_PUSH, "Push Hook"},
		"keys match as encoding/json's": {"Push Hook", `{"Project":{"ID":3}}`, scmv1.EventKind_EVENT_KIND_PUSH, "Push Hook"},
	}
	p := gitlab.New()
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			headers := map[string]string{}
			if tt.event != "" {
				headers["x-gitlab-event"] = tt.event
			}
			resp, err := p.IdentifyWebhook(context.Background(), &scmv1.IdentifyWebhookRequest{
				Delivery: &scmv1.WebhookDelivery{Headers: headers, Body: []byte(tt.body)},
			})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetEventKind() != tt.wantKind || resp.GetEventName() != tt.wantName || resp.GetRepositoryExternalId() != "3" {
				t.Fatalf("kind, name, repo = %v, %q, %q; want %v, %q, 3", resp.GetEventKind(), resp.GetEventName(), resp.GetRepositoryExternalId(), tt.wantKind, tt.wantName)
			}
		})
	}
}

func TestIdentifyWebhookRefusesWhatIsNotAPayload(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"empty":                   "",
		"not JSON":                "project_id=15&object_kind=push",
		"truncated":               `{"object_kind":"push","project":{"id":15}`,
		"an array":                `[{"project":{"id":15}}]`,
		"a string":                `"push"`,
		"trailing data":           `{"project":{"id":15}} {}`,
		"project id not a number": `{"project":{"id":"15"}}`,
		"project id a fraction":   `{"project":{"id":15.5}}`,
		"no project at all":       `{"object_kind":"push"}`,
		"null":                    `null`,
	}
	p := gitlab.New()
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := p.IdentifyWebhook(context.Background(), &scmv1.IdentifyWebhookRequest{
				Delivery: &scmv1.WebhookDelivery{Headers: map[string]string{"x-gitlab-event": "Push Hook"}, Body: []byte(body)},
			})
			d := wantCode(t, err, codes.InvalidArgument, scmerr.ReasonPayloadInvalid)
			if len(d.Fields) == 0 {
				t.Fatal("no field violation named")
			}
		})
	}
}

func TestIdentifyWebhookHonoursACancelledContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := gitlab.New().IdentifyWebhook(ctx, &scmv1.IdentifyWebhookRequest{Delivery: fixtureDelivery("drone-go-scm/webhooks/push.json")})
	if scmerr.CodeOf(err) != codes.Canceled {
		t.Fatalf("error = %v, want Canceled", err)
	}
}

func TestIdentifyWebhookReportsSignatures(t *testing.T) {
	t.Parallel()
	d := fixtureDelivery("drone-go-scm/webhooks/push.json")
	delete(d.Headers, "x-gitlab-token")
	d.Headers["webhook-signature"] = "v1,AAAA"
	resp, err := gitlab.New().IdentifyWebhook(context.Background(), &scmv1.IdentifyWebhookRequest{Delivery: d})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetHasToken() || !resp.GetHasSignature() {
		t.Fatalf("has_token, has_signature = %v, %v; want false, true", resp.GetHasToken(), resp.GetHasSignature())
	}
}
