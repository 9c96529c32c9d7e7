package webhooksession

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// rawSession sends reqs over one stream while reading the answers, closes
// its side, and returns each call's answer once the stream ended. A call
// answered twice, or an answer to no call, fails the test.
func rawSession(t *testing.T, client scmv1.ProviderServiceClient, reqs []*scmv1.WebhookSessionRequest) map[uint64]*scmv1.WebhookSessionResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := client.WebhookSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() {
		for _, r := range reqs {
			if err := stream.Send(r); err != nil {
				sent <- err
				return
			}
		}
		sent <- stream.CloseSend()
	}()
	asked := map[uint64]bool{}
	for _, r := range reqs {
		asked[r.GetId()] = true
	}
	answers := map[uint64]*scmv1.WebhookSessionResponse{}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("receive after %d answers: %v", len(answers), err)
		}
		if !asked[resp.GetId()] || answers[resp.GetId()] != nil {
			t.Fatalf("answer for unknown or already answered call %d", resp.GetId())
		}
		answers[resp.GetId()] = resp
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if len(answers) != len(reqs) {
		t.Fatalf("%d of %d calls answered before the stream ended", len(answers), len(reqs))
	}
	return answers
}

// seqSession sends reqs over one stream one at a time, each after the
// previous one's answer, and returns the answers.
func seqSession(t *testing.T, client scmv1.ProviderServiceClient, reqs []*scmv1.WebhookSessionRequest) map[uint64]*scmv1.WebhookSessionResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := client.WebhookSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	answers := map[uint64]*scmv1.WebhookSessionResponse{}
	for _, r := range reqs {
		if err := stream.Send(r); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetId() != r.GetId() {
			t.Fatalf("call %d answered with id %d", r.GetId(), resp.GetId())
		}
		answers[resp.GetId()] = resp
	}
	_ = stream.CloseSend()
	return answers
}

func identifyReq(id uint64, d *scmv1.WebhookDelivery) *scmv1.WebhookSessionRequest {
	return &scmv1.WebhookSessionRequest{Id: id, Call: &scmv1.WebhookSessionRequest_Identify{Identify: &scmv1.IdentifyWebhookRequest{Delivery: d}}}
}

func verifyReq(id uint64, d *scmv1.WebhookDelivery, secret, repo, ref string) *scmv1.WebhookSessionRequest {
	return &scmv1.WebhookSessionRequest{Id: id, Call: &scmv1.WebhookSessionRequest_Verify{Verify: &scmv1.VerifyWebhookRequest{Delivery: d, Secret: secret, RepositoryExternalId: repo, SecretRef: ref}}}
}

func receiveReq(id uint64, d *scmv1.WebhookDelivery) *scmv1.WebhookSessionRequest {
	return &scmv1.WebhookSessionRequest{Id: id, Call: &scmv1.WebhookSessionRequest_Receive{Receive: &scmv1.ReceiveWebhookRequest{Delivery: d}}}
}

func TestServeAnswersEveryCallByID(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	var reqs []*scmv1.WebhookSessionRequest
	for i := range 200 {
		id := uint64(1000 + i)
		d := delivery("7", "tok", i)
		switch i % 5 {
		case 0:
			reqs = append(reqs, identifyReq(id, d))
		case 1:
			reqs = append(reqs, verifyReq(id, d, "tok", "7", ""))
		case 2:
			reqs = append(reqs, verifyReq(id, d, "other", "7", ""))
		case 3:
			reqs = append(reqs, verifyReq(id, d, "tok", "99", ""))
		default:
			reqs = append(reqs, receiveReq(id, d))
		}
	}
	answers := rawSession(t, r.client, reqs)
	for i := range 200 {
		id := uint64(1000 + i)
		resp := answers[id]
		want := strings.TrimPrefix(string(delivery("7", "tok", i).Body), `{"n":`)
		want = strings.TrimSuffix(want, "}")
		switch i % 5 {
		case 0:
			if resp.GetIdentify().GetDeliveryId() != want {
				t.Errorf("call %d: identify answered %v", id, resp)
			}
		case 1:
			if resp.GetVerify().GetDeliveryId() != want {
				t.Errorf("call %d: verify answered %v", id, resp)
			}
		case 2:
			if d := scmerr.Parse(sessionError(t, resp)); d.Code != codes.Unauthenticated || d.Reason != scmerr.ReasonSignatureInvalid {
				t.Errorf("call %d: wrong secret answered %v %q", id, d.Code, d.Reason)
			}
		case 3:
			if d := scmerr.Parse(sessionError(t, resp)); d.Code != codes.PermissionDenied {
				t.Errorf("call %d: another repository answered %v", id, d.Code)
			}
		default:
			// No verify here named a secret_ref: identity only.
			if resp.GetReceive().GetIdentity().GetDeliveryId() != want || resp.GetReceive().GetVerified() != nil {
				t.Errorf("call %d: receive answered %v", id, resp)
			}
		}
	}
	if err := <-r.srv.ended; err != nil {
		t.Fatalf("session ended with %v after the host closed its side", err)
	}
}

