package host

import (
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

func TestBuildRef(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		trigger store.BuildTrigger
		want    string
	}{
		"push":                {store.BuildTrigger{Kind: "push", Ref: "refs/heads/main", Branch: "main"}, "main"},
		"branch with slashes": {store.BuildTrigger{Kind: "push", Ref: "refs/heads/feature/x", Branch: "feature/x"}, "feature/x"},
		"merge request":       {store.BuildTrigger{Kind: "merge_request", Ref: "refs/heads/fix", Branch: "fix", MergeRequestNumber: 3}, "fix"},
		"ref only":            {store.BuildTrigger{Ref: "refs/heads/dev"}, "dev"},
		"tag":                 {store.BuildTrigger{Ref: "refs/tags/v1.0.0"}, "v1.0.0"},
		"bare name":           {store.BuildTrigger{Ref: "main"}, "main"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := buildRef(tc.trigger); got != tc.want {
				t.Fatalf("buildRef = %q, want %q", got, tc.want)
			}
		})
	}
}

// Every state the API accepts maps onto the contract and onto a build
// status; the validator's oneof and these maps must not drift apart.
func TestCommitStateMaps(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"pending", "running", "success", "failed", "canceled"} {
		if aerr := validateStruct(&commitStatusRequest{State: s}); aerr != nil {
			t.Errorf("state %s refused: %v", s, aerr)
		}
		if _, ok := commitStates[s]; !ok {
			t.Errorf("state %s has no contract state", s)
		}
		if _, ok := buildStatuses[s]; !ok {
			t.Errorf("state %s has no build status", s)
		}
	}
	if len(commitStates) != 5 || len(buildStatuses) != 5 {
		t.Fatalf("%d contract states and %d build statuses, want 5 each", len(commitStates), len(buildStatuses))
	}
	if aerr := validateStruct(&commitStatusRequest{State: "skipped"}); aerr == nil || aerr.Details != "state" {
		t.Fatalf("skipped accepted: %v", aerr)
	}
	if buildStatuses["running"] != store.TriggerRunning || buildStatuses["success"] != store.TriggerDone || buildStatuses["pending"] != store.TriggerQueued {
		t.Fatal("build statuses do not follow the reported states")
	}
}
