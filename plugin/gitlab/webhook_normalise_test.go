package gitlab_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim/fixtures"
	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

const zeros = "0000000000000000000000000000000000000000"

// unix reads an RFC 3339 time for expectations.
func unix(t *testing.T, s string) int64 {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts.Unix()
}

func helloWorld(kind scmv1.EventKind) *scmv1.Event {
	return &scmv1.Event{
		Kind:                 kind,
		RepositoryExternalId: "4861503",
		RepositoryFullName:   "gitlab-org/hello-world",
		CloneUrl:             "https://gitlab.com/gitlab-org/hello-world.git",
		WebUrl:               "https://gitlab.com/gitlab-org/hello-world",
	}
}

func withPush(ev *scmv1.Event, p *scmv1.PushEvent) *scmv1.Event {
	ev.Payload = &scmv1.Event_Push{Push: p}
	return ev
}

func withTag(ev *scmv1.Event, p *scmv1.TagPushEvent) *scmv1.Event {
	ev.Payload = &scmv1.Event_TagPush{TagPush: p}
	return ev
}

func withMR(ev *scmv1.Event, p *scmv1.MergeRequestEvent) *scmv1.Event {
	ev.Payload = &scmv1.Event_MergeRequest{MergeRequest: p}
	return ev
}

func sid() *scmv1.Person {
	return &scmv1.Person{Name: "Sid Sijbrandij", Email: "noreply@gitlab.com", Username: "sytses"}
}

func sidCommit(t *testing.T, sha, msg, ts, repoURL string) *scmv1.Commit {
	return &scmv1.Commit{
		Sha: sha, Message: msg, Timestamp: unix(t, ts),
		Url:    repoURL + "/commit/" + sha,
		Author: &scmv1.Person{Name: "Sid Sijbrandij", Email: "noreply@gitlab.com"},
	}
}

// helloMR is drone-go-scm's merge request 1 of gitlab-org/hello-world.
func helloMR(action scmv1.MergeRequestAction, word, state string, headChanged bool) *scmv1.Event {
	return withMR(helloWorld(scmv1.EventKind_EVENT_KIND_MERGE_REQUEST), &scmv1.MergeRequestEvent{
		Number: 1, Id: "6632669", Action: action, ProviderAction: word,
		Title: "update readme", Url: "https://gitlab.com/gitlab-org/hello-world/merge_requests/1", State: state,
		SourceBranch: "feature", TargetBranch: "master",
		SourceRepositoryExternalId: "4861503", TargetRepositoryExternalId: "4861503",
		HeadSha: "c4c79227ed610f1151f05bbc5be33b4f340d39c8", SameRepository: true, HeadChanged: headChanged,
		Author: &scmv1.Person{Name: "Sid Sijbrandij", Username: "sytses"},
	})
}