func TestServeRefusesEmptyAndUnknownCalls(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	unknown := &scmv1.WebhookSessionRequest{Id: 9}
	// A call kind from a newer contract: field 15, a message.
	unknown.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 15, protowire.BytesType), []byte{}))
	answers := rawSession(t, r.client, []*scmv1.WebhookSessionRequest{
		{Id: 7},
		unknown,
	})
	if d := scmerr.Parse(sessionError(t, answers[7])); d.Code != codes.InvalidArgument || len(d.Fields) != 1 || d.Fields[0].Field != "call" {
		t.Errorf("empty call answered %+v", d)
	}
	if d := scmerr.Parse(sessionError(t, answers[9])); d.Code != codes.Unimplemented || d.Reason != scmerr.ReasonUnimplemented {
		t.Errorf("unknown call kind answered %+v", d)
	}
}

func TestServeEndsWithTheContext(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := r.client.WebhookSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(identifyReq(1, delivery("7", "tok", 1))); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("receive after cancel: %v, want Canceled", err)
	}
	select {
	case err := <-r.srv.ended:
		if status.Code(err) != codes.Canceled {
			t.Fatalf("session ended with %v, want Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the session did not end after the context was cancelled")
	}
}

// TestServeAnswersInlineWhenAlone: sequential calls run on the goroutine
// that read them; a call that arrives while a slow one runs is read anyway
// (the reading moves on) and runs in its own goroutine.
func TestServeAnswersInlineWhenAlone(t *testing.T) {
	r := newRig(t)
	r.h.stacks = make(chan string, 16)
	const spawned = "created by github.com/oore-ci/oore-scm-gitlab/shared/webhooksession."

	saved := handOffAfter
	handOffAfter = time.Hour // no hand-off of a call slowed by a busy machine
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := r.client.WebhookSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := stream.Send(verifyReq(uint64(i+1), delivery("7", "tok", i), "tok", "7", "")); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
		if s := <-r.h.stacks; strings.Contains(s, spawned) || !strings.Contains(s, "webhooksession.(*loop).read(") {
			t.Fatalf("a lone call ran on a goroutine of its own:\n%s", s)
		}
	}
	_ = stream.CloseSend()
	<-r.srv.ended
	handOffAfter = saved

	stream, err = r.client.WebhookSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(verifyReq(1, delivery("7", "tok", 1, "x-block", "slow"), "tok", "7", "")); err != nil {
		t.Fatal(err)
	}
	<-r.h.stacks // the slow call started
	if err := stream.Send(identifyReq(2, delivery("7", "tok", 2))); err != nil {
		t.Fatal(err)
	}
	if s := <-r.h.stacks; !strings.Contains(s, spawned) {
		t.Fatalf("a call that overlapped another ran inline:\n%s", s)
	}
	resp, err := stream.Recv()
	if err != nil || resp.GetId() != 2 {
		t.Fatalf("first answer %v, %v: want call 2's while call 1 is still running", resp, err)
	}
	r.h.release("slow")
	if resp, err := stream.Recv(); err != nil || resp.GetVerify().GetDeliveryId() != "1" {
		t.Fatalf("the slow call answered %v, %v", resp, err)
	}
}

func TestServeBoundsCallsInFlight(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	var reqs []*scmv1.WebhookSessionRequest
	for i := range MaxCalls + 40 {
		reqs = append(reqs, verifyReq(uint64(i+1), delivery("7", "tok", i, "x-block", "all"), "tok", "7", ""))
	}
	done := make(chan map[uint64]*scmv1.WebhookSessionResponse, 1)
	go func() { done <- rawSession(t, r.client, reqs) }()
	deadline := time.Now().Add(30 * time.Second)
	for r.h.inflight.Load() < MaxCalls && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // room for a 65th call to start, if the bound were broken
	if n := r.h.maxInflight.Load(); n != MaxCalls {
		t.Fatalf("%d calls ran at once, want the bound %d", n, MaxCalls)
	}
	r.h.release("all")
	answers := <-done
	for id, resp := range answers {
		if resp.GetVerify() == nil {
			t.Fatalf("call %d answered %v", id, resp)
		}
	}
	if n := r.h.maxInflight.Load(); n != MaxCalls {
		t.Fatalf("%d calls ran at once, want at most %d", n, MaxCalls)
	}
}

