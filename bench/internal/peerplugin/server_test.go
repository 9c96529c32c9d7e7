package peerplugin

import (
	"bytes"
	"errors"
	"net/http"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim/fixtures"
)

func hookRequest(t *testing.T, event, token string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Gitlab-Event", event)
	req.Header.Set("Idempotency-Key", "delivery-1")
	if token != "" {
		req.Header.Set("X-Gitlab-Token", token)
	}
	return req
}

// TestHookNormalisesAPush checks the peer does the work it is compared for:
// the token checked, client-go's decoding, the push normalised.
func TestHookNormalisesAPush(t *testing.T) {
	t.Parallel()
	body := fixtures.Read("client-go-v1.46.0/webhooks/push.json")
	res, err := (&Forge{}).Hook(hookRequest(t, "Push Hook", "s3cret", body), "s3cret", "15")
	if err != nil {
		t.Fatal(err)
	}
	if res.DeliveryID != "delivery-1" || len(res.Events) != 1 {
		t.Fatalf("result %+v", res)
	}
	e := res.Events[0]
	p := e.Push
	if e.RepositoryExternalID != "15" || e.RepositoryFullName != "mike/diaspora" || p == nil {
		t.Fatalf("event %+v", e)
	}
	if p.Branch != "master" || p.CheckoutSHA != "da1560886d4f094c3e6c9ef40349f7d38b5d27d7" || p.CommitCount != 4 || len(p.Commits) != 2 {
		t.Errorf("push %+v", p)
	}
	if c := p.Commits[0]; c.SHA != "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327" || c.Timestamp != 1323692851 {
		t.Errorf("first commit %+v", c)
	}
	if p.Pusher.Username != "jsmith" {
		t.Errorf("pusher %+v", p.Pusher)
	}
}

func TestHookRefuses(t *testing.T) {
	t.Parallel()
	push := fixtures.Read("client-go-v1.46.0/webhooks/push.json")
	for name, tc := range map[string]struct {
		event, token, repo string
		body               []byte
		want               error
	}{
		"wrong token":      {"Push Hook", "guess", "15", push, ErrUnauthenticated},
		"no token":         {"Push Hook", "", "15", push, ErrUnauthenticated},
		"other repository": {"Push Hook", "s3cret", "16", push, ErrOtherRepository},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := (&Forge{}).Hook(hookRequest(t, tc.event, tc.token, tc.body), "s3cret", tc.repo)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	res, err := (&Forge{}).Hook(hookRequest(t, "Note Hook", "s3cret", fixtures.Read("client-go-v1.46.0/webhooks/note_merge_request.json")), "s3cret", "5")
	if err != nil || res.IgnoredReason == "" || len(res.Events) != 0 {
		t.Errorf("a note: %+v, %v; want ignored", res, err)
	}
}
