package gitlab_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim/fixtures"
	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

const pushFixture = "drone-go-scm/webhooks/push.json" // project 4861503

func TestVerifyWebhookToken(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		token  *string // nil: no X-Gitlab-Token header
		secret string
		repo   string
		code   codes.Code
		reason scmerr.Reason
	}{
		"right token":              {token: ptr(testSecret), secret: testSecret, repo: "4861503", code: codes.OK},
		"wrong token":              {token: ptr("not-the-secret"), secret: testSecret, repo: "4861503", code: codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid},
		"token with a suffix":      {token: ptr(testSecret + "x"), secret: testSecret, repo: "4861503", code: codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid},
		"token prefix only":        {token: ptr(testSecret[:5]), secret: testSecret, repo: "4861503", code: codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid},
		"missing token":            {token: nil, secret: testSecret, repo: "4861503", code: codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid},
		"empty token":              {token: ptr(""), secret: testSecret, repo: "4861503", code: codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid},
		"another project's secret": {token: ptr(testSecret), secret: testSecret, repo: "15", code: codes.PermissionDenied, reason: scmerr.ReasonRepositoryMismatch},
	}
	p := gitlab.New()
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := fixtureDelivery(pushFixture)
			delete(d.Headers, "x-gitlab-token")
			if tt.token != nil {
				d.Headers["x-gitlab-token"] = *tt.token
			}
			resp, err := p.VerifyWebhook(context.Background(), &scmv1.VerifyWebhookRequest{Delivery: d, Secret: tt.secret, RepositoryExternalId: tt.repo})
			if tt.code == codes.OK {
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.GetEvents()) != 1 || resp.GetSignedAt() != 0 {
					t.Fatalf("events %d, signed_at %d; want 1 event and no signed time", len(resp.GetEvents()), resp.GetSignedAt())
				}
				return
			}
			wantCode(t, err, tt.code, tt.reason)
			assertNoSecret(t, err, tt.secret)
			if tt.token != nil && *tt.token != "" {
				assertNoSecret(t, err, *tt.token)
			}
		})
	}
}

func TestVerifyWebhookSignature(t *testing.T) {
	t.Parallel()
	token := testSigningToken(1)
	other := testSigningToken(2)
	body := fixtures.Read(pushFixture)
	const id, ts = "3a427872-00df-429c-9bc9-a9475de2efe4", "1718000000"
	good := signDelivery(t, token, id, ts, body)
	tests := map[string]struct {
		headers map[string]string
		body    []byte
		secret  string
		code    codes.Code
		reason  scmerr.Reason
	}{
		"valid": {
			headers: map[string]string{"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": good},
			code:    codes.OK,
		},
		"one valid among several": {
			headers: map[string]string{"webhook-id": id, "webhook-timestamp": ts,
				"webhook-signature": signDelivery(t, other, id, ts, body) + " v1a,c2lnbmF0dXJl " + good + " v1,AAAA"},
			code: codes.OK,
		},
		"unpadded key": {
			headers: map[string]string{"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": good},
			secret:  strings.TrimRight(token, "="),
			code:    codes.OK,
		},
		"tampered body": {
			headers: map[string]string{"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": good},
			body:    []byte(strings.Replace(string(body), "added readme", "added README", 1)),
			code:    codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid,
		},
		"tampered timestamp": {
			headers: map[string]string{"webhook-id": id, "webhook-timestamp": "1718000001", "webhook-signature": good},
			code:    codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid,
		},
		"tampered id": {
			headers: map[string]string{"webhook-id": id + "x", "webhook-timestamp": ts, "webhook-signature": good},
			code:    codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid,
		},
		"wrong key": {
			headers: map[string]string{"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": signDelivery(t, other, id, ts, body)},
			code:    codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid,
		},
		"unknown version only": {
			headers: map[string]string{"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": "v2," + strings.TrimPrefix(good, "v1,")},
			code:    codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid,
		},
		"signature not base64": {
			headers: map[string]string{"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": "v1,!!!"},
			code:    codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid,
		},
		"missing signature": {
			headers: map[string]string{"webhook-id": id, "webhook-timestamp": ts},
			code:    codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid,
		},
		"missing id": {
			headers: map[string]string{"webhook-timestamp": ts, "webhook-signature": good},
			code:    codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid,
		},
		"missing timestamp": {
			headers: map[string]string{"webhook-id": id, "webhook-signature": good},
			code:    codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid,
		},
		"timestamp not a number": {
			headers: map[string]string{"webhook-id": id, "webhook-timestamp": "yesterday", "webhook-signature": signDelivery(t, token, id, "yesterday", body)},
			code:    codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid,
		},
		"only a plain token, though the secret is a signing token": {
			headers: map[string]string{"x-gitlab-token": token},
			code:    codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid,
		},
		"signing secret that is not base64": {
			headers: map[string]string{"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": good},
			secret:  "whsec_not*base64*at*all",
			code:    codes.InvalidArgument, reason: scmerr.ReasonInvalidInput,
		},
		"signing secret without a key": {
			headers: map[string]string{"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": good},
			secret:  "whsec_",
			code:    codes.InvalidArgument, reason: scmerr.ReasonInvalidInput,
		},
	}
	p := gitlab.New()
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			secret := tt.secret
			if secret == "" {
				secret = token
			}
			b := tt.body
			if b == nil {
				b = body
			}
			tt.headers["x-gitlab-event"] = "Push Hook"
			resp, err := p.VerifyWebhook(context.Background(), &scmv1.VerifyWebhookRequest{
				Delivery: &scmv1.WebhookDelivery{Headers: tt.headers, Body: b}, Secret: secret, RepositoryExternalId: "4861503",
			})
			if tt.code == codes.OK {
				if err != nil {
					t.Fatal(err)
				}
				// The signed time is reported, not judged: the host decides
				// whether a delivery from 2024 is too old.
				if resp.GetSignedAt() != 1718000000 || resp.GetDeliveryId() != id || len(resp.GetEvents()) != 1 {
					t.Fatalf("signed_at %d, delivery id %q, %d events", resp.GetSignedAt(), resp.GetDeliveryId(), len(resp.GetEvents()))
				}
				return
			}
			d := wantCode(t, err, tt.code, tt.reason)
			if tt.code == codes.InvalidArgument {
				if got := d.FieldNames(); len(got) != 1 || got[0] != "secret" {
					t.Fatalf("field violations = %v, want secret", got)
				}
			}
			if key := strings.TrimPrefix(secret, "whsec_"); key != "" { // "whsec_" alone is no secret
				assertNoSecret(t, err, secret)
				assertNoSecret(t, err, key)
			}
		})
	}
}

