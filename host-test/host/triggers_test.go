package host

import (
	"strings"
	"testing"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

func TestDecideBuilds(t *testing.T) {
	t.Parallel()
	push := func(p *scmv1.PushEvent) *scmv1.Event {
		return &scmv1.Event{Kind: scmv1.EventKind_EVENT_KIND_PUSH, Payload: &scmv1.Event_Push{Push: p}}
	}
	mr := func(m *scmv1.MergeRequestEvent) *scmv1.Event {
		return &scmv1.Event{Kind: scmv1.EventKind_EVENT_KIND_MERGE_REQUEST, Payload: &scmv1.Event_MergeRequest{MergeRequest: m}}
	}
	const (
		opened  = scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_OPENED
		updated = scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_UPDATED
	)
	tests := map[string]struct {
		resp       *scmv1.VerifyWebhookResponse
		wantKind   string
		wantSHA    string
		wantReason string
	}{
		"push to a branch builds checkout_sha": {
			resp:     &scmv1.VerifyWebhookResponse{Events: []*scmv1.Event{push(&scmv1.PushEvent{Ref: "refs/heads/main", Branch: "main", After: "aaa", CheckoutSha: "bbb"})}},
			wantKind: "push", wantSHA: "bbb",
		},
		"deleted branch": {
			resp:       &scmv1.VerifyWebhookResponse{Events: []*scmv1.Event{push(&scmv1.PushEvent{Ref: "refs/heads/old", Branch: "old", Deleted: true})}},
			wantReason: "branch old was deleted",
		},
		"skip ci": {
			resp:       &scmv1.VerifyWebhookResponse{Events: []*scmv1.Event{push(&scmv1.PushEvent{Ref: "refs/heads/main", Branch: "main", CheckoutSha: "c", SkipCi: true})}},
			wantReason: "[skip ci]",
		},
		"tag push": {
			resp: &scmv1.VerifyWebhookResponse{Events: []*scmv1.Event{{Kind: scmv1.EventKind_EVENT_KIND_TAG_PUSH,
				Payload: &scmv1.Event_TagPush{TagPush: &scmv1.TagPushEvent{Ref: "refs/tags/v1", Tag: "v1", Sha: "s"}}}}},
			wantReason: "tag pushes do not trigger builds",
		},
		"merge request opened": {
			resp:     &scmv1.VerifyWebhookResponse{Events: []*scmv1.Event{mr(&scmv1.MergeRequestEvent{Number: 3, Action: opened, SameRepository: true, SourceBranch: "f", HeadSha: "h"})}},
			wantKind: "merge_request", wantSHA: "h",
		},
		"merge request updated with a new head": {
			resp:     &scmv1.VerifyWebhookResponse{Events: []*scmv1.Event{mr(&scmv1.MergeRequestEvent{Number: 3, Action: updated, HeadChanged: true, SameRepository: true, SourceBranch: "f", HeadSha: "h2"})}},
			wantKind: "merge_request", wantSHA: "h2",
		},
		"merge request labels only": {
			resp:       &scmv1.VerifyWebhookResponse{Events: []*scmv1.Event{mr(&scmv1.MergeRequestEvent{Number: 3, Action: updated, SameRepository: true, HeadSha: "h"})}},
			wantReason: "without a new head commit",
		},
		"fork merge request": {
			resp:       &scmv1.VerifyWebhookResponse{Events: []*scmv1.Event{mr(&scmv1.MergeRequestEvent{Number: 4, Action: opened, HeadSha: "h"})}},
			wantReason: "comes from a fork",
		},
		"merged": {
			resp:       &scmv1.VerifyWebhookResponse{Events: []*scmv1.Event{mr(&scmv1.MergeRequestEvent{Number: 5, Action: scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_MERGED, SameRepository: true})}},
			wantReason: "was merged",
		},
		"closed": {
			resp:       &scmv1.VerifyWebhookResponse{Events: []*scmv1.Event{mr(&scmv1.MergeRequestEvent{Number: 5, Action: scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_CLOSED, SameRepository: true})}},
			wantReason: "was closed",
		},
		"approved": {
			resp:       &scmv1.VerifyWebhookResponse{Events: []*scmv1.Event{mr(&scmv1.MergeRequestEvent{Number: 5, Action: scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_OTHER, ProviderAction: "approved", SameRepository: true})}},
			wantReason: `action "approved"`,
		},
		"other event uses the plugin's reason": {
			resp:       &scmv1.VerifyWebhookResponse{EventKind: scmv1.EventKind_EVENT_KIND_OTHER, IgnoredReason: "Note Hook events are not handled"},
			wantReason: "Note Hook events are not handled",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, reason := decideBuilds(tc.resp)
			if tc.wantKind == "" {
				if len(got) != 0 {
					t.Fatalf("triggered %+v, want nothing", got)
				}
				if !strings.Contains(reason, tc.wantReason) {
					t.Fatalf("reason %q, want it to contain %q", reason, tc.wantReason)
				}
				return
			}
			if len(got) != 1 || got[0].Kind != tc.wantKind || got[0].SHA != tc.wantSHA || reason != "" {
				t.Fatalf("decideBuilds = %+v, %q; want one %s build of %s", got, reason, tc.wantKind, tc.wantSHA)
			}
		})
	}
}