func TestVerifyWebhookNormalisesEveryFixture(t *testing.T) {
	t.Parallel()
	const (
		other = scmv1.EventKind_EVENT_KIND_OTHER
		mr    = scmv1.EventKind_EVENT_KIND_MERGE_REQUEST
		push  = scmv1.EventKind_EVENT_KIND_PUSH
		tag   = scmv1.EventKind_EVENT_KIND_TAG_PUSH
	)
	systemHook := "System Hook events do not trigger builds: system hooks are instance-wide; Oore builds from project webhooks"
	diaspora := "http://example.com/mike/diaspora"
	hello := "https://gitlab.com/gitlab-org/hello-world"
	tests := map[string]struct {
		repo    string
		kind    scmv1.EventKind
		event   *scmv1.Event // nil: ignored
		ignored string
	}{
		"client-go-v1.46.0/webhooks/build.json":                {repo: "380", kind: other, ignored: "Job Hook events do not trigger builds"},
		"client-go-v1.46.0/webhooks/job.json":                  {repo: "31537070", kind: other, ignored: "Job Hook events do not trigger builds"},
		"client-go-v1.46.0/webhooks/note_merge_request.json":   {repo: "5", kind: other, ignored: "Note Hook events do not trigger builds"},
		"client-go-v1.46.0/webhooks/pipeline.json":             {repo: "1", kind: other, ignored: "Pipeline Hook events do not trigger builds"},
		"client-go-v1.46.0/webhooks/project.json":              {repo: "7", kind: other, ignored: "Project Hook events do not trigger builds"},
		"client-go-v1.46.0/webhooks/release.json":              {repo: "327622", kind: other, ignored: "Release Hook events do not trigger builds"},
		"client-go-v1.46.0/systemhooks/merge_request.json":     {repo: "14", kind: mr, ignored: systemHook},
		"client-go-v1.46.0/systemhooks/project_create.json":    {repo: "74", kind: other, ignored: systemHook},
		"client-go-v1.46.0/systemhooks/push.json":              {repo: "15", kind: push, ignored: systemHook},
		"client-go-v1.46.0/systemhooks/repository_update.json": {repo: "1", kind: other, ignored: systemHook},
		"client-go-v1.46.0/systemhooks/tag_push.json":          {repo: "1", kind: tag, ignored: systemHook},

		"client-go-v1.46.0/webhooks/push.json": {repo: "15", kind: push, event: withPush(&scmv1.Event{
			Kind: push, RepositoryExternalId: "15", RepositoryFullName: "mike/diaspora",
			CloneUrl: diaspora + ".git", WebUrl: diaspora,
		}, &scmv1.PushEvent{
			Ref: "refs/heads/master", Branch: "master",
			Before: "95790bf891e76fee5e1747ab589903a6a1f80f22", After: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
			CheckoutSha: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", CommitCount: 4,
			Commits: []*scmv1.Commit{
				{
					Sha:       "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
					Message:   "Merge branch 'some-feature' into 'master'\n\nRelease v1.0.0\n\nSee merge request jsmith/example!1",
					Title:     "Merge branch 'some-feature' into 'master'",
					Timestamp: unix(t, "2011-12-12T14:27:31+02:00"),
					Url:       diaspora + "/commit/b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
					Author:    &scmv1.Person{Name: "Jordi Mallach", Email: "jordi@softcatala.org"},
				},
				{
					Sha: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", Message: "fixed readme\n", Title: "fixed readme",
					Timestamp: unix(t, "2012-01-03T23:36:29+02:00"),
					Url:       diaspora + "/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
					Author:    &scmv1.Person{Name: "GitLab dev user", Email: "gitlabdev@dv6700.(none)"},
				},
			},
			Pusher: &scmv1.Person{Name: "John Smith", Email: "john@example.com", Username: "jsmith"},
		})},
		"client-go-v1.46.0/webhooks/tag_push.json": {repo: "1", kind: tag, event: withTag(&scmv1.Event{
			Kind: tag, RepositoryExternalId: "1", RepositoryFullName: "jsmith/example",
			CloneUrl: "http://example.com/jsmith/example.git", WebUrl: "http://example.com/jsmith/example",
		}, &scmv1.TagPushEvent{
			Ref: "refs/tags/v1.0.0", Tag: "v1.0.0", Sha: "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
			Before: zeros, After: "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7", Created: true,
			Pusher: &scmv1.Person{Name: "John Smith", Username: "jsmith"},
		})},
		"client-go-v1.46.0/webhooks/merge_request.json": {repo: "14", kind: mr, event: withMR(&scmv1.Event{
			// project (id 1) is not the target project 14: the names come from object_attributes.target.
			Kind: mr, RepositoryExternalId: "14", RepositoryFullName: "awesome_space/awesome_project",
			CloneUrl: "http://example.com/awesome_space/awesome_project.git", WebUrl: "http://example.com/awesome_space/awesome_project",
		}, &scmv1.MergeRequestEvent{
			Number: 1, Id: "99", Action: scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_OPENED, ProviderAction: "open",
			Title: "MS-Viewport", Url: "http://example.com/diaspora/merge_requests/1", State: "opened",
			SourceBranch: "ms-viewport", TargetBranch: "master",
			SourceRepositoryExternalId: "14", TargetRepositoryExternalId: "14",
			HeadSha: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", SameRepository: true, HeadChanged: true,
			Author: &scmv1.Person{Name: "User1", Email: "user1@example.com", Username: "user1"},
		})},
		"client-go-v1.46.0/webhooks/service_merge_request.json": {repo: "2", kind: mr, event: withMR(&scmv1.Event{
			Kind: mr, RepositoryExternalId: "2", RepositoryFullName: "test/woodpecker",
			CloneUrl: "http://10.40.8.5:3200/test/woodpecker.git", WebUrl: "http://10.40.8.5:3200/test/woodpecker",
		}, &scmv1.MergeRequestEvent{
			Number: 2, Id: "2", Action: scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_UPDATED, ProviderAction: "update",
			Title: "Update client.go 🎉", Url: "http://10.40.8.5:3200/test/woodpecker/-/merge_requests/2", State: "opened",
			SourceBranch: "next-feature", TargetBranch: "master",
			SourceRepositoryExternalId: "2", TargetRepositoryExternalId: "2",
			HeadSha: "0ab96a10266b95b4b533dcfd98738015fbe70889", SameRepository: true,
			HeadChanged: true, // oldrev is set: new commits
			Author:      &scmv1.Person{Name: "the test", Email: "test@test.test", Username: "test"},
		})},

		"drone-go-scm/webhooks/branch_create.json": {repo: "4861503", kind: push, event: withPush(helloWorld(push), &scmv1.PushEvent{
			Ref: "refs/heads/feature", Branch: "feature", Before: zeros,
			After: "c4c79227ed610f1151f05bbc5be33b4f340d39c8", CheckoutSha: "c4c79227ed610f1151f05bbc5be33b4f340d39c8",
			Created: true, CommitCount: 1,
			Commits: []*scmv1.Commit{sidCommit(t, "c4c79227ed610f1151f05bbc5be33b4f340d39c8", "update readme\n", "2017-12-10T08:28:36+00:00", hello)},
			Pusher:  sid(),
		})},
		"drone-go-scm/webhooks/branch_delete.json": {repo: "4861503", kind: push, event: withPush(helloWorld(push), &scmv1.PushEvent{
			Ref: "refs/heads/feature", Branch: "feature", Before: "c4c79227ed610f1151f05bbc5be33b4f340d39c8", After: zeros,
			Deleted: true, Pusher: sid(), // checkout_sha is null: empty
		})},
		"drone-go-scm/webhooks/push.json": {repo: "4861503", kind: push, event: withPush(helloWorld(push), &scmv1.PushEvent{
			Ref: "refs/heads/master", Branch: "master", Before: "9217710ce8c7e1eae7a5d1c45f6e43e1c769f866",
			After: "2adc9465c4edfc33834e173fe89436a7cb899a1d", CheckoutSha: "2adc9465c4edfc33834e173fe89436a7cb899a1d", CommitCount: 1,
			Commits: []*scmv1.Commit{sidCommit(t, "2adc9465c4edfc33834e173fe89436a7cb899a1d", "added readme\n", "2017-12-10T08:26:38+00:00", hello)},
			Pusher:  sid(),
		})},
		"drone-go-scm/webhooks/push_merge.json": {repo: "4861503", kind: push, event: withPush(helloWorld(push), &scmv1.PushEvent{
			Ref: "refs/heads/master", Branch: "master", Before: "2adc9465c4edfc33834e173fe89436a7cb899a1d",
			After: "78a76ee6b4992a6baf64c59fc4c44c7323d60438", CheckoutSha: "78a76ee6b4992a6baf64c59fc4c44c7323d60438", CommitCount: 2,
			Commits: []*scmv1.Commit{
				sidCommit(t, "c4c79227ed610f1151f05bbc5be33b4f340d39c8", "update readme\n", "2017-12-10T08:28:36-08:00", hello),
				sidCommit(t, "78a76ee6b4992a6baf64c59fc4c44c7323d60438", "Merge branch 'feature' into 'master'\n\nupdate readme\n\nSee merge request gitlab-org/hello-world!1", "2017-12-10T17:08:06+00:00", hello),
			},
			Pusher: sid(),
		})},
		"drone-go-scm/webhooks/push_subgroup.json": {repo: "4861503", kind: push, event: withPush(&scmv1.Event{
			Kind: push, RepositoryExternalId: "4861503", RepositoryFullName: "group1/group2/group3/grp2repo",
			CloneUrl: "https://gitlab.com/group1/group2/group3/grp2repo.git", WebUrl: "https://gitlab.com/group1/group2/group3/grp2repo",
		}, &scmv1.PushEvent{
			Ref: "refs/heads/master", Branch: "master", Before: "9217710ce8c7e1eae7a5d1c45f6e43e1c769f866",
			After: "2adc9465c4edfc33834e173fe89436a7cb899a1d", CheckoutSha: "2adc9465c4edfc33834e173fe89436a7cb899a1d", CommitCount: 1,
			Commits: []*scmv1.Commit{sidCommit(t, "2adc9465c4edfc33834e173fe89436a7cb899a1d", "added readme\n", "2017-12-10T08:26:38+00:00", "https://gitlab.com/group1/group2/group3/grp2repo")},
			Pusher:  sid(),
		})},
		"drone-go-scm/webhooks/tag_create.json": {repo: "4861503", kind: tag, event: withTag(helloWorld(tag), &scmv1.TagPushEvent{
			Ref: "refs/tags/v1.0.0", Tag: "v1.0.0", Sha: "2adc9465c4edfc33834e173fe89436a7cb899a1d",
			Before: zeros, After: "2adc9465c4edfc33834e173fe89436a7cb899a1d", Created: true, Pusher: sid(),
		})},
		"drone-go-scm/webhooks/tag_delete.json": {repo: "4861503", kind: tag, event: withTag(helloWorld(tag), &scmv1.TagPushEvent{
			Ref: "refs/tags/v1.0.0", Tag: "v1.0.0", // no sha: the tag is gone
			Before: "2adc9465c4edfc33834e173fe89436a7cb899a1d", After: zeros, Deleted: true, Pusher: sid(),
		})},
		"drone-go-scm/webhooks/pull_request_create.json": {repo: "4861503", kind: mr, event: helloMR(scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_OPENED, "open", "opened", true)},
		"drone-go-scm/webhooks/pull_request_reopen.json": {repo: "4861503", kind: mr, event: helloMR(scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_REOPENED, "reopen", "opened", true)},
		"drone-go-scm/webhooks/pull_request_close.json":  {repo: "4861503", kind: mr, event: helloMR(scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_CLOSED, "close", "closed", false)},
		"drone-go-scm/webhooks/pull_request_merge.json":  {repo: "4861503", kind: mr, event: helloMR(scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_MERGED, "merge", "merged", false)},
	}
	p := gitlab.New()
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp, err := p.VerifyWebhook(context.Background(), &scmv1.VerifyWebhookRequest{
				Delivery: fixtureDelivery(name), Secret: testSecret, RepositoryExternalId: tt.repo,
			})
			if err != nil {
				t.Fatal(err)
			}
			want := &scmv1.VerifyWebhookResponse{DeliveryId: testEventID, EventKind: tt.kind, IgnoredReason: tt.ignored}
			if tt.event != nil {
				want.Events = []*scmv1.Event{tt.event}
			}
			assertProtoEqual(t, resp, want)
		})
	}

	// The one fixture left names no project (its keys end in spaces): it
	// cannot be verified for any repository.
	t.Run("client-go-v1.46.0/webhooks/group_merge_request.json", func(t *testing.T) {
		t.Parallel()
		_, err := p.VerifyWebhook(context.Background(), &scmv1.VerifyWebhookRequest{
			Delivery: fixtureDelivery("client-go-v1.46.0/webhooks/group_merge_request.json"), Secret: testSecret, RepositoryExternalId: "87",
		})
		wantCode(t, err, codes.InvalidArgument, scmerr.ReasonPayloadInvalid)
	})
	if len(tests)+1 != len(fixtureEvents()) {
		t.Fatalf("the table covers %d fixtures, fixtureEvents %d", len(tests)+1, len(fixtureEvents()))
	}
}