func TestVerifyWebhookPlainSecretNeedsTheToken(t *testing.T) {
	t.Parallel()
	body := fixtures.Read(pushFixture)
	token := testSigningToken(3)
	// A signed delivery checked against a repository whose secret is a plain
	// token: the signature cannot stand in for the token.
	_, err := gitlab.New().VerifyWebhook(context.Background(), &scmv1.VerifyWebhookRequest{
		Delivery: &scmv1.WebhookDelivery{Headers: map[string]string{
			"x-gitlab-event": "Push Hook", "webhook-id": "a", "webhook-timestamp": "1",
			"webhook-signature": signDelivery(t, token, "a", "1", body),
		}, Body: body},
		Secret: testSecret, RepositoryExternalId: "4861503",
	})
	wantCode(t, err, codes.Unauthenticated, scmerr.ReasonSignatureInvalid)
}

func TestVerifyWebhookRefusesBadRequests(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		secret, repo string
		wantFields   []string
	}{
		"empty secret":        {secret: "", repo: "4861503", wantFields: []string{"secret"}},
		"empty repository id": {secret: testSecret, repo: "", wantFields: []string{"repository_external_id"}},
		"both":                {secret: "", repo: "", wantFields: []string{"repository_external_id", "secret"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := gitlab.New().VerifyWebhook(context.Background(), &scmv1.VerifyWebhookRequest{
				Delivery: fixtureDelivery(pushFixture), Secret: tt.secret, RepositoryExternalId: tt.repo,
			})
			d := wantCode(t, err, codes.InvalidArgument, scmerr.ReasonInvalidInput)
			if got := strings.Join(d.FieldNames(), ","); got != strings.Join(tt.wantFields, ",") {
				t.Fatalf("field violations = %s, want %v", got, tt.wantFields)
			}
			for _, f := range tt.wantFields {
				if !strings.Contains(d.Message, f) {
					t.Fatalf("message %q does not name %s", d.Message, f)
				}
			}
		})
	}
}

func TestVerifyWebhookAuthenticatesBeforeParsing(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		token  string
		code   codes.Code
		reason scmerr.Reason
	}{
		// A body that is not JSON with a wrong token is refused as
		// unauthenticated: nothing about the body is revealed or trusted.
		"wrong token": {token: "wrong", code: codes.Unauthenticated, reason: scmerr.ReasonSignatureInvalid},
		"right token": {token: testSecret, code: codes.InvalidArgument, reason: scmerr.ReasonPayloadInvalid},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := gitlab.New().VerifyWebhook(context.Background(), &scmv1.VerifyWebhookRequest{
				Delivery: &scmv1.WebhookDelivery{
					Headers: map[string]string{"x-gitlab-event": "Push Hook", "x-gitlab-token": tt.token},
					Body:    []byte(`{"object_kind":"push","project":{"id":4861503},"commits":[{"id":`),
				},
				Secret: testSecret, RepositoryExternalId: "4861503",
			})
			wantCode(t, err, tt.code, tt.reason)
		})
	}
}

func TestVerifyWebhookRefusesAPayloadWithoutAProject(t *testing.T) {
	t.Parallel()
	_, err := gitlab.New().VerifyWebhook(context.Background(), &scmv1.VerifyWebhookRequest{
		Delivery: &scmv1.WebhookDelivery{
			Headers: map[string]string{"x-gitlab-event": "Push Hook", "x-gitlab-token": testSecret},
			Body:    []byte(`{"object_kind":"push","ref":"refs/heads/main"}`),
		},
		Secret: testSecret, RepositoryExternalId: "4861503",
	})
	wantCode(t, err, codes.InvalidArgument, scmerr.ReasonPayloadInvalid)
}

func TestVerifyWebhookHonoursACancelledContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := gitlab.New().VerifyWebhook(ctx, &scmv1.VerifyWebhookRequest{Delivery: fixtureDelivery(pushFixture), Secret: testSecret, RepositoryExternalId: "4861503"})
	if scmerr.CodeOf(err) != codes.Canceled {
		t.Fatalf("error = %v, want Canceled", err)
	}
}

func ptr[T any](v T) *T { return &v }

// assertNoSecret fails when an error's message or details contain secret.
func assertNoSecret(t testing.TB, err error, secret string) {
	t.Helper()
	if secret == "" {
		return
	}
	d := scmerr.Parse(err)
	texts := []string{err.Error(), d.Message}
	for k, v := range d.Metadata {
		texts = append(texts, k, v)
	}
	for _, f := range d.Fields {
		texts = append(texts, f.Field, f.Description)
	}
	for _, s := range texts {
		if strings.Contains(s, secret) {
			t.Fatalf("error text %q contains a secret", s)
		}
	}
}
