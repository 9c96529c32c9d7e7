package gitlab_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// These tests check the GitLab provider's answers through its session; the
// session itself (ordering, bounds, panics, the secret table, the client)
// is tested in shared/webhooksession.

// sessionServer records when WebhookSession returns, so tests can see the
// session end on the provider's side.
type sessionServer struct {
	*gitlab.Provider
	ended chan error
}

func (s sessionServer) WebhookSession(stream scmv1.ProviderService_WebhookSessionServer) error {
	err := s.Provider.WebhookSession(stream)
	s.ended <- err
	return err
}

// inProcessProvider serves the provider over an in-memory gRPC connection.
func inProcessProvider(t *testing.T) (scmv1.ProviderServiceClient, <-chan error) {
	t.Helper()
	ended := make(chan error, 16)
	return plugintest.InMemory(t, sessionServer{Provider: gitlab.New(), ended: ended}), ended
}

// sessionError reads the google.rpc.Status of an error answer.
func sessionError(t *testing.T, resp *scmv1.WebhookSessionResponse) error {
	t.Helper()
	var st spb.Status
	if err := proto.Unmarshal(resp.GetError(), &st); err != nil {
		t.Fatalf("call %d: error is not a google.rpc.Status: %v", resp.GetId(), err)
	}
	return status.ErrorProto(&st)
}

// sessionCalls are calls with known answers: each id's expectation.
type sessionCall struct {
	req   *scmv1.WebhookSessionRequest
	check func(t *testing.T, resp *scmv1.WebhookSessionResponse)
}

// mixedSessionCalls makes n calls cycling through identify, verify, a wrong
// token and a payload about another project.
func mixedSessionCalls(n int, delivery func(i int) *scmv1.WebhookDelivery) map[uint64]sessionCall {
	calls := map[uint64]sessionCall{}
	for i := range n {
		id := uint64(1000 + i)
		d := delivery(i)
		switch i % 4 {
		case 0:
			calls[id] = sessionCall{
				req: &scmv1.WebhookSessionRequest{Id: id, Call: &scmv1.WebhookSessionRequest_Identify{Identify: &scmv1.IdentifyWebhookRequest{Delivery: d}}},
				check: func(t *testing.T, resp *scmv1.WebhookSessionResponse) {
					if resp.GetIdentify().GetRepositoryExternalId() != "4861503" {
						t.Errorf("call %d: identify answered %v", id, resp)
					}
				},
			}
		case 1:
			calls[id] = sessionCall{
				req: &scmv1.WebhookSessionRequest{Id: id, Call: &scmv1.WebhookSessionRequest_Verify{Verify: &scmv1.VerifyWebhookRequest{Delivery: d, Secret: testSecret, RepositoryExternalId: "4861503"}}},
				check: func(t *testing.T, resp *scmv1.WebhookSessionResponse) {
					if len(resp.GetVerify().GetEvents()) != 1 {
						t.Errorf("call %d: verify answered %v", id, resp)
					}
				},
			}
		case 2:
			calls[id] = sessionCall{
				req: &scmv1.WebhookSessionRequest{Id: id, Call: &scmv1.WebhookSessionRequest_Verify{Verify: &scmv1.VerifyWebhookRequest{Delivery: d, Secret: "another-secret", RepositoryExternalId: "4861503"}}},
				check: func(t *testing.T, resp *scmv1.WebhookSessionResponse) {
					if d := scmerr.Parse(sessionError(t, resp)); d.Code != codes.Unauthenticated || d.Reason != scmerr.ReasonSignatureInvalid {
						t.Errorf("call %d: wrong token answered %v %q", id, d.Code, d.Reason)
					}
				},
			}
		default:
			calls[id] = sessionCall{
				req: &scmv1.WebhookSessionRequest{Id: id, Call: &scmv1.WebhookSessionRequest_Verify{Verify: &scmv1.VerifyWebhookRequest{Delivery: d, Secret: testSecret, RepositoryExternalId: "99"}}},
				check: func(t *testing.T, resp *scmv1.WebhookSessionResponse) {
					if d := scmerr.Parse(sessionError(t, resp)); d.Code != codes.PermissionDenied || d.Reason != scmerr.ReasonRepositoryMismatch {
						t.Errorf("call %d: another project answered %v %q", id, d.Code, d.Reason)
					}
				},
			}
		}
	}
	return calls
}

// runSession sends every call while reading answers, closes its side, and
// checks that each call got exactly one answer and then the stream ended.
func runSession(t *testing.T, client scmv1.ProviderServiceClient, calls map[uint64]sessionCall) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := client.WebhookSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() {
		for _, c := range calls {
			if err := stream.Send(c.req); err != nil {
				sent <- err
				return
			}
		}
		sent <- stream.CloseSend()
	}()
	answered := map[uint64]bool{}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("receive after %d answers: %v", len(answered), err)
		}
		c, ok := calls[resp.GetId()]
		if !ok || answered[resp.GetId()] {
			t.Fatalf("answer for unknown or already answered call %d", resp.GetId())
		}
		answered[resp.GetId()] = true
		c.check(t, resp)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if len(answered) != len(calls) {
		t.Fatalf("%d of %d calls answered before the stream ended", len(answered), len(calls))
	}
}

func TestWebhookSessionAnswersEveryCallByID(t *testing.T) {
	t.Parallel()
	client, ended := inProcessProvider(t)
	runSession(t, client, mixedSessionCalls(200, func(int) *scmv1.WebhookDelivery { return fixtureDelivery(pushFixture) }))
	if err := <-ended; err != nil {
		t.Fatalf("session ended with %v after the host closed its side", err)
	}
}

func TestWebhookSessionRefusesAnEmptyCall(t *testing.T) {
	t.Parallel()
	client, _ := inProcessProvider(t)
	runSession(t, client, map[uint64]sessionCall{
		7: {
			req: &scmv1.WebhookSessionRequest{Id: 7},
			check: func(t *testing.T, resp *scmv1.WebhookSessionResponse) {
				d := scmerr.Parse(sessionError(t, resp))
				if d.Code != codes.InvalidArgument || len(d.Fields) != 1 || d.Fields[0].Field != "call" {
					t.Errorf("empty call answered %+v", d)
				}
			},
		},
		8: {
			req: &scmv1.WebhookSessionRequest{Id: 8, Call: &scmv1.WebhookSessionRequest_Verify{}},
			check: func(t *testing.T, resp *scmv1.WebhookSessionResponse) {
				if d := scmerr.Parse(sessionError(t, resp)); d.Code != codes.InvalidArgument {
					t.Errorf("verify without a request answered %+v", d)
				}
			},
		},
	})
}
