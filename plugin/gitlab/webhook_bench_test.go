package gitlab_test

import (
	"context"
	"testing"

	gitlabapi "gitlab.com/gitlab-org/api/client-go"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim/fixtures"
	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// The goal (issue 7): verifying and normalising a 20-commit push in process
// is at least 3× faster than client-go's ParseWebhook plus the same
// normalisation. Compare BenchmarkVerifyPush20 with
// BenchmarkClientGoParsePush20 (make bench).

func BenchmarkVerifyPush20(b *testing.B) {
	body := push20(b)
	req := &scmv1.VerifyWebhookRequest{
		Delivery: &scmv1.WebhookDelivery{
			Headers: map[string]string{
				"content-type":        "application/json",
				"x-gitlab-event":      "Push Hook",
				"x-gitlab-token":      testSecret,
				"x-gitlab-event-uuid": testEventID,
				"idempotency-key":     "3a427872-00df-429c-9bc9-a9475de2efe4",
			},
			Body: body,
		},
		Secret:               testSecret,
		RepositoryExternalId: "15",
	}
	p := gitlab.New()
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		resp, err := p.VerifyWebhook(ctx, req)
		if err != nil || len(resp.GetEvents()[0].GetPush().GetCommits()) != 20 {
			b.Fatalf("verify: %v", err)
		}
	}
}

func BenchmarkVerifyPush20Signed(b *testing.B) {
	body := push20(b)
	token := testSigningToken(7)
	const id, ts = "3a427872-00df-429c-9bc9-a9475de2efe4", "1718000000"
	req := &scmv1.VerifyWebhookRequest{
		Delivery: &scmv1.WebhookDelivery{
			Headers: map[string]string{
				"x-gitlab-event":    "Push Hook",
				"webhook-id":        id,
				"webhook-timestamp": ts,
				"webhook-signature": signDelivery(b, token, id, ts, body),
			},
			Body: body,
		},
		Secret:               token,
		RepositoryExternalId: "15",
	}
	p := gitlab.New()
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.VerifyWebhook(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClientGoParsePush20(b *testing.B) {
	body := push20(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		parsed, err := gitlabapi.ParseWebhook(gitlabapi.EventTypePush, body)
		if err != nil {
			b.Fatal(err)
		}
		e := parsed.(*gitlabapi.PushEvent)
		if ev := clientGoPush(e, clientGoID(e.Project.ID, e.ProjectID)); len(ev.GetPush().GetCommits()) != 20 {
			b.Fatal("normalised push lost commits")
		}
	}
}

func BenchmarkIdentifyPush20(b *testing.B) {
	body := push20(b)
	req := &scmv1.IdentifyWebhookRequest{Delivery: &scmv1.WebhookDelivery{
		Headers: map[string]string{"x-gitlab-event": "Push Hook", "x-gitlab-token": testSecret, "idempotency-key": "k"},
		Body:    body,
	}}
	p := gitlab.New()
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.IdentifyWebhook(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyMergeRequest(b *testing.B) {
	req := &scmv1.VerifyWebhookRequest{
		Delivery: &scmv1.WebhookDelivery{
			Headers: map[string]string{"x-gitlab-event": "Merge Request Hook", "x-gitlab-token": testSecret},
			Body:    fixtures.Read("client-go-v1.46.0/webhooks/service_merge_request.json"),
		},
		Secret:               testSecret,
		RepositoryExternalId: "2",
	}
	p := gitlab.New()
	ctx := context.Background()
	b.SetBytes(int64(len(req.Delivery.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.VerifyWebhook(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
