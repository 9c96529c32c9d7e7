package gitlab_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
	"github.com/oore-ci/oore-scm-gitlab/shared/webhooksession"
)

// webhookReceiver is the host's webhook endpoint in miniature: it turns
// each HTTP delivery into a WebhookDelivery the way scm.v1 asks (header
// names lower-cased, repeated headers joined with ", ").
func webhookReceiver(t *testing.T) (url string, deliveries <-chan *scmv1.WebhookDelivery) {
	t.Helper()
	ch := make(chan *scmv1.WebhookDelivery, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 25<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		headers := make(map[string]string, len(r.Header))
		for name, values := range r.Header {
			headers[strings.ToLower(name)] = strings.Join(values, ", ")
		}
		ch <- &scmv1.WebhookDelivery{Headers: headers, Body: body}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, ch
}

// receive waits for the next delivery the simulator sent.
func receive(t *testing.T, deliveries <-chan *scmv1.WebhookDelivery) *scmv1.WebhookDelivery {
	t.Helper()
	select {
	case d := <-deliveries:
		return d
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery arrived")
		return nil
	}
}

// TestWebhooksThroughThePluginProcess identifies and verifies deliveries
// that the GitLab simulator (a test double for GitLab) sends, through the
// real plugin binary launched as a host launches it.
func TestWebhooksThroughThePluginProcess(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	m := plugintest.BuildGitLab(t, t.TempDir())
	plug, err := launcher.Launch(ctx, m, launcher.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer plug.Close()
	provider := plug.Provider()

	sim := gitlabsim.NewTestServer(t, gitlabsim.Options{})
	demo := sim.SeedDemo()
	app := demo.FlutterApp
	repo := strconv.FormatInt(app.ID, 10)
	url, deliveries := webhookReceiver(t)
	const secret = "per-repository-webhook-secret"

	t.Run("push with a secret token", func(t *testing.T) {
		res, err := sim.SendWebhook(ctx, gitlabsim.WebhookSpec{ProjectID: app.ID, Kind: "push", URL: url, SecretToken: secret, Commits: 3, SkipCI: true})
		if err != nil {
			t.Fatal(err)
		}
		d := receive(t, deliveries)
		id, err := provider.IdentifyWebhook(ctx, &scmv1.IdentifyWebhookRequest{Delivery: d})
		if err != nil {
			t.Fatal(err)
		}
		assertProtoEqual(t, id, &scmv1.IdentifyWebhookResponse{
			RepositoryExternalId: repo, DeliveryId: res.IdempotencyKey,
			EventKind: scmv1.EventKind_EVENT_KIND_PUSH, EventName: "Push Hook",
			HasToken: true, InstanceUrl: sim.BaseURL(),
		})
		resp, err := provider.VerifyWebhook(ctx, &scmv1.VerifyWebhookRequest{Delivery: d, Secret: secret, RepositoryExternalId: id.GetRepositoryExternalId()})
		if err != nil {
			t.Fatal(err)
		}
		head, err := sim.BranchHead(app.ID, app.DefaultBranch)
		if err != nil {
			t.Fatal(err)
		}
		ev := resp.GetEvents()[0]
		push := ev.GetPush()
		if ev.GetRepositoryFullName() != app.PathWithNamespace || ev.GetCloneUrl() != app.HTTPURLToRepo || ev.GetWebUrl() != app.WebURL {
			t.Fatalf("repository %q %q %q, want %q %q %q", ev.GetRepositoryFullName(), ev.GetCloneUrl(), ev.GetWebUrl(), app.PathWithNamespace, app.HTTPURLToRepo, app.WebURL)
		}
		if push.GetBranch() != app.DefaultBranch || push.GetCheckoutSha() != head || push.GetAfter() != head ||
			push.GetCommitCount() != 3 || len(push.GetCommits()) != 3 || !push.GetSkipCi() || push.GetCreated() || push.GetDeleted() {
			t.Fatalf("push event %v; want 3 commits on %s ending at %s, asking to skip CI", push, app.DefaultBranch, head)
		}
		if resp.GetDeliveryId() != res.IdempotencyKey || resp.GetSignedAt() != 0 {
			t.Fatalf("delivery id %q signed_at %d", resp.GetDeliveryId(), resp.GetSignedAt())
		}

		_, err = provider.VerifyWebhook(ctx, &scmv1.VerifyWebhookRequest{Delivery: d, Secret: "the-old-secret", RepositoryExternalId: repo})
		wantCode(t, err, codes.Unauthenticated, scmerr.ReasonSignatureInvalid)
		assertNoSecret(t, err, secret)
		_, err = provider.VerifyWebhook(ctx, &scmv1.VerifyWebhookRequest{Delivery: d, Secret: secret, RepositoryExternalId: strconv.FormatInt(demo.Website.ID, 10)})
		wantCode(t, err, codes.PermissionDenied, scmerr.ReasonRepositoryMismatch)
	})

	t.Run("signed tag push", func(t *testing.T) {
		signing := gitlabsim.NewSigningToken()
		res, err := sim.SendWebhook(ctx, gitlabsim.WebhookSpec{ProjectID: app.ID, Kind: "tag_push", Tag: "v2.0.0", URL: url, SigningToken: signing})
		if err != nil {
			t.Fatal(err)
		}
		d := receive(t, deliveries)
		id, err := provider.IdentifyWebhook(ctx, &scmv1.IdentifyWebhookRequest{Delivery: d})
		if err != nil {
			t.Fatal(err)
		}
		if !id.GetHasSignature() || id.GetHasToken() || id.GetEventKind() != scmv1.EventKind_EVENT_KIND_TAG_PUSH {
			t.Fatalf("identify answered %v", id)
		}
		resp, err := provider.VerifyWebhook(ctx, &scmv1.VerifyWebhookRequest{Delivery: d, Secret: signing, RepositoryExternalId: repo})
		if err != nil {
			t.Fatal(err)
		}
		wantSigned, err := strconv.ParseInt(res.RequestHeaders.Get("webhook-timestamp"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetSignedAt() != wantSigned || resp.GetEvents()[0].GetTagPush().GetTag() != "v2.0.0" || !resp.GetEvents()[0].GetTagPush().GetCreated() {
			t.Fatalf("signed_at %d (want %d), event %v", resp.GetSignedAt(), wantSigned, resp.GetEvents())
		}
		_, err = provider.VerifyWebhook(ctx, &scmv1.VerifyWebhookRequest{Delivery: d, Secret: gitlabsim.NewSigningToken(), RepositoryExternalId: repo})
		wantCode(t, err, codes.Unauthenticated, scmerr.ReasonSignatureInvalid)
	})

	t.Run("merge request and a big push", func(t *testing.T) {
		if _, err := sim.SendWebhook(ctx, gitlabsim.WebhookSpec{ProjectID: app.ID, Kind: "merge_request", URL: url, SecretToken: secret}); err != nil {
			t.Fatal(err)
		}
		resp, err := provider.VerifyWebhook(ctx, &scmv1.VerifyWebhookRequest{Delivery: receive(t, deliveries), Secret: secret, RepositoryExternalId: repo})
		if err != nil {
			t.Fatal(err)
		}
		mr := resp.GetEvents()[0].GetMergeRequest()
		if mr.GetAction() != scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_OPENED || !mr.GetSameRepository() || !mr.GetHeadChanged() || len(mr.GetHeadSha()) != 40 {
			t.Fatalf("merge request event %v", mr)
		}

		if _, err := sim.SendWebhook(ctx, gitlabsim.WebhookSpec{ProjectID: app.ID, Kind: "push", URL: url, SecretToken: secret, Commits: 23}); err != nil {
			t.Fatal(err)
		}
		resp, err = provider.VerifyWebhook(ctx, &scmv1.VerifyWebhookRequest{Delivery: receive(t, deliveries), Secret: secret, RepositoryExternalId: repo})
		if err != nil {
			t.Fatal(err)
		}
		push := resp.GetEvents()[0].GetPush()
		if push.GetCommitCount() != 23 || len(push.GetCommits()) != 20 || push.GetCommits()[19].GetSha() != push.GetCheckoutSha() {
			t.Fatalf("big push: commit_count %d, %d commits", push.GetCommitCount(), len(push.GetCommits()))
		}
	})

	t.Run("receive with the secret the session holds", func(t *testing.T) {
		// Genuine deliveries of one repository: the first verified with a
		// secret_ref, the others received in one round trip.
		var real []*scmv1.WebhookDelivery
		for range 3 {
			if _, err := sim.SendWebhook(ctx, gitlabsim.WebhookSpec{ProjectID: app.ID, Kind: "push", URL: url, SecretToken: secret, Commits: 2}); err != nil {
				t.Fatal(err)
			}
			real = append(real, receive(t, deliveries))
		}
		forged := &scmv1.WebhookDelivery{Headers: map[string]string{}, Body: real[2].GetBody()}
		for k, v := range real[2].GetHeaders() {
			forged.Headers[k] = v
		}
		forged.Headers["x-gitlab-token"] = "a-forged-token"

		sess := webhooksession.NewClient(provider)
		defer sess.Close()
		identityOnly := func(what string, d *scmv1.WebhookDelivery) {
			t.Helper()
			got, err := sess.Receive(ctx, &scmv1.ReceiveWebhookRequest{Delivery: d})
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if got.GetIdentity().GetRepositoryExternalId() != repo || got.GetVerified() != nil || got.GetSecretRef() != "" {
				t.Fatalf("%s: receive answered %v, want the identity only", what, got)
			}
		}
		verifiedLikeVerify := func(what string, d *scmv1.WebhookDelivery, ref string) {
			t.Helper()
			got, err := sess.Receive(ctx, &scmv1.ReceiveWebhookRequest{Delivery: d})
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			want, err := provider.VerifyWebhook(ctx, &scmv1.VerifyWebhookRequest{Delivery: d, Secret: secret, RepositoryExternalId: repo})
			if err != nil {
				t.Fatal(err)
			}
			wantID, err := provider.IdentifyWebhook(ctx, &scmv1.IdentifyWebhookRequest{Delivery: d})
			if err != nil {
				t.Fatal(err)
			}
			assertProtoEqual(t, got.GetIdentity(), wantID)
			assertProtoEqual(t, got.GetVerified(), want)
			if got.GetSecretRef() != ref {
				t.Fatalf("%s: receive used secret_ref %q, want %q", what, got.GetSecretRef(), ref)
			}
		}

		identityOnly("before any verify", real[1])
		// A wrong secret with a ref: refused, and the session keeps nothing.
		_, err := sess.Verify(ctx, &scmv1.VerifyWebhookRequest{Delivery: real[0], Secret: "the-old-secret", RepositoryExternalId: repo, SecretRef: "v0"})
		wantCode(t, err, codes.Unauthenticated, scmerr.ReasonSignatureInvalid)
		identityOnly("after a wrong secret", real[1])

		if _, err := sess.Verify(ctx, &scmv1.VerifyWebhookRequest{Delivery: real[0], Secret: secret, RepositoryExternalId: repo, SecretRef: "v1"}); err != nil {
			t.Fatal(err)
		}
		verifiedLikeVerify("after a good verify", real[1], "v1")
		identityOnly("a forged token", forged)

		// A wrong secret with another ref leaves the good one in place.
		_, err = sess.Verify(ctx, &scmv1.VerifyWebhookRequest{Delivery: real[0], Secret: "the-old-secret", RepositoryExternalId: repo, SecretRef: "v2"})
		wantCode(t, err, codes.Unauthenticated, scmerr.ReasonSignatureInvalid)
		verifiedLikeVerify("after a wrong secret", real[2], "v1")
	})

	t.Run("session with 100 interleaved calls", func(t *testing.T) {
		// Real deliveries of two kinds, then 100 calls mixing identify,
		// verify, wrong secrets and another project's id over one stream.
		var real []*scmv1.WebhookDelivery
		for _, kind := range []string{"push", "merge_request"} {
			if _, err := sim.SendWebhook(ctx, gitlabsim.WebhookSpec{ProjectID: app.ID, Kind: kind, URL: url, SecretToken: secret}); err != nil {
				t.Fatal(err)
			}
			real = append(real, receive(t, deliveries))
		}
		stream, err := provider.WebhookSession(ctx)
		if err != nil {
			t.Fatal(err)
		}
		type want struct {
			code codes.Code
			kind scmv1.EventKind
		}
		wants := map[uint64]want{}
		var reqs []*scmv1.WebhookSessionRequest
		for i := range 100 {
			id := uint64(i + 1)
			d := real[i%2]
			kind := scmv1.EventKind_EVENT_KIND_PUSH
			if i%2 == 1 {
				kind = scmv1.EventKind_EVENT_KIND_MERGE_REQUEST
			}
			req := &scmv1.WebhookSessionRequest{Id: id}
			w := want{code: codes.OK, kind: kind}
			switch i % 5 {
			case 0:
				req.Call = &scmv1.WebhookSessionRequest_Identify{Identify: &scmv1.IdentifyWebhookRequest{Delivery: d}}
			case 1, 2:
				req.Call = &scmv1.WebhookSessionRequest_Verify{Verify: &scmv1.VerifyWebhookRequest{Delivery: d, Secret: secret, RepositoryExternalId: repo}}
			case 3:
				req.Call = &scmv1.WebhookSessionRequest_Verify{Verify: &scmv1.VerifyWebhookRequest{Delivery: d, Secret: "wrong", RepositoryExternalId: repo}}
				w.code = codes.Unauthenticated
			case 4:
				req.Call = &scmv1.WebhookSessionRequest_Verify{Verify: &scmv1.VerifyWebhookRequest{Delivery: d, Secret: secret, RepositoryExternalId: "1"}}
				w.code = codes.PermissionDenied
			}
			wants[id] = w
			reqs = append(reqs, req)
		}
		sent := make(chan error, 1)
		go func() {
			for _, req := range reqs {
				if err := stream.Send(req); err != nil {
					sent <- err
					return
				}
			}
			sent <- stream.CloseSend()
		}()
		answered := 0
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("after %d answers: %v", answered, err)
			}
			answered++
			w, ok := wants[resp.GetId()]
			if !ok {
				t.Fatalf("answer for unknown call %d", resp.GetId())
			}
			if resp.GetError() != nil {
				if got := scmerr.CodeOf(sessionError(t, resp)); got != w.code {
					t.Fatalf("call %d answered %v, want %v", resp.GetId(), got, w.code)
				}
				continue
			}
			kind := resp.GetIdentify().GetEventKind()
			if v := resp.GetVerify(); v != nil {
				kind = v.GetEventKind()
				if len(v.GetEvents()) != 1 || v.GetEvents()[0].GetRepositoryExternalId() != repo {
					t.Fatalf("call %d: verify answered %v", resp.GetId(), v)
				}
			}
			if w.code != codes.OK || kind != w.kind {
				t.Fatalf("call %d answered kind %v, want %v (code %v)", resp.GetId(), kind, w.kind, w.code)
			}
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		if answered != 100 {
			t.Fatalf("%d of 100 calls answered", answered)
		}
	})
}