func TestServePanicAnswersInternalAndKeepsServing(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	const secret = "s3cr3t-that-panics"
	answers := rawSession(t, r.client, []*scmv1.WebhookSessionRequest{
		verifyReq(1, delivery("7", secret, 1, "x-panic", "1"), secret, "7", "ref-1"),
	})
	if d := scmerr.Parse(sessionError(t, answers[1])); d.Code != codes.Internal || d.Reason != scmerr.ReasonInternal {
		t.Fatalf("a panic answered %+v, want Internal", d)
	}
	// The session went on: calls after the panic on another stream, and on
	// the same stream (sequential calls each run inline after it).
	answers = rawSession(t, r.client, []*scmv1.WebhookSessionRequest{
		verifyReq(1, delivery("7", secret, 1, "x-panic", "1"), secret, "7", "ref-1"),
		verifyReq(2, delivery("7", secret, 2), secret, "7", ""),
	})
	if answers[2].GetVerify().GetDeliveryId() != "2" {
		t.Fatalf("the call after a panic answered %v", answers[2])
	}
	logs := r.logs.String()
	if !strings.Contains(logs, "panicked") || !strings.Contains(logs, "goroutine") {
		t.Fatalf("the panic and its stack are not in the log:\n%s", logs)
	}
	if strings.Contains(logs, secret) {
		t.Fatalf("the log holds the secret:\n%s", logs)
	}
}

// TestServeNeverShowsTheSecret runs every kind of call, failing ones and a
// panicking receive too, and looks for the secrets in every answer's bytes
// and in the log.
func TestServeNeverShowsTheSecret(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	const good, wrong = "GOOD-secret-4711", "WRONG-secret-0815"
	answers := seqSession(t, r.client, []*scmv1.WebhookSessionRequest{
		verifyReq(1, delivery("7", good, 1), good, "7", "ref-1"),
		verifyReq(2, delivery("7", good, 2), wrong, "7", "ref-2"),
		verifyReq(3, delivery("7", good, 3), good, "8", "ref-3"),
		receiveReq(4, delivery("7", good, 4)),
		receiveReq(5, delivery("7", wrong, 5)),
		receiveReq(6, delivery("7", good, 6, "x-panic", "1")),
		receiveReq(7, delivery("7", good, 7, "x-identify-fails", "1")),
		verifyReq(8, delivery("7", good, 8, "x-panic", "1"), good, "7", "ref-8"),
	})
	for id, resp := range answers {
		b, err := proto.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(good)) || bytes.Contains(b, []byte(wrong)) {
			t.Errorf("answer %d holds a secret: %v", id, resp)
		}
	}
	if answers[4].GetReceive().GetSecretRef() != "ref-1" || answers[6].GetReceive().GetVerified() != nil {
		t.Errorf("receive answered %v and, panicking, %v", answers[4], answers[6])
	}
	logs := r.logs.String()
	if strings.Count(logs, "panicked") != 2 {
		t.Errorf("want two panics logged:\n%s", logs)
	}
	if strings.Contains(logs, good) || strings.Contains(logs, wrong) {
		t.Errorf("the log holds a secret:\n%s", logs)
	}
}

func TestSecretTableForgetsTheLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	tab := newSecretTable(3)
	tab.put("a", "sa", "ra")
	tab.put("b", "sb", "rb")
	tab.put("c", "sc", "rc")
	if _, ok := tab.get("a"); !ok { // a is now the most recently used
		t.Fatal("a is missing")
	}
	tab.put("b", "sb2", "rb2") // replaces, no growth; b most recent
	tab.put("d", "sd", "rd")   // full: c, least recently used, goes
	if tab.len() != 3 {
		t.Fatalf("table holds %d, want 3", tab.len())
	}
	if _, ok := tab.get("c"); ok {
		t.Error("c, the least recently used, was kept")
	}
	for repo, want := range map[string]secretEntry{"a": {"a", "sa", "ra"}, "b": {"b", "sb2", "rb2"}, "d": {"d", "sd", "rd"}} {
		if got, ok := tab.get(repo); !ok || got != want {
			t.Errorf("%s: %+v, %v; want %+v", repo, got, ok, want)
		}
	}
}
