package gitlab_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim/fixtures"
	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// checkFuzzError fails unless err is a proper scm.v1 error: a code that
// means something (never Unknown or Internal), an ErrorInfo reason, and no
// secret in any of its text.
func checkFuzzError(t *testing.T, err error, secrets ...string) {
	t.Helper()
	d := scmerr.Parse(err)
	switch d.Code {
	case codes.OK, codes.Unknown, codes.Internal:
		t.Fatalf("error with code %v: %v", d.Code, err)
	}
	if d.Reason == "" {
		t.Fatalf("error without an ErrorInfo reason: %v", err)
	}
	for _, s := range secrets {
		assertNoSecret(t, err, s)
	}
}

func FuzzIdentifyWebhook(f *testing.F) {
	for name, event := range fixtureEvents() {
		f.Add(event, "", fixtures.Read(name))
		f.Add("", "idem-"+name, fixtures.Read(name))
	}
	f.Add("Push Hook", "", []byte(`{"project":{"id":1}}`))
	f.Add("System Hook", "", []byte(`{"event_name":"push","project_id":"1"}`))
	p := gitlab.New()
	f.Fuzz(func(t *testing.T, event, idempotencyKey string, body []byte) {
		resp, err := p.IdentifyWebhook(context.Background(), &scmv1.IdentifyWebhookRequest{Delivery: &scmv1.WebhookDelivery{
			Headers: map[string]string{"x-gitlab-event": event, "idempotency-key": idempotencyKey},
			Body:    body,
		}})
		if err != nil {
			checkFuzzError(t, err)
			if c := scmerr.CodeOf(err); c != codes.InvalidArgument {
				t.Fatalf("identify answered %v; only InvalidArgument is expected: %v", c, err)
			}
			return
		}
		if resp.GetRepositoryExternalId() == "" || strings.TrimLeft(resp.GetRepositoryExternalId(), "0123456789") != "" {
			t.Fatalf("repository id %q is not a GitLab project id", resp.GetRepositoryExternalId())
		}
		if resp.GetDeliveryId() == "" || resp.GetEventKind() == scmv1.EventKind_EVENT_KIND_UNSPECIFIED {
			t.Fatalf("identify answered %v", resp)
		}
	})
}

// secretMark and tokenMark never occur in the provider's own messages, so a
// secret or token found in an error was echoed.
const (
	secretMark = "sEcReTmArK-"
	tokenMark  = "pReSeNtEd-"
)

func FuzzVerifyWebhook(f *testing.F) {
	for name, event := range fixtureEvents() {
		body := fixtures.Read(name)
		// A right token, a wrong one, and a signed delivery.
		f.Add(event, body, "15", "tok", true, false, "", "", "", false)
		f.Add(event, body, "4861503", "tok", false, false, "", "", "", false)
		f.Add(event, body, "1", "0123456789abcdef0123456789abcdef", false, true, "msg_1", "1718000000", "", true)
		f.Add(event, body, "14", "0123456789abcdef0123456789abcdef", false, true, "msg_1", "1718000000", "v1,AAAA v1,bm9wZQ==", false)
	}
	p := gitlab.New()
	f.Fuzz(func(t *testing.T, event string, body []byte, repo, secretSeed string, tokenRight, signing bool, webhookID, timestamp, signature string, signRight bool) {
		headers := map[string]string{"x-gitlab-event": event}
		var secret, key string
		if signing {
			key = base64.StdEncoding.EncodeToString([]byte(secretMark + secretSeed))
			secret = "whsec_" + key
			headers["webhook-id"], headers["webhook-timestamp"] = webhookID, timestamp
			headers["webhook-signature"] = signature
			if signRight {
				headers["webhook-signature"] += " " + signDelivery(t, secret, webhookID, timestamp, body)
			}
		} else {
			secret = secretMark + secretSeed
			headers["x-gitlab-token"] = tokenMark + secretSeed
			if tokenRight {
				headers["x-gitlab-token"] = secret
			}
		}
		resp, err := p.VerifyWebhook(context.Background(), &scmv1.VerifyWebhookRequest{
			Delivery: &scmv1.WebhookDelivery{Headers: headers, Body: body}, Secret: secret, RepositoryExternalId: repo,
		})
		if err != nil {
			checkFuzzError(t, err, secret, key, tokenMark+secretSeed)
			return
		}
		if resp.GetEventKind() == scmv1.EventKind_EVENT_KIND_UNSPECIFIED || resp.GetDeliveryId() == "" {
			t.Fatalf("verify answered %v", resp)
		}
		if (len(resp.GetEvents()) == 0) == (resp.GetIgnoredReason() == "") {
			t.Fatalf("events %d with ignored_reason %q", len(resp.GetEvents()), resp.GetIgnoredReason())
		}
		for _, ev := range resp.GetEvents() {
			if ev.GetRepositoryExternalId() != repo || ev.GetKind() != resp.GetEventKind() {
				t.Fatalf("event about %q (%v) from a delivery verified for %q (%v)", ev.GetRepositoryExternalId(), ev.GetKind(), repo, resp.GetEventKind())
			}
		}
	})
}
