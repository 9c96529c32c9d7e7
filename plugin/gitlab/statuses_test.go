package gitlab_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

func TestSetCommitStatus(t *testing.T) {
	t.Parallel()
	sim, demo := demoSim(t)
	plugin := gitlabPlugin(t)
	ctx := context.Background()
	app := demo.FlutterApp.ID
	sha, err := sim.BranchHead(app, "main")
	if err != nil {
		t.Fatal(err)
	}
	set := func(token string, project int64, state scmv1.CommitState) (*scmv1.SetCommitStatusResponse, error) {
		return plugin.SetCommitStatus(ctx, &scmv1.SetCommitStatusRequest{
			Connection: patConn(sim.URL, token), RepositoryExternalId: strconv.FormatInt(project, 10), Sha: sha,
			State: state, Context: "oore/build", Description: "Build " + state.String(),
			TargetUrl: "https://ci.example.com/builds/42", Ref: "main",
		})
	}

	var ids []string
	for _, state := range []scmv1.CommitState{scmv1.CommitState_COMMIT_STATE_PENDING, scmv1.CommitState_COMMIT_STATE_RUNNING, scmv1.CommitState_COMMIT_STATE_SUCCESS} {
		resp, err := set(demo.Token, app, state)
		if err != nil {
			t.Fatalf("%v: %v", state, err)
		}
		ids = append(ids, resp.GetStatusId())
		statuses := sim.Statuses(app, sha)
		last := statuses[len(statuses)-1]
		want := strings.ToLower(strings.TrimPrefix(state.String(), "COMMIT_STATE_"))
		if last.Status != want || strconv.FormatInt(last.ID, 10) != resp.GetStatusId() || last.Name != "oore/build" ||
			last.Ref != "main" || last.TargetURL != "https://ci.example.com/builds/42" || last.Description != "Build "+state.String() {
			t.Fatalf("after %v the simulator shows %+v", state, last)
		}
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("status ids %v: GitLab moves one status through pending, running, success", ids)
	}

	// running after running: GitLab's state machine refuses; not retried.
	playSHA, err := sim.BranchHead(demo.Playground.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	sha = playSHA
	if _, err := set(demo.Token, demo.Playground.ID, scmv1.CommitState_COMMIT_STATE_RUNNING); err != nil {
		t.Fatal(err)
	}
	before := sim.Requests("POST", "/api/v4/projects/")
	_, err = set(demo.Token, demo.Playground.ID, scmv1.CommitState_COMMIT_STATE_RUNNING)
	d := wantErr(t, err, codes.FailedPrecondition, scmerr.ReasonInvalidTransition, demo.Token)
	if !strings.Contains(d.Message, "Cannot transition status") {
		t.Fatalf("message %q does not quote GitLab", d.Message)
	}
	if n := sim.Requests("POST", "/api/v4/projects/") - before; n != 1 {
		t.Fatalf("the refused transition was sent %d times, want once", n)
	}

	// Refusals.
	design, err := sim.BranchHead(demo.DesignSystem.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	sha = design
	_, err = set(demo.Token, demo.DesignSystem.ID, scmv1.CommitState_COMMIT_STATE_PENDING)
	d = wantErr(t, err, codes.PermissionDenied, scmerr.ReasonRoleMissing, demo.Token)
	if d.Metadata["required_role"] != "developer" {
		t.Fatalf("metadata %v", d.Metadata)
	}
	sha = playSHA
	_, err = set(demo.ReadOnlyToken, demo.Playground.ID, scmv1.CommitState_COMMIT_STATE_SUCCESS)
	d = wantErr(t, err, codes.FailedPrecondition, scmerr.ReasonScopeMissing, demo.ReadOnlyToken)
	if d.Metadata["missing_scopes"] != "api" {
		t.Fatalf("metadata %v", d.Metadata)
	}
	sha = strings.Repeat("ab", 20)
	_, err = set(demo.Token, app, scmv1.CommitState_COMMIT_STATE_PENDING)
	wantErr(t, err, codes.NotFound, scmerr.ReasonNotFound, demo.Token)

	_, err = plugin.SetCommitStatus(ctx, &scmv1.SetCommitStatusRequest{
		Connection: patConn(sim.URL, demo.Token), RepositoryExternalId: "x", Sha: "not-hex", TargetUrl: "javascript:alert(1)",
	})
	d = wantErr(t, err, codes.InvalidArgument, scmerr.ReasonInvalidInput)
	if want := []string{"context", "repository_external_id", "sha", "state", "target_url"}; !slices.Equal(d.FieldNames(), want) {
		t.Fatalf("violations on %v, want %v", d.FieldNames(), want)
	}
	_, err = plugin.SetCommitStatus(ctx, &scmv1.SetCommitStatusRequest{
		Connection: patConn(sim.URL, demo.Token), RepositoryExternalId: "1", Sha: "abc12", State: scmv1.CommitState_COMMIT_STATE_PENDING, Context: "x",
	})
	if d := wantErr(t, err, codes.InvalidArgument, scmerr.ReasonInvalidInput); !slices.Equal(d.FieldNames(), []string{"sha"}) {
		t.Fatalf("a 5-digit sha: violations on %v", d.FieldNames())
	}
}
