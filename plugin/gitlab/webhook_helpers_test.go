package gitlab_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim/fixtures"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// webhookFixtureDirs hold every webhook payload fixture.
var webhookFixtureDirs = []string{
	"client-go-v1.46.0/webhooks",
	"client-go-v1.46.0/systemhooks",
	"drone-go-scm/webhooks",
}

// fixtureEvents is the X-Gitlab-Event GitLab sends with each webhook
// fixture (fixtures/SOURCES.md; system hooks all send "System Hook").
func fixtureEvents() map[string]string {
	return map[string]string{
		"client-go-v1.46.0/webhooks/build.json":                 "Job Hook",
		"client-go-v1.46.0/webhooks/group_merge_request.json":   "Merge Request Hook",
		"client-go-v1.46.0/webhooks/job.json":                   "Job Hook",
		"client-go-v1.46.0/webhooks/merge_request.json":         "Merge Request Hook",
		"client-go-v1.46.0/webhooks/note_merge_request.json":    "Note Hook",
		"client-go-v1.46.0/webhooks/pipeline.json":              "Pipeline Hook",
		"client-go-v1.46.0/webhooks/project.json":               "Project Hook",
		"client-go-v1.46.0/webhooks/push.json":                  "Push Hook",
		"client-go-v1.46.0/webhooks/release.json":               "Release Hook",
		"client-go-v1.46.0/webhooks/service_merge_request.json": "Merge Request Hook",
		"client-go-v1.46.0/webhooks/tag_push.json":              "Tag Push Hook",
		"client-go-v1.46.0/systemhooks/merge_request.json":      "System Hook",
		"client-go-v1.46.0/systemhooks/project_create.json":     "System Hook",
		"client-go-v1.46.0/systemhooks/push.json":               "System Hook",
		"client-go-v1.46.0/systemhooks/repository_update.json":  "System Hook",
		"client-go-v1.46.0/systemhooks/tag_push.json":           "System Hook",
		"drone-go-scm/webhooks/branch_create.json":              "Push Hook",
		"drone-go-scm/webhooks/branch_delete.json":              "Push Hook",
		"drone-go-scm/webhooks/pull_request_close.json":         "Merge Request Hook",
		"drone-go-scm/webhooks/pull_request_create.json":        "Merge Request Hook",
		"drone-go-scm/webhooks/pull_request_merge.json":         "Merge Request Hook",
		"drone-go-scm/webhooks/pull_request_reopen.json":        "Merge Request Hook",
		"drone-go-scm/webhooks/push.json":                       "Push Hook",
		"drone-go-scm/webhooks/push_merge.json":                 "Push Hook",
		"drone-go-scm/webhooks/push_subgroup.json":              "Push Hook",
		"drone-go-scm/webhooks/tag_create.json":                 "Tag Push Hook",
		"drone-go-scm/webhooks/tag_delete.json":                 "Tag Push Hook",
	}
}

// TestFixtureEventsCoverEveryWebhookFixture keeps fixtureEvents complete: a
// new fixture needs its X-Gitlab-Event before the tables below use it.
func TestFixtureEventsCoverEveryWebhookFixture(t *testing.T) {
	t.Parallel()
	events := fixtureEvents()
	seen := 0
	for _, dir := range webhookFixtureDirs {
		entries, err := fs.ReadDir(fixtures.FS, dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := path.Join(dir, e.Name())
			if _, ok := events[name]; !ok {
				t.Errorf("fixture %s has no X-Gitlab-Event in fixtureEvents", name)
			}
			seen++
		}
	}
	if seen != len(events) {
		t.Errorf("fixtureEvents lists %d fixtures, the folders hold %d", len(events), seen)
	}
}

const (
	testSecret  = "s3cret-webhook-token"
	testEventID = "9cebe914-4827-408f-b014-cfa23a47a35f"
)

// fixtureDelivery is a fixture as GitLab delivers it: its event header, the
// test secret as X-Gitlab-Token and an event UUID.
func fixtureDelivery(name string) *scmv1.WebhookDelivery {
	return &scmv1.WebhookDelivery{
		Headers: map[string]string{
			"content-type":        "application/json",
			"x-gitlab-event":      fixtureEvents()[name],
			"x-gitlab-token":      testSecret,
			"x-gitlab-event-uuid": testEventID,
		},
		Body: fixtures.Read(name),
	}
}

// signDelivery signs body the Standard Webhooks way, computed here
// independently of the provider.
func signDelivery(t testing.TB, signingToken, id, timestamp string, body []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(signingToken, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, timestamp)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// testSigningToken is a fixed signing token ("whsec_" + base64 of 32 bytes).
func testSigningToken(seed byte) string {
	key := make([]byte, 32)
	for i := range key {
		key[i] = seed + byte(i)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// push20 is client-go's push fixture grown to 25 pushed commits of which
// the payload lists the newest 20, as GitLab does for a large push.
func push20(t testing.TB) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixtures.Read("client-go-v1.46.0/webhooks/push.json"), &m); err != nil {
		t.Fatal(err)
	}
	template := m["commits"].([]any)
	commits := make([]any, 0, 20)
	var last string
	for i := range 20 {
		c := map[string]any{}
		for k, v := range template[i%len(template)].(map[string]any) {
			c[k] = v
		}
		last = fmt.Sprintf("%040x", 0xc0ffee00+i)
		c["id"] = last
		c["url"] = "http://example.com/mike/diaspora/commit/" + last
		c["message"] = fmt.Sprintf("Change %d of the big push\n\nBody line with a \"quote\" and ünïcödé.\n", i+1)
		c["title"] = fmt.Sprintf("Change %d of the big push", i+1)
		c["timestamp"] = fmt.Sprintf("2024-03-%02dT10:%02d:00+01:00", 1+i%28, i)
		commits = append(commits, c)
	}
	m["commits"] = commits
	m["after"], m["checkout_sha"] = last, last
	m["total_commits_count"] = 25
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantCode fails unless err is an scm.v1 error with this code and reason.
func wantCode(t testing.TB, err error, code codes.Code, reason scmerr.Reason) scmerr.Details {
	t.Helper()
	d := scmerr.Parse(err)
	if d.Code != code || d.Reason != reason {
		t.Fatalf("error = %v (code %v, reason %q), want code %v reason %q", err, d.Code, d.Reason, code, reason)
	}
	return d
}

// assertProtoEqual fails with both messages in text form when they differ.
func assertProtoEqual(t testing.TB, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		opts := prototext.MarshalOptions{Multiline: true}
		t.Fatalf("got:\n%s\nwant:\n%s", opts.Format(got), opts.Format(want))
	}
}

// mutateFixture decodes a fixture, lets change edit it and encodes it again.
func mutateFixture(t testing.TB, name string, change func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixtures.Read(name), &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