func TestVerifyWebhookKeepsTheNewest20CommitsOfABigPush(t *testing.T) {
	t.Parallel()
	body := push20(t)
	resp, err := gitlab.New().VerifyWebhook(context.Background(), &scmv1.VerifyWebhookRequest{
		Delivery: &scmv1.WebhookDelivery{
			Headers: map[string]string{"x-gitlab-event": "Push Hook", "x-gitlab-token": testSecret},
			Body:    body,
		},
		Secret: testSecret, RepositoryExternalId: "15",
	})
	if err != nil {
		t.Fatal(err)
	}
	push := resp.GetEvents()[0].GetPush()
	if push.GetCommitCount() != 25 || len(push.GetCommits()) != 20 {
		t.Fatalf("commit_count %d with %d commits, want 25 with 20", push.GetCommitCount(), len(push.GetCommits()))
	}
	for i, c := range push.GetCommits() {
		wantTitle := fmt.Sprintf("Change %d of the big push", i+1)
		if c.GetTitle() != wantTitle || !strings.HasPrefix(c.GetMessage(), wantTitle+"\n\nBody line with a \"quote\" and ünïcödé.") {
			t.Fatalf("commit %d: title %q message %q", i, c.GetTitle(), c.GetMessage())
		}
		if c.GetTimestamp() != unix(t, fmt.Sprintf("2024-03-%02dT10:%02d:00+01:00", 1+i%28, i)) {
			t.Fatalf("commit %d: timestamp %d", i, c.GetTimestamp())
		}
	}
	if push.GetCheckoutSha() != push.GetCommits()[19].GetSha() || push.GetSkipCi() {
		t.Fatalf("checkout_sha %q, skip_ci %v", push.GetCheckoutSha(), push.GetSkipCi())
	}
}

