package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// Job tokens: what a runner presents to the checkout proxy instead of the
// SCM credentials, which never leave the host.
const (
	// jobTokenPrefix marks job tokens, so a leaked one is recognisable.
	jobTokenPrefix = "oore_job_"
	// DefaultJobTTL is how long a job token works unless the request asks
	// for less (or more, up to MaxJobTTL).
	DefaultJobTTL = time.Hour
	// MaxJobTTL bounds a job token's lifetime.
	MaxJobTTL = 24 * time.Hour
	// maxRunnerIDLength bounds a runner id, which is a path segment of the
	// clone URL.
	maxRunnerIDLength = 64
	// maxJobBody bounds the body of a job request.
	maxJobBody = 64 << 10
)

// Error codes of the jobs API (added by the reference host).
const (
	codeDeliveryNotTriggered = "delivery_not_triggered"
	codeBuildCanceled        = "build_canceled"
	codeRepositoryGone       = "repository_not_synced"
	codeJobsUnsupported      = "jobs_unsupported"
)

// hashJobToken is the SHA-256 of a job token: what the store keeps.
func hashJobToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// createJobRequest is the optional body of POST /v1/webhook-deliveries/{id}/jobs.
type createJobRequest struct {
	// TriggerID chooses the build when the delivery triggered several.
	TriggerID string `json:"trigger_id" validate:"max=128"`
	// RunnerID names the runner that will fetch (default: a new id).
	RunnerID string `json:"runner_id"`
	// TTLSeconds is the token's lifetime (default 3600, at most 86400).
	TTLSeconds int64 `json:"ttl_seconds" validate:"omitempty,min=1,max=86400"`
}

// jobResponse is the answer: everything a runner needs, and nothing more.
type jobResponse struct {
	JobID    string `json:"job_id"`
	RunnerID string `json:"runner_id"`
	// Token is the job token, shown once: the Basic-auth password (any
	// user name) or a Bearer token for the clone URL.
	Token     string `json:"token"`
	CloneURL  string `json:"clone_url"`
	SHA       string `json:"sha"`
	ExpiresAt int64  `json:"expires_at"`
	// Added for people reading the answer.
	TriggerID          string `json:"trigger_id"`
	Ref                string `json:"ref"`
	RepositoryFullName string `json:"repository_full_name"`
}

// jobs is the host's job store, or nil when its store keeps no jobs.
func (h *Host) jobs() store.JobStore {
	js, _ := h.store.(store.JobStore)
	return js
}

// createJob answers POST /v1/webhook-deliveries/{id}/jobs (owner or admin):
// it mints a job for one build trigger of a delivery ({id} is the host's
// delivery id, as /v1/webhook-deliveries lists it): a per-job token, stored
// as its SHA-256, and a clone URL on the host's checkout proxy that fetches
// that one repository. The SCM credentials stay in the host.
func (h *Host) createJob(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	js := h.jobs()
	if js == nil {
		return newError(http.StatusNotImplemented, codeJobsUnsupported, "this host's store keeps no jobs")
	}
	req, aerr := decodeJobRequest(w, r)
	if aerr != nil {
		return aerr
	}
	deliveryID := r.PathValue("id")
	trigger, aerr := deliveryTrigger(ctx, js, deliveryID, req.TriggerID)
	if aerr != nil {
		return aerr
	}
	if trigger.Status == store.TriggerCanceled {
		return newError(http.StatusConflict, codeBuildCanceled, fmt.Sprintf("build %s was canceled (its integration was deleted)", trigger.ID))
	}
	in, err := h.integrationOf(ctx, trigger.IntegrationID)
	if err != nil {
		return err
	}
	pr, aerr := h.provider(in.Provider)
	if aerr != nil {
		return aerr
	}
	if !pr.p.Manifest().HasCapability(scmv1.Capability_CAPABILITY_CLONE_CREDENTIALS) {
		return newError(http.StatusNotImplemented, pr.name+suffixUnsupported,
			fmt.Sprintf("the %s plugin does not announce clone_credentials: its repositories cannot be fetched through the checkout proxy", pr.name))
	}
	if aerr := requireConnected(pr, in); aerr != nil {
		return aerr
	}
	runnerID := req.RunnerID
	if runnerID == "" {
		runnerID = uuid.NewString()
	}
	ttl := DefaultJobTTL
	if req.TTLSeconds > 0 {
		ttl = time.Duration(req.TTLSeconds) * time.Second
	}
	token := secrets.RandomToken(jobTokenPrefix, 32)
	job, err := js.CreateJob(ctx, store.Job{
		RunnerID: runnerID, TokenHash: hashJobToken(token), DeliveryID: deliveryID, TriggerID: trigger.ID,
		CreatedBy: callerOf(ctx).TokenID, ExpiresAt: h.now().Add(ttl).Unix(),
	})
	if errors.Is(err, store.ErrNotFound) {
		return newError(http.StatusConflict, codeRepositoryGone,
			fmt.Sprintf("the repository of build %s is no longer synced for integration %s; sync its installations and trigger the build again", trigger.ID, in.ID))
	}
	if err != nil {
		return internalError("store the job", err)
	}
	h.audit(ctx, "job.create", in.ID, fmt.Sprintf("job %s runner %s repository %s sha %s", job.ID, job.RunnerID, job.RepositoryFullName, job.SHA))
	h.log.Info("job created", "job_id", job.ID, "runner_id", job.RunnerID, "delivery_id", deliveryID, "trigger_id", trigger.ID,
		"provider", job.Provider, "repository", job.RepositoryFullName, "sha", job.SHA, "expires_at", job.ExpiresAt)
	writeJSON(w, http.StatusCreated, jobResponse{
		JobID: job.ID, RunnerID: job.RunnerID, Token: token, CloneURL: h.checkoutURL(job), SHA: job.SHA, ExpiresAt: job.ExpiresAt,
		TriggerID: job.TriggerID, Ref: job.Ref, RepositoryFullName: job.RepositoryFullName,
	})
	return nil
}

