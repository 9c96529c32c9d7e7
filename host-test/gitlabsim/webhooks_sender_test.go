package gitlabsim_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
)

type received struct {
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint that remembers what it got.
type receiver struct {
	mu   sync.Mutex
	got  []received
	URL  string
	code int
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{code: http.StatusOK}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: body})
		code := rc.code
		rc.mu.Unlock()
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL
	return rc
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// verifySignature checks a Standard Webhooks signature independently of the
// simulator's code.
func verifySignature(t *testing.T, signingToken string, h http.Header, body []byte) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(signingToken, "whsec_"))
	if err != nil || len(key) != 32 {
		t.Fatalf("signing token %q: key of %d bytes, %v", signingToken, len(key), err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := h.Get("webhook-signature"); !hmac.Equal([]byte(got), []byte(want)) {
		t.Fatalf("webhook-signature = %q, want %q", got, want)
	}
}

func TestSendWebhookHeadersSignatureAndPayload(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	rc := newReceiver(t)
	signing := gitlabsim.NewSigningToken()
	when := time.Unix(1767225600, 0)
	res, err := s.SendWebhook(context.Background(), gitlabsim.WebhookSpec{
		ProjectID: d.FlutterApp.ID, URL: rc.URL + "/v1/webhooks/gitlab",
		SecretToken: "s3cret", SigningToken: signing, Timestamp: when,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 || string(res.Body) != "ok" {
		t.Fatalf("result %d %q", res.Status, res.Body)
	}
	got := rc.all()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	h, body := got[0].header, got[0].body
	for k, v := range map[string]string{
		"Content-Type":      "application/json",
		"User-Agent":        "GitLab/17.6.0",
		"X-Gitlab-Event":    "Push Hook",
		"X-Gitlab-Token":    "s3cret",
		"X-Gitlab-Instance": s.URL,
		"Idempotency-Key":   res.IdempotencyKey,
		"webhook-id":        res.IdempotencyKey,
		"webhook-timestamp": "1767225600",
	} {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	for _, k := range []string{"X-Gitlab-Event-UUID", "X-Gitlab-Webhook-UUID", "Idempotency-Key"} {
		if _, err := uuid.Parse(h.Get(k)); err != nil {
			t.Errorf("%s = %q is not a UUID", k, h.Get(k))
		}
	}
	if h.Get("X-Gitlab-Event-UUID") == h.Get("Idempotency-Key") || res.DeliveryID != res.IdempotencyKey {
		t.Error("UUIDs are not distinct")
	}
	verifySignature(t, signing, h, body)

	ev, err := gitlab.ParseWebhook(gitlab.EventTypePush, body)
	if err != nil {
		t.Fatal(err)
	}
	push := ev.(*gitlab.PushEvent)
	head, err := s.BranchHead(d.FlutterApp.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	if push.ProjectID != d.FlutterApp.ID || push.Project.PathWithNamespace != "oore-demo/mobile/flutter-app" ||
		push.Ref != "refs/heads/main" || push.CheckoutSHA != head || push.After != head ||
		push.TotalCommitsCount != 1 || len(push.Commits) != 1 || push.Commits[0].ID != head ||
		push.Project.GitHTTPURL != s.URL+"/oore-demo/mobile/flutter-app.git" || push.UserUsername != "demo" ||
		!push.RefProtected {
		t.Errorf("push event = %+v", push)
	}
	if push.Before == head || len(push.Before) != 40 {
		t.Errorf("before = %q", push.Before)
	}

	// Resend: same delivery identity and body, a valid signature again.
	res2, err := s.Resend(context.Background(), res)
	if err != nil {
		t.Fatal(err)
	}
	got = rc.all()
	if len(got) != 2 {
		t.Fatalf("%d deliveries after resend", len(got))
	}
	for _, k := range []string{"Idempotency-Key", "X-Gitlab-Event-UUID", "X-Gitlab-Webhook-UUID", "webhook-id"} {
		if got[1].header.Get(k) != got[0].header.Get(k) {
			t.Errorf("resend changed %s", k)
		}
	}
	if string(got[1].body) != string(body) || res2.IdempotencyKey != res.IdempotencyKey {
		t.Error("resend changed the body or the key")
	}
	verifySignature(t, signing, got[1].header, got[1].body)
	if n := len(s.Deliveries()); n != 2 {
		t.Errorf("Deliveries = %d", n)
	}
}

func TestWebhookWithoutSecretsSendsNoSecretHeaders(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	rc := newReceiver(t)
	rc.code = http.StatusUnauthorized
	res, err := s.SendWebhook(context.Background(), gitlabsim.WebhookSpec{
		ProjectID: d.Website.ID, URL: rc.URL, Headers: map[string]string{"X-Extra": "1", "User-Agent": ""},
	})
	if err != nil || res.Status != http.StatusUnauthorized {
		t.Fatalf("status %v, err %v", res, err)
	}
	h := rc.all()[0].header
	for _, k := range []string{"X-Gitlab-Token", "webhook-id", "webhook-signature", "webhook-timestamp"} {
		if _, ok := h[http.CanonicalHeaderKey(k)]; ok {
			t.Errorf("%s sent without a secret", k)
		}
	}
	if h.Get("X-Extra") != "1" || h.Get("User-Agent") == "GitLab/17.6.0" {
		t.Errorf("extra headers not applied: %v", h)
	}
	// A refused connection is an error with a result.
	if _, err := s.SendWebhook(context.Background(), gitlabsim.WebhookSpec{ProjectID: d.Website.ID, URL: "http://127.0.0.1:1/"}); err == nil {
		t.Error("no error for a refused connection")
	}
}

type pushPayload struct {
	Before            string  `json:"before"`
	After             string  `json:"after"`
	Ref               string  `json:"ref"`
	CheckoutSHA       *string `json:"checkout_sha"`
	TotalCommitsCount int     `json:"total_commits_count"`
	Commits           []struct {
		ID       string   `json:"id"`
		Message  string   `json:"message"`
		Title    string   `json:"title"`
		Modified []string `json:"modified"`
	} `json:"commits"`
}

func sendPush(t *testing.T, s *gitlabsim.Server, spec gitlabsim.WebhookSpec) pushPayload {
	t.Helper()
	rc := newReceiver(t)
	spec.URL = rc.URL
	if _, err := s.SendWebhook(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	var p pushPayload
	if err := json.Unmarshal(rc.all()[0].body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPushPayloadCommits(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	id := d.FlutterApp.ID
	before, err := s.BranchHead(id, "main")
	if err != nil {
		t.Fatal(err)
	}
	p := sendPush(t, s, gitlabsim.WebhookSpec{ProjectID: id, Commits: 25, SkipCI: true})
	head, _ := s.BranchHead(id, "main")
	if p.Before != before || p.After != head || *p.CheckoutSHA != head || p.TotalCommitsCount != 25 || len(p.Commits) != 20 {
		t.Fatalf("push: before %s after %s total %d commits %d", p.Before, p.After, p.TotalCommitsCount, len(p.Commits))
	}
	if p.Commits[19].ID != head {
		t.Errorf("newest commit is not last")
	}
	first, _ := strconv.Atoi(strings.TrimSuffix(strings.Fields(p.Commits[0].Title)[3], ")"))
	last, _ := strconv.Atoi(strings.TrimSuffix(strings.Fields(p.Commits[19].Title)[3], ")"))
	if last-first != 19 {
		t.Errorf("not the newest 20: %q .. %q", p.Commits[0].Title, p.Commits[19].Title)
	}
	if !strings.Contains(p.Commits[0].Message, "[skip ci]") || p.Commits[0].Modified[0] != "CHANGES.md" {
		t.Errorf("commit = %+v", p.Commits[0])
	}

	created := sendPush(t, s, gitlabsim.WebhookSpec{ProjectID: id, Branch: "feature/x", CreateBranch: true})
	fx, _ := s.BranchHead(id, "feature/x")
	if created.Before != strings.Repeat("0", 40) || created.After != fx || created.Ref != "refs/heads/feature/x" {
		t.Errorf("branch create = %+v", created)
	}
	deleted := sendPush(t, s, gitlabsim.WebhookSpec{ProjectID: id, Branch: "feature/x", Delete: true})
	if deleted.Before != fx || deleted.After != strings.Repeat("0", 40) || deleted.CheckoutSHA != nil || len(deleted.Commits) != 0 {
		t.Errorf("branch delete = %+v", deleted)
	}
	if _, err := s.BranchHead(id, "feature/x"); err == nil {
		t.Error("deleted branch still exists")
	}
}

func TestOtherEventKindsParseWithClientGo(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	id := d.FlutterApp.ID
	send := func(spec gitlabsim.WebhookSpec) (string, any) {
		t.Helper()
		rc := newReceiver(t)
		spec.URL, spec.ProjectID = rc.URL, id
		if _, err := s.SendWebhook(context.Background(), spec); err != nil {
			t.Fatal(err)
		}
		r := rc.all()[0]
		ev, err := gitlab.ParseWebhook(gitlab.EventType(r.header.Get("X-Gitlab-Event")), r.body)
		if err != nil {
			t.Fatalf("%s: %v", spec.Kind, err)
		}
		return r.header.Get("X-Gitlab-Event"), ev
	}

	hdr, ev := send(gitlabsim.WebhookSpec{Kind: "tag_push", Tag: "v2.0.0"})
	tag := ev.(*gitlab.TagEvent)
	head, _ := s.BranchHead(id, "main")
	if hdr != "Tag Push Hook" || tag.Ref != "refs/tags/v2.0.0" || tag.Before != strings.Repeat("0", 40) || tag.CheckoutSHA != head {
		t.Errorf("tag push %s %+v", hdr, tag)
	}

	hdr, ev = send(gitlabsim.WebhookSpec{Kind: "merge_request", Branch: "feature/login"})
	mr := ev.(*gitlab.MergeEvent)
	fl, _ := s.BranchHead(id, "feature/login")
	if hdr != "Merge Request Hook" || mr.ObjectAttributes.Action != "open" || mr.ObjectAttributes.State != "opened" ||
		mr.ObjectAttributes.SourceProjectID != id || mr.ObjectAttributes.TargetProjectID != id ||
		mr.ObjectAttributes.SourceBranch != "feature/login" || mr.ObjectAttributes.TargetBranch != "main" ||
		mr.ObjectAttributes.LastCommit.ID != fl || mr.Project.ID != id {
		t.Errorf("merge request %s %+v", hdr, mr.ObjectAttributes)
	}
	_, ev = send(gitlabsim.WebhookSpec{Kind: "merge_request", Action: "update", Commits: 1, MergeRequestIID: mr.ObjectAttributes.IID, Branch: "feature/login"})
	upd := ev.(*gitlab.MergeEvent)
	fl2, _ := s.BranchHead(id, "feature/login")
	if upd.ObjectAttributes.OldRev != fl || upd.ObjectAttributes.LastCommit.ID != fl2 || fl2 == fl {
		t.Errorf("update: oldrev %s last %s", upd.ObjectAttributes.OldRev, upd.ObjectAttributes.LastCommit.ID)
	}
	_, ev = send(gitlabsim.WebhookSpec{Kind: "merge_request", Fork: true})
	fork := ev.(*gitlab.MergeEvent)
	if fork.ObjectAttributes.SourceProjectID == id || fork.ObjectAttributes.TargetProjectID != id {
		t.Errorf("fork: source %d target %d", fork.ObjectAttributes.SourceProjectID, fork.ObjectAttributes.TargetProjectID)
	}

	hdr, ev = send(gitlabsim.WebhookSpec{Kind: "note", MergeRequestIID: mr.ObjectAttributes.IID})
	if note, ok := ev.(*gitlab.MergeCommentEvent); !ok || hdr != "Note Hook" || note.ProjectID != id {
		t.Errorf("note %s %T", hdr, ev)
	}
	hdr, ev = send(gitlabsim.WebhookSpec{Kind: "pipeline", Action: "failed"})
	if p, ok := ev.(*gitlab.PipelineEvent); !ok || hdr != "Pipeline Hook" || p.ObjectAttributes.Status != "failed" || p.ObjectAttributes.SHA != head {
		t.Errorf("pipeline %s %+v", hdr, ev)
	}
}

func TestTriggerPushDeliversToRegisteredHooks(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	main, release, off := newReceiver(t), newReceiver(t), newReceiver(t)
	signing := gitlabsim.NewSigningToken()
	hooks := "/api/v4/projects/" + itoa(d.FlutterApp.ID) + "/hooks"
	for _, body := range []string{
		`{"url":"` + main.URL + `/hook","token":"hook-secret","push_events":true,"signing_token":"` + signing + `"}`,
		`{"url":"` + release.URL + `","push_events":true,"push_events_branch_filter":"release/*"}`,
		`{"url":"` + off.URL + `","push_events":false,"tag_push_events":true}`,
	} {
		if a := do(t, s, "POST", hooks, d.Token, body); a.status != 201 {
			t.Fatalf("create hook: %d %s", a.status, a.body)
		}
	}
	results, err := s.TriggerPush(context.Background(), d.FlutterApp.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || len(main.all()) != 1 || len(release.all()) != 0 || len(off.all()) != 0 {
		t.Fatalf("deliveries: results %d main %d release %d off %d", len(results), len(main.all()), len(release.all()), len(off.all()))
	}
	r := main.all()[0]
	if r.header.Get("X-Gitlab-Token") != "hook-secret" {
		t.Errorf("X-Gitlab-Token = %q", r.header.Get("X-Gitlab-Token"))
	}
	verifySignature(t, signing, r.header, r.body)
	var p pushPayload
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	head, _ := s.BranchHead(d.FlutterApp.ID, "main")
	if *p.CheckoutSHA != head {
		t.Errorf("checkout_sha %s, repository head %s", *p.CheckoutSHA, head)
	}

	if _, err := s.TriggerPush(context.Background(), d.FlutterApp.ID, "release/1.0"); err != nil {
		t.Fatal(err)
	}
	if len(release.all()) != 1 || len(main.all()) != 2 {
		t.Errorf("release push: release %d main %d", len(release.all()), len(main.all()))
	}
}
