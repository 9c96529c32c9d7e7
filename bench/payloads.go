package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// webhook is one delivery as a host receives it, ready to be verified.
type webhook struct {
	// header is the HTTP header GitLab sent.
	header http.Header
	// body is the raw payload.
	body []byte
	// secret is the repository's secret token.
	secret string
	// projectID is the GitLab project the delivery is about.
	projectID string
	// commits is how many commits the push lists.
	commits int
}

// request is the scm.v1 verify request for the delivery.
func (w *webhook) request() *scmv1.VerifyWebhookRequest {
	return &scmv1.VerifyWebhookRequest{
		Delivery:             deliveryOf(w.header, w.body),
		Secret:               w.secret,
		RepositoryExternalId: w.projectID,
	}
}

// deliveryOf is the WebhookDelivery of an HTTP request: header names in
// lower case, repeated headers joined with ", ".
func deliveryOf(h http.Header, body []byte) *scmv1.WebhookDelivery {
	hs := make(map[string]string, len(h))
	for k, vs := range h {
		hs[strings.ToLower(k)] = strings.Join(vs, ", ")
	}
	return &scmv1.WebhookDelivery{Headers: hs, Body: body}
}

// pushWebhooks has the GitLab simulator make real pushes of each commit
// count in a real git repository and deliver them, and returns the deliveries
// exactly as a receiver got them (GitLab's headers, the secret token).
func pushWebhooks(ctx context.Context, commitCounts ...int) (map[int]*webhook, error) {
	sim := gitlabsim.New(gitlabsim.Options{})
	defer sim.Close()
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	sim.URL = simSrv.URL

	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer recv.Close()

	user := sim.AddUser("bench", "Bench Mark")
	project := sim.AddProject(gitlabsim.ProjectSpec{Namespace: "bench-group/mobile", Path: "flutter-app", Members: map[int64]int{user.ID: gitlabsim.MaintainerAccess}})
	const secret = "bench-webhook-secret-0123456789abcdef"
	out := map[int]*webhook{}
	for _, n := range commitCounts {
		res, err := sim.SendWebhook(ctx, gitlabsim.WebhookSpec{
			ProjectID: project.ID, Kind: "push", URL: recv.URL, SecretToken: secret, Commits: n,
		})
		if err != nil {
			return nil, fmt.Errorf("simulate a push of %d commits: %w", n, err)
		}
		if res.Status != http.StatusOK {
			return nil, fmt.Errorf("simulate a push of %d commits: receiver answered %d", n, res.Status)
		}
		out[n] = &webhook{
			header: res.RequestHeaders.Clone(), body: res.Payload, secret: secret,
			projectID: strconv.FormatInt(project.ID, 10), commits: n,
		}
	}
	return out, nil
}
