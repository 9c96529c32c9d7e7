package gitlab_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	gitlabapi "gitlab.com/gitlab-org/api/client-go"
	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim/fixtures"
	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// This file is the reference the lean decoder is held to: the same
// normalisation written over client-go's own webhook types, fed by
// gitlab.ParseHook. It also is the baseline of BenchmarkClientGoParsePush20.

const zeroSHA = "0000000000000000000000000000000000000000"

// clientGoEvents parses a delivery with client-go and normalises it. repo
// is the project the event is about ("" when it names none).
func clientGoEvents(event string, body []byte) (events []*scmv1.Event, repo string, err error) {
	parsed, err := gitlabapi.ParseHook(gitlabapi.EventType(event), body)
	if err != nil {
		return nil, "", err
	}
	switch e := parsed.(type) {
	case *gitlabapi.PushEvent:
		repo = clientGoID(e.Project.ID, e.ProjectID)
		return []*scmv1.Event{clientGoPush(e, repo)}, repo, nil
	case *gitlabapi.TagEvent:
		repo = clientGoID(e.Project.ID, e.ProjectID)
		return []*scmv1.Event{clientGoTag(e, repo)}, repo, nil
	case *gitlabapi.MergeEvent:
		repo = clientGoID(e.ObjectAttributes.TargetProjectID, e.Project.ID)
		if event == "System Hook" {
			return nil, repo, nil
		}
		return []*scmv1.Event{clientGoMergeRequest(e, repo)}, repo, nil
	case *gitlabapi.PushSystemEvent:
		return nil, clientGoID(e.ProjectID), nil
	case *gitlabapi.TagPushSystemEvent:
		return nil, clientGoID(e.ProjectID), nil
	case *gitlabapi.ProjectSystemEvent:
		return nil, clientGoID(e.ProjectID), nil
	case *gitlabapi.RepositoryUpdateSystemEvent:
		return nil, clientGoID(e.ProjectID), nil
	case *gitlabapi.JobEvent:
		return nil, clientGoID(e.ProjectID), nil
	case *gitlabapi.MergeCommentEvent:
		return nil, clientGoID(e.Project.ID, e.ProjectID), nil
	case *gitlabapi.PipelineEvent:
		return nil, clientGoID(e.Project.ID), nil
	case *gitlabapi.ProjectWebhookEvent:
		return nil, clientGoID(e.ProjectID), nil
	case *gitlabapi.ReleaseEvent:
		return nil, clientGoID(e.Project.ID), nil
	}
	return nil, "", nil
}

func clientGoID(ids ...int64) string {
	for _, id := range ids {
		if id > 0 {
			return strconv.FormatInt(id, 10)
		}
	}
	return ""
}

func clientGoUnix(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return t.Unix()
}

// clientGoSkipCI is GitLab's skip pattern, written independently of the
// provider's matcher.
func clientGoSkipCI(msg string) bool {
	lower := strings.ToLower(msg)
	for _, sep := range []string{" ", "-", "_"} {
		if strings.Contains(lower, "[skip"+sep+"ci]") || strings.Contains(lower, "[ci"+sep+"skip]") {
			return true
		}
	}
	return false
}

func clientGoPush(e *gitlabapi.PushEvent, repo string) *scmv1.Event {
	push := &scmv1.PushEvent{
		Ref: e.Ref, Branch: strings.TrimPrefix(e.Ref, "refs/heads/"),
		Before: e.Before, After: e.After, CheckoutSha: e.CheckoutSHA,
		Created: e.Before == zeroSHA, Deleted: e.After == zeroSHA,
		CommitCount: e.TotalCommitsCount,
		Pusher:      &scmv1.Person{Name: e.UserName, Email: e.UserEmail, Username: e.UserUsername},
	}
	if !strings.HasPrefix(e.Ref, "refs/heads/") {
		push.Branch = ""
	}
	head := e.CheckoutSHA
	if head == "" {
		head = e.After
	}
	var headMessage string
	for _, c := range e.Commits {
		push.Commits = append(push.Commits, &scmv1.Commit{
			Sha: c.ID, Message: c.Message, Title: c.Title, Timestamp: clientGoUnix(c.Timestamp), Url: c.URL,
			Author: &scmv1.Person{Name: c.Author.Name, Email: c.Author.Email},
		})
		if c.ID == head {
			headMessage = c.Message
		}
	}
	if n := len(e.Commits); n > 0 && headMessage == "" {
		headMessage = e.Commits[n-1].Message
	}
	push.SkipCi = !push.Deleted && clientGoSkipCI(headMessage)
	return &scmv1.Event{
		Kind: scmv1.EventKind_EVENT_KIND_PUSH, RepositoryExternalId: repo,
		RepositoryFullName: e.Project.PathWithNamespace, CloneUrl: e.Project.GitHTTPURL, WebUrl: e.Project.WebURL,
		Payload: &scmv1.Event_Push{Push: push},
	}
}