func TestVerifyWebhookSkipCI(t *testing.T) {
	t.Parallel()
	// Commits of drone-go-scm's push_merge.json: c4c79227 then 78a76ee6 (the head).
	tests := map[string]struct {
		firstMessage, headMessage, checkout string
		want                                bool
	}{
		"head asks":                        {"update readme", "Merge [skip ci]", "", true},
		"any case":                         {"update readme", "Merge [CI Skip]", "", true},
		"GitLab's separators":              {"update readme", "Merge [skip-ci]", "", true},
		"underscore":                       {"update readme", "Merge [ci_skip]", "", true},
		"only an older commit asks":        {"update readme [skip ci]", "Merge", "", false},
		"checkout_sha picks the head":      {"update readme [skip ci]", "Merge", "c4c79227ed610f1151f05bbc5be33b4f340d39c8", true},
		"without brackets it is just text": {"update readme", "Merge: skip ci", "", false},
		"other words in brackets":          {"update readme", "Merge [skip it]", "", false},
		"marker at the very end":           {"update readme", "[skip ci]", "", true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var m map[string]any
			if err := json.Unmarshal(fixtures.Read("drone-go-scm/webhooks/push_merge.json"), &m); err != nil {
				t.Fatal(err)
			}
			commits := m["commits"].([]any)
			commits[0].(map[string]any)["message"] = tt.firstMessage
			commits[1].(map[string]any)["message"] = tt.headMessage
			if tt.checkout != "" {
				m["checkout_sha"] = tt.checkout
			}
			body, _ := json.Marshal(m)
			resp, err := gitlab.New().VerifyWebhook(context.Background(), &scmv1.VerifyWebhookRequest{
				Delivery: &scmv1.WebhookDelivery{Headers: map[string]string{"x-gitlab-event": "Push Hook", "x-gitlab-token": testSecret}, Body: body},
				Secret:   testSecret, RepositoryExternalId: "4861503",
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.GetEvents()[0].GetPush().GetSkipCi(); got != tt.want {
				t.Fatalf("skip_ci = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVerifyWebhookMergeRequestDetails(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		attrs map[string]any
		check func(*scmv1.MergeRequestEvent) bool
	}{
		"approved is OTHER with GitLab's word": {
			attrs: map[string]any{"action": "approved"},
			check: func(m *scmv1.MergeRequestEvent) bool {
				return m.GetAction() == scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_OTHER && m.GetProviderAction() == "approved" && !m.GetHeadChanged()
			},
		},
		"unapproval is OTHER": {
			attrs: map[string]any{"action": "unapproval"},
			check: func(m *scmv1.MergeRequestEvent) bool {
				return m.GetAction() == scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_OTHER
			},
		},
		"update without oldrev keeps its head": {
			attrs: map[string]any{"action": "update"},
			check: func(m *scmv1.MergeRequestEvent) bool {
				return m.GetAction() == scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_UPDATED && !m.GetHeadChanged()
			},
		},
		"update with an empty oldrev keeps its head": {
			attrs: map[string]any{"action": "update", "oldrev": ""},
			check: func(m *scmv1.MergeRequestEvent) bool { return !m.GetHeadChanged() },
		},
		"update with oldrev has a new head": {
			attrs: map[string]any{"action": "update", "oldrev": "2adc9465c4edfc33834e173fe89436a7cb899a1d"},
			check: func(m *scmv1.MergeRequestEvent) bool { return m.GetHeadChanged() },
		},
		"draft": {
			attrs: map[string]any{"draft": true},
			check: func(m *scmv1.MergeRequestEvent) bool { return m.GetDraft() },
		},
		"work_in_progress is draft too": {
			attrs: map[string]any{"work_in_progress": true},
			check: func(m *scmv1.MergeRequestEvent) bool { return m.GetDraft() },
		},
		"fork": {
			attrs: map[string]any{"source_project_id": 900001},
			check: func(m *scmv1.MergeRequestEvent) bool {
				return !m.GetSameRepository() && m.GetSourceRepositoryExternalId() == "900001" && m.GetTargetRepositoryExternalId() == "4861503"
			},
		},
		"skip ci in the title": {
			attrs: map[string]any{"title": "Draft: speed up [ci skip]"},
			check: func(m *scmv1.MergeRequestEvent) bool { return m.GetSkipCi() },
		},
		"skip ci in the last commit": {
			attrs: map[string]any{"last_commit": map[string]any{"id": "c4c79227ed610f1151f05bbc5be33b4f340d39c8", "message": "docs [skip ci]\n"}},
			check: func(m *scmv1.MergeRequestEvent) bool { return m.GetSkipCi() },
		},
		"no skip ci": {
			attrs: map[string]any{},
			check: func(m *scmv1.MergeRequestEvent) bool { return !m.GetSkipCi() },
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var m map[string]any
			if err := json.Unmarshal(fixtures.Read("drone-go-scm/webhooks/pull_request_create.json"), &m); err != nil {
				t.Fatal(err)
			}
			attrs := m["object_attributes"].(map[string]any)
			for k, v := range tt.attrs {
				attrs[k] = v
			}
			body, _ := json.Marshal(m)
			resp, err := gitlab.New().VerifyWebhook(context.Background(), &scmv1.VerifyWebhookRequest{
				Delivery: &scmv1.WebhookDelivery{Headers: map[string]string{"x-gitlab-event": "Merge Request Hook", "x-gitlab-token": testSecret}, Body: body},
				Secret:   testSecret, RepositoryExternalId: "4861503",
			})
			if err != nil {
				t.Fatal(err)
			}
			if mr := resp.GetEvents()[0].GetMergeRequest(); !tt.check(mr) {
				t.Fatalf("unexpected merge request event: %v", mr)
			}
		})
	}
}

func TestVerifyWebhookWithoutEventHeaderUsesObjectKind(t *testing.T) {
	t.Parallel()
	d := fixtureDelivery("drone-go-scm/webhooks/tag_create.json")
	delete(d.Headers, "x-gitlab-event")
	resp, err := gitlab.New().VerifyWebhook(context.Background(), &scmv1.VerifyWebhookRequest{Delivery: d, Secret: testSecret, RepositoryExternalId: "4861503"})
	if err != nil {
		t.Fatal(err)
	}
	if tag := resp.GetEvents()[0].GetTagPush(); resp.GetEventKind() != scmv1.EventKind_EVENT_KIND_TAG_PUSH || tag.GetTag() != "v1.0.0" {
		t.Fatalf("kind %v, tag %q", resp.GetEventKind(), tag.GetTag())
	}
	// Service Hook (GitLab's integrations) is classified the same way.
	d.Headers["x-gitlab-event"] = "Service Hook"
	resp, err = gitlab.New().VerifyWebhook(context.Background(), &scmv1.VerifyWebhookRequest{Delivery: d, Secret: testSecret, RepositoryExternalId: "4861503"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetEvents()[0].GetTagPush().GetSha() != "2adc9465c4edfc33834e173fe89436a7cb899a1d" {
		t.Fatalf("Service Hook tag push normalised to %v", resp.GetEvents())
	}
}
