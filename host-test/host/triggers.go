package host

import (
	"fmt"
	"strings"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

// Reasons a delivery builds nothing. They are shown by /v1/webhook-deliveries.
const (
	reasonTagPush = "tag pushes do not trigger builds"
	reasonNoEvent = "the delivery holds no event that builds"
)

// decideBuilds turns a verified delivery's normalised events into build
// triggers, Oore's way: pushes to branches build checkout_sha; same-project
// merge requests build when opened, reopened, or updated with a new head
// commit. Everything else is ignored with a reason a person can read: fork
// merge requests, closed or merged ones, updates without a new head (labels),
// deleted branches, [skip ci], tag pushes and events the provider does not
// normalise.
func decideBuilds(v *scmv1.VerifyWebhookResponse) (triggers []store.BuildTrigger, ignored string) {
	var reasons []string
	for _, ev := range v.GetEvents() {
		switch p := ev.GetPayload().(type) {
		case *scmv1.Event_Push:
			t, reason := pushBuild(p.Push)
			if reason != "" {
				reasons = append(reasons, reason)
				continue
			}
			triggers = append(triggers, t)
		case *scmv1.Event_TagPush:
			reasons = append(reasons, reasonTagPush)
		case *scmv1.Event_MergeRequest:
			t, reason := mergeRequestBuild(p.MergeRequest)
			if reason != "" {
				reasons = append(reasons, reason)
				continue
			}
			triggers = append(triggers, t)
		default:
			if r := v.GetIgnoredReason(); r != "" {
				reasons = append(reasons, r)
			} else {
				reasons = append(reasons, fmt.Sprintf("%s events do not trigger builds", manifest.EventKindName(ev.GetKind())))
			}
		}
	}
	if len(v.GetEvents()) == 0 {
		if r := v.GetIgnoredReason(); r != "" {
			reasons = append(reasons, r)
		} else {
			reasons = append(reasons, reasonNoEvent)
		}
	}
	return triggers, strings.Join(dedupe(reasons), "; ")
}

func pushBuild(p *scmv1.PushEvent) (store.BuildTrigger, string) {
	name := p.GetBranch()
	if name == "" {
		name = p.GetRef()
	}
	switch {
	case p.GetDeleted():
		return store.BuildTrigger{}, fmt.Sprintf("branch %s was deleted", name)
	case p.GetBranch() == "":
		return store.BuildTrigger{}, fmt.Sprintf("push to %s is not to a branch", name)
	case p.GetSkipCi():
		return store.BuildTrigger{}, fmt.Sprintf("[skip ci] in the head commit pushed to %s", name)
	case p.GetCheckoutSha() == "":
		return store.BuildTrigger{}, fmt.Sprintf("push to %s has no commit to build", name)
	}
	return store.BuildTrigger{Kind: "push", Ref: p.GetRef(), Branch: p.GetBranch(), SHA: p.GetCheckoutSha()}, ""
}

func mergeRequestBuild(mr *scmv1.MergeRequestEvent) (store.BuildTrigger, string) {
	n := mr.GetNumber()
	if !mr.GetSameRepository() {
		return store.BuildTrigger{}, fmt.Sprintf("merge request !%d comes from a fork", n)
	}
	switch mr.GetAction() {
	case scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_OPENED, scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_REOPENED:
	case scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_UPDATED:
		if !mr.GetHeadChanged() {
			return store.BuildTrigger{}, fmt.Sprintf("merge request !%d was updated without a new head commit (labels, title or other fields)", n)
		}
	case scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_CLOSED:
		return store.BuildTrigger{}, fmt.Sprintf("merge request !%d was closed", n)
	case scmv1.MergeRequestAction_MERGE_REQUEST_ACTION_MERGED:
		return store.BuildTrigger{}, fmt.Sprintf("merge request !%d was merged", n)
	default:
		action := mr.GetProviderAction()
		if action == "" {
			action = strings.ToLower(strings.TrimPrefix(mr.GetAction().String(), "MERGE_REQUEST_ACTION_"))
		}
		return store.BuildTrigger{}, fmt.Sprintf("merge request !%d action %q does not trigger builds", n, action)
	}
	switch {
	case mr.GetSkipCi():
		return store.BuildTrigger{}, fmt.Sprintf("[skip ci] in the head commit of merge request !%d", n)
	case mr.GetHeadSha() == "":
		return store.BuildTrigger{}, fmt.Sprintf("merge request !%d names no head commit", n)
	}
	return store.BuildTrigger{Kind: "merge_request", Ref: "refs/heads/" + mr.GetSourceBranch(), Branch: mr.GetSourceBranch(),
		SHA: mr.GetHeadSha(), MergeRequestNumber: n}, ""
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