func clientGoTag(e *gitlabapi.TagEvent, repo string) *scmv1.Event {
	tag := &scmv1.TagPushEvent{
		Ref: e.Ref, Before: e.Before, After: e.After,
		Created: e.Before == zeroSHA, Deleted: e.After == zeroSHA,
		Pusher: &scmv1.Person{Name: e.UserName, Email: e.UserEmail, Username: e.UserUsername},
	}
	if name, ok := strings.CutPrefix(e.Ref, "refs/tags/"); ok {
		tag.Tag = name
	}
	if tag.Sha = e.CheckoutSHA; tag.Sha == "" && !tag.Deleted {
		tag.Sha = e.After
	}
	return &scmv1.Event{
		Kind: scmv1.EventKind_EVENT_KIND_TAG_PUSH, RepositoryExternalId: repo,
		RepositoryFullName: e.Project.PathWithNamespace, CloneUrl: e.Project.GitHTTPURL, WebUrl: e.Project.WebURL,
		Payload: &scmv1.Event_TagPush{TagPush: tag},
	}
}

func clientGoMergeRequest(e *gitlabapi.MergeEvent, repo string) *scmv1.Event {
	a := e.ObjectAttributes
	actions := map[string]scmv1.MergeRequestAction{
		"open": scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_OPENED, "reopen": scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_REOPENED,
		"update": scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_UPDATED, "close": scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_CLOSED,
		"merge": scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_MERGED,
	}
	action, ok := actions[a.Action]
	if !ok {
		action = scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_OTHER
	}
	mr := &scmv1.MergeRequestEvent{
		Number: a.IID, Id: clientGoID(a.ID), Action: action, ProviderAction: a.Action,
		Title: a.Title, Url: a.URL, State: a.State, SourceBranch: a.SourceBranch, TargetBranch: a.TargetBranch,
		SourceRepositoryExternalId: clientGoID(a.SourceProjectID), TargetRepositoryExternalId: clientGoID(a.TargetProjectID),
		HeadSha: a.LastCommit.ID, SameRepository: a.SourceProjectID > 0 && a.SourceProjectID == a.TargetProjectID,
		Draft: a.Draft || a.WorkInProgress, HeadChanged: a.OldRev != "" || a.Action == "open" || a.Action == "reopen",
		SkipCi: clientGoSkipCI(a.Title) || clientGoSkipCI(a.LastCommit.Message),
	}
	if e.User != nil {
		mr.Author = &scmv1.Person{Name: e.User.Name, Email: e.User.Email, Username: e.User.Username}
	} else {
		mr.Author = &scmv1.Person{}
	}
	ev := &scmv1.Event{
		Kind: scmv1.EventKind_EVENT_KIND_MERGE_REQUEST, RepositoryExternalId: repo,
		RepositoryFullName: e.Project.PathWithNamespace, CloneUrl: e.Project.GitHTTPURL, WebUrl: e.Project.WebURL,
		Payload: &scmv1.Event_MergeRequest{MergeRequest: mr},
	}
	if clientGoID(e.Project.ID) != repo && a.Target != nil && a.Target.GitHTTPURL != "" {
		ev.RepositoryFullName, ev.CloneUrl, ev.WebUrl = a.Target.PathWithNamespace, a.Target.GitHTTPURL, a.Target.WebURL
	}
	return ev
}

// TestLeanDecoderMatchesClientGo normalises every webhook fixture through
// the provider's lean decoder and through client-go's ParseHook with the
// same normalisation, and requires identical results.
func TestLeanDecoderMatchesClientGo(t *testing.T) {
	t.Parallel()
	cases := fixtureEvents()
	// Beyond the fixtures: a 20-commit push and a draft merge request from a fork.
	extra := map[string]struct {
		event string
		body  []byte
	}{
		"push20": {"Push Hook", push20(t)},
		"fork merge request": {"Merge Request Hook", mutateFixture(t, "drone-go-scm/webhooks/pull_request_create.json", func(m map[string]any) {
			attrs := m["object_attributes"].(map[string]any)
			attrs["source_project_id"], attrs["work_in_progress"], attrs["title"] = 900001, true, "Draft: tidy [skip ci]"
		})},
	}
	p := gitlab.New()
	check := func(t *testing.T, event string, body []byte) {
		want, repo, err := clientGoEvents(event, body)
		if err != nil {
			t.Fatalf("client-go: %v", err)
		}
		asked := repo
		if asked == "" {
			asked = "87" // the project the group hook's URL names
		}
		resp, err := p.VerifyWebhook(context.Background(), &scmv1.VerifyWebhookRequest{
			Delivery: &scmv1.WebhookDelivery{Headers: map[string]string{"x-gitlab-event": event, "x-gitlab-token": testSecret}, Body: body},
			Secret:   testSecret, RepositoryExternalId: asked,
		})
		if repo == "" {
			// Neither finds a project: the lean decoder refuses the payload.
			wantCode(t, err, codes.InvalidArgument, scmerr.ReasonPayloadInvalid)
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetEvents()) != len(want) {
			t.Fatalf("lean decoder: %d events, client-go: %d", len(resp.GetEvents()), len(want))
		}
		for i := range want {
			assertProtoEqual(t, resp.GetEvents()[i], want[i])
		}
		if len(want) == 0 && resp.GetIgnoredReason() == "" {
			t.Fatal("an event without normalised events has no ignored_reason")
		}
	}
	for name, event := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			check(t, event, fixtures.Read(name))
		})
	}
	for name, tt := range extra {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			check(t, tt.event, tt.body)
		})
	}
}
