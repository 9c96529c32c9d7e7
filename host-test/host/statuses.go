package host

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// Commit statuses (added by the reference host; Oore reports none): POST
// /v1/webhook-deliveries/{id}/status reports the state of a build the
// delivery triggered on its commit at the provider, and keeps the build
// trigger's own status in step.

// commitStatusContext names the host's statuses at the provider (GitLab
// shows it as the status's name).
const commitStatusContext = "oore/build"

// commitStatusRequest is the body of POST /v1/webhook-deliveries/{id}/status.
type commitStatusRequest struct {
	State       string `json:"state" validate:"required,oneof=pending running success failed canceled"`
	Description string `json:"description" validate:"max=255"`
	TargetURL   string `json:"target_url" validate:"omitempty,max=2048,http_url"`
	// TriggerID chooses the build when the delivery triggered several.
	TriggerID string `json:"trigger_id" validate:"max=128"`
}

// commitStatusResponse is the answer: {ok, status_id} and, for people
// reading it, what was reported.
type commitStatusResponse struct {
	OK       bool   `json:"ok"`
	StatusID string `json:"status_id"`
	// Added for people reading the answer.
	TriggerID   string `json:"trigger_id"`
	SHA         string `json:"sha"`
	Ref         string `json:"ref"`
	State       string `json:"state"`
	Context     string `json:"context"`
	BuildStatus string `json:"build_status"`
}

// commitStates maps a request's state onto the contract.
var commitStates = map[string]scmv1.CommitState{
	"pending":  scmv1.CommitState_COMMIT_STATE_PENDING,
	"running":  scmv1.CommitState_COMMIT_STATE_RUNNING,
	"success":  scmv1.CommitState_COMMIT_STATE_SUCCESS,
	"failed":   scmv1.CommitState_COMMIT_STATE_FAILED,
	"canceled": scmv1.CommitState_COMMIT_STATE_CANCELED,
}

// buildStatuses is the build trigger's status after a reported state: a
// running build blocks its integration's deletion until it ends.
var buildStatuses = map[string]string{
	"pending":  store.TriggerQueued,
	"running":  store.TriggerRunning,
	"success":  store.TriggerDone,
	"failed":   store.TriggerDone,
	"canceled": store.TriggerDone,
}

// setCommitStatus answers POST /v1/webhook-deliveries/{id}/status (owner or
// admin): SetCommitStatus with context "oore/build" on the build's commit
// and branch ({id} is the host's delivery id, as /v1/webhook-deliveries
// lists it), then the build trigger's status. A state change the provider
// refuses (running after running, pending after running) is 409
// {provider}_invalid_transition and changes nothing.
func (h *Host) setCommitStatus(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	js := h.jobs()
	if js == nil {
		return newError(http.StatusNotImplemented, codeJobsUnsupported, "this host's store keeps no builds to report on")
	}
	var req commitStatusRequest
	if aerr := decodeJSON(w, r, &req); aerr != nil {
		return aerr
	}
	deliveryID := r.PathValue("id")
	t, aerr := deliveryTrigger(ctx, js, deliveryID, req.TriggerID)
	if aerr != nil {
		return aerr
	}
	rp, err := h.store.GetRepository(ctx, t.RepositoryID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rp.IntegrationID != t.IntegrationID) {
		return newError(http.StatusConflict, codeRepositoryGone,
			fmt.Sprintf("the repository of build %s is no longer synced for integration %s; its status cannot be reported", t.ID, t.IntegrationID))
	}
	if err != nil {
		return internalError("load the build's repository", err)
	}
	in, err := h.integrationOf(ctx, t.IntegrationID)
	if err != nil {
		return err
	}
	pr, aerr := h.provider(rp.Provider)
	if aerr != nil {
		return aerr
	}
	if !pr.p.Manifest().HasCapability(scmv1.Capability_CAPABILITY_COMMIT_STATUS) {
		return newError(http.StatusNotImplemented, pr.name+suffixUnsupported, fmt.Sprintf("the %s plugin does not report commit statuses", pr.name))
	}
	if aerr := requireConnected(pr, in); aerr != nil {
		return aerr
	}
	ref := buildRef(t)
	resp, err := withConnection(ctx, h, pr, in, "SetCommitStatus", func(ctx context.Context, c scmv1.ProviderServiceClient, conn *scmv1.Connection) (*scmv1.SetCommitStatusResponse, error) {
		return c.SetCommitStatus(ctx, &scmv1.SetCommitStatusRequest{
			Connection: conn, RepositoryExternalId: rp.ExternalID, Sha: t.SHA, State: commitStates[req.State],
			Context: commitStatusContext, Description: req.Description, TargetUrl: req.TargetURL, Ref: ref,
		})
	})
	if err != nil {
		return h.scmWriteError(pr.name, err)
	}
	status := buildStatuses[req.State]
	if err := h.store.SetBuildTriggerStatus(ctx, t.ID, status); err != nil {
		// The provider shows the state; answering an error would make the
		// caller repeat a state change the provider may now refuse.
		h.log.Error("build status not recorded after its commit status was set", "trigger_id", t.ID, "state", req.State, "error", err)
		status = t.Status
	}
	h.log.Info("commit status set", "delivery_id", deliveryID, "trigger_id", t.ID, "repository", rp.FullName,
		"sha", t.SHA, "ref", ref, "state", req.State, "status_id", resp.GetStatusId())
	writeJSON(w, http.StatusOK, commitStatusResponse{OK: true, StatusID: resp.GetStatusId(), TriggerID: t.ID, SHA: t.SHA, Ref: ref,
		State: req.State, Context: commitStatusContext, BuildStatus: status})
	return nil
}

// buildRef is the branch (or tag) a build's status is for: the trigger's
// branch, else its ref without refs/heads/ or refs/tags/.
func buildRef(t store.BuildTrigger) string {
	if t.Branch != "" {
		return t.Branch
	}
	if b, ok := strings.CutPrefix(t.Ref, "refs/heads/"); ok {
		return b
	}
	if tag, ok := strings.CutPrefix(t.Ref, "refs/tags/"); ok {
		return tag
	}
	return t.Ref
}