// decodeJobRequest reads the optional JSON body: none, or an object.
func decodeJobRequest(w http.ResponseWriter, r *http.Request) (createJobRequest, *apiError) {
	var req createJobRequest
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJobBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return req, tooLarge(mbe.Limit)
		}
		return req, newError(http.StatusBadRequest, codeInvalidInput, "the request body could not be read")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return req, nil
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	if aerr := decodeJSON(w, r, &req); aerr != nil {
		return req, aerr
	}
	if req.RunnerID != "" && !validRunnerID(req.RunnerID) {
		return req, fieldError("runner_id", fmt.Sprintf("must be 1 to %d letters, digits, '.', '_' or '-'", maxRunnerIDLength))
	}
	return req, nil
}

// validRunnerID accepts ids that are safe as one URL path segment.
func validRunnerID(s string) bool {
	if s == "" || len(s) > maxRunnerIDLength || s == "." || s == ".." {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// deliveryTrigger finds the build trigger of a webhook delivery ({id} as
// /v1/webhook-deliveries lists it) that a request is about: the only one, or
// the one trigger_id names.
func deliveryTrigger(ctx context.Context, js store.JobStore, deliveryID, triggerID string) (store.BuildTrigger, *apiError) {
	if deliveryID == "" || len(deliveryID) > 128 {
		return store.BuildTrigger{}, notFoundError("webhook delivery", deliveryID)
	}
	triggers, err := js.DeliveryTriggers(ctx, deliveryID)
	if errors.Is(err, store.ErrNotFound) {
		return store.BuildTrigger{}, notFoundError("webhook delivery", deliveryID)
	}
	if err != nil {
		return store.BuildTrigger{}, internalError("read the delivery's builds", err)
	}
	return chooseTrigger(deliveryID, triggers, triggerID)
}

// chooseTrigger picks the build a job is for: the delivery's only one, or
// the one trigger_id names.
func chooseTrigger(deliveryID string, triggers []store.BuildTrigger, triggerID string) (store.BuildTrigger, *apiError) {
	if len(triggers) == 0 {
		return store.BuildTrigger{}, newError(http.StatusConflict, codeDeliveryNotTriggered,
			fmt.Sprintf("webhook delivery %s triggered no build (see ignored_reason in /v1/webhook-deliveries)", deliveryID))
	}
	if triggerID == "" {
		if len(triggers) == 1 {
			return triggers[0], nil
		}
		ids := make([]string, 0, len(triggers))
		for _, t := range triggers {
			ids = append(ids, t.ID)
		}
		return store.BuildTrigger{}, fieldError("trigger_id", fmt.Sprintf("is required: the delivery triggered %d builds (%s)", len(triggers), strings.Join(ids, ", ")))
	}
	for _, t := range triggers {
		if t.ID == triggerID {
			return t, nil
		}
	}
	return store.BuildTrigger{}, fieldError("trigger_id", "is not a build of webhook delivery "+deliveryID)
}

// checkoutURL is where a job's runner fetches its repository:
// {public URL}/v1/runners/{runner_id}/jobs/{job_id}/{provider}/{full_name}.git
func (h *Host) checkoutURL(j store.Job) string {
	segs := strings.Split(j.RepositoryFullName, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return h.cfg.PublicURL + "/v1/runners/" + url.PathEscape(j.RunnerID) + "/jobs/" + url.PathEscape(j.ID) + "/" +
		url.PathEscape(j.Provider) + "/" + strings.Join(segs, "/") + ".git"
}
