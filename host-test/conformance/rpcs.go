package conformance

import (
	"context"
	"errors"
	"io"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// rpc is one method of the contract that a capability gates, and a call of
// it with an empty request.
type rpc struct {
	name       string
	capability scmv1.Capability
	empty      func(ctx context.Context, cl scmv1.ProviderServiceClient) error
}

// rpcs lists every RPC except GetProviderInfo, which every provider serves.
func rpcs() []rpc {
	return []rpc{
		{"ValidateConnection", scmv1.Capability_CAPABILITY_VALIDATE_CONNECTION, func(ctx context.Context, cl scmv1.ProviderServiceClient) error {
			_, err := cl.ValidateConnection(ctx, &scmv1.ValidateConnectionRequest{})
			return err
		}},
		{"CheckCredentials", scmv1.Capability_CAPABILITY_CHECK_CREDENTIALS, func(ctx context.Context, cl scmv1.ProviderServiceClient) error {
			_, err := cl.CheckCredentials(ctx, &scmv1.CheckCredentialsRequest{})
			return err
		}},
		{"BeginOAuth", scmv1.Capability_CAPABILITY_OAUTH, func(ctx context.Context, cl scmv1.ProviderServiceClient) error {
			_, err := cl.BeginOAuth(ctx, &scmv1.BeginOAuthRequest{})
			return err
		}},
		{"CompleteOAuth", scmv1.Capability_CAPABILITY_OAUTH, func(ctx context.Context, cl scmv1.ProviderServiceClient) error {
			_, err := cl.CompleteOAuth(ctx, &scmv1.CompleteOAuthRequest{})
			return err
		}},
		{"RefreshCredentials", scmv1.Capability_CAPABILITY_OAUTH, func(ctx context.Context, cl scmv1.ProviderServiceClient) error {
			_, err := cl.RefreshCredentials(ctx, &scmv1.RefreshCredentialsRequest{})
			return err
		}},
		{"RevokeCredentials", scmv1.Capability_CAPABILITY_OAUTH, func(ctx context.Context, cl scmv1.ProviderServiceClient) error {
			_, err := cl.RevokeCredentials(ctx, &scmv1.RevokeCredentialsRequest{})
			return err
		}},
		{"ListRepositories", scmv1.Capability_CAPABILITY_LIST_REPOSITORIES, func(ctx context.Context, cl scmv1.ProviderServiceClient) error {
			_, err := listAll(ctx, cl, &scmv1.ListRepositoriesRequest{})
			return err
		}},
		{"IdentifyWebhook", scmv1.Capability_CAPABILITY_WEBHOOKS, func(ctx context.Context, cl scmv1.ProviderServiceClient) error {
			_, err := cl.IdentifyWebhook(ctx, &scmv1.IdentifyWebhookRequest{})
			return err
		}},
		{"VerifyWebhook", scmv1.Capability_CAPABILITY_WEBHOOKS, func(ctx context.Context, cl scmv1.ProviderServiceClient) error {
			_, err := cl.VerifyWebhook(ctx, &scmv1.VerifyWebhookRequest{})
			return err
		}},
		{"WebhookSession", scmv1.Capability_CAPABILITY_WEBHOOK_SESSION, func(ctx context.Context, cl scmv1.ProviderServiceClient) error {
			resps, err := session(ctx, cl, &scmv1.WebhookSessionRequest{Id: 1, Call: &scmv1.WebhookSessionRequest_Verify{Verify: &scmv1.VerifyWebhookRequest{}}})
			if err != nil {
				return err
			}
			return sessionError(resps[1])
		}},
		{"GetCloneCredentials", scmv1.Capability_CAPABILITY_CLONE_CREDENTIALS, func(ctx context.Context, cl scmv1.ProviderServiceClient) error {
			_, err := cl.GetCloneCredentials(ctx, &scmv1.GetCloneCredentialsRequest{})
			return err
		}},
		{"EnsureProjectWebhook", scmv1.Capability_CAPABILITY_PROJECT_WEBHOOKS, func(ctx context.Context, cl scmv1.ProviderServiceClient) error {
			_, err := cl.EnsureProjectWebhook(ctx, &scmv1.EnsureProjectWebhookRequest{})
			return err
		}},
		{"DeleteProjectWebhook", scmv1.Capability_CAPABILITY_PROJECT_WEBHOOKS, func(ctx context.Context, cl scmv1.ProviderServiceClient) error {
			_, err := cl.DeleteProjectWebhook(ctx, &scmv1.DeleteProjectWebhookRequest{})
			return err
		}},
		{"SetCommitStatus", scmv1.Capability_CAPABILITY_COMMIT_STATUS, func(ctx context.Context, cl scmv1.ProviderServiceClient) error {
			_, err := cl.SetCommitStatus(ctx, &scmv1.SetCommitStatusRequest{})
			return err
		}},
	}
}

// listAll drains a ListRepositories stream: every repository, in order, and
// the number of messages they came in.
func listAll(ctx context.Context, cl scmv1.ProviderServiceClient, req *scmv1.ListRepositoriesRequest) (listing, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := cl.ListRepositories(ctx, req)
	if err != nil {
		return listing{}, err
	}
	var l listing
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return l, nil
		}
		if err != nil {
			return l, err
		}
		l.messages++
		l.repos = append(l.repos, msg.GetRepositories()...)
	}
}

// listing is a drained ListRepositories stream.
type listing struct {
	repos    []*scmv1.Repository
	messages int
}

// session sends reqs over one WebhookSession stream, closes the sending
// side and collects the responses by id. A stream that fails returns the
// error.
func session(ctx context.Context, cl scmv1.ProviderServiceClient, reqs ...*scmv1.WebhookSessionRequest) (map[uint64]*scmv1.WebhookSessionResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := cl.WebhookSession(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if err := stream.Send(r); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	out := map[uint64]*scmv1.WebhookSessionResponse{}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out[resp.GetId()] = resp
	}
}

// sessionError is the error a session response carries (nil when it
// answered). A missing response is an error too.
func sessionError(resp *scmv1.WebhookSessionResponse) error {
	if resp == nil {
		return errors.New("the session sent no response with this id")
	}
	raw := resp.GetError()
	if raw == nil {
		return nil
	}
	var st spb.Status
	if err := proto.Unmarshal(raw, &st); err != nil {
		return errors.New("the session's error is not a serialized google.rpc.Status")
	}
	return status.ErrorProto(&st)
}
