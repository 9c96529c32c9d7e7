package gitlabsim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CommitStatus is an external commit status (GitLab's GenericCommitStatus).
type CommitStatus struct {
	// ID is the status's (job's) ID.
	ID int64
	// ProjectID is the project the commit belongs to.
	ProjectID int64
	// SHA is the full commit SHA.
	SHA string
	// Ref is the branch or tag the status is for.
	Ref string
	// Name is the status's name ("name" or "context"; "default" if none).
	Name string
	// Status is pending, running, success, failed, canceled or skipped.
	Status string
	// Description is the short description shown by GitLab.
	Description string
	// TargetURL links to the build.
	TargetURL string
	// Coverage is the reported coverage, if any.
	Coverage *float64
	// PipelineID is the external pipeline holding the status.
	PipelineID int64
	// AuthorID is the user whose token posted the status.
	AuthorID int64
	// CreatedAt, StartedAt and FinishedAt are the status's times.
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

type statusRecord = CommitStatus

// pipelineRecord is the external pipeline GitLab creates to hold statuses.
type pipelineRecord struct {
	id  int64
	sha string
	ref string
}

// Statuses returns every status of a commit of a project, oldest first,
// including superseded ones.
func (s *Server) Statuses(projectID int64, sha string) []CommitStatus {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []CommitStatus
	for _, st := range s.state.statuses[projectID] {
		if st.SHA == sha {
			out = append(out, *st)
		}
	}
	return out
}

// statusEvent is the state-machine event GitLab fires for a requested
// state (lib/api/commit_statuses.rb, Ci::CreateCommitStatusService).
var statusEvent = map[string]string{
	"pending":  "enqueue",
	"running":  "run",
	"success":  "success",
	"failed":   "drop",
	"canceled": "cancel",
	"skipped":  "skip",
}

// transitionFrom lists the states each event may leave (CommitStatus's
// state machine, restricted to the states an external status can be in).
var transitionFrom = map[string][]string{
	"enqueue": {"created", "skipped", "manual", "scheduled"},
	"run":     {"pending"},
	"success": {"created", "waiting_for_resource", "preparing", "pending", "running"},
	"drop":    {"created", "waiting_for_resource", "preparing", "pending", "running", "manual", "scheduled"},
	"cancel":  {"created", "waiting_for_resource", "preparing", "pending", "running", "manual", "scheduled"},
	"skip":    {"created", "waiting_for_resource", "preparing"},
}

// transition applies GitLab's state machine to a status in state from for
// a requested state. It returns the new state, or "" and the message GitLab
// answers with (state_machines' InvalidTransition).
func transition(from, requested string) (to, refusal string) {
	if requested == "running" && slices.Contains(transitionFrom["enqueue"], from) {
		// status.enqueue (which may fail quietly), then status.run!
		from = "pending"
	}
	event := statusEvent[requested]
	if !slices.Contains(transitionFrom[event], from) {
		return "", fmt.Sprintf("Cannot transition status via :%s from :%s (Reason(s): Status cannot transition via \"%s\")", event, from, event)
	}
	return requested, ""
}

// requestParams merges the query, a form body and a JSON body into strings,
// the way Grape sees parameters.
func requestParams(r *http.Request) (map[string]string, error) {
	out := map[string]string{}
	for k, vs := range r.URL.Query() {
		out[k] = vs[0]
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
		if len(data) == 0 {
			return out, nil
		}
		var body map[string]any
		if err := json.Unmarshal(data, &body); err != nil {
			return nil, fmt.Errorf("decode body: %w", err)
		}
		for k, v := range body {
			switch x := v.(type) {
			case string:
				out[k] = x
			case float64:
				out[k] = strconv.FormatFloat(x, 'f', -1, 64)
			case bool:
				out[k] = strconv.FormatBool(x)
			}
		}
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
			return nil, fmt.Errorf("read form: %w", err)
		}
		for k, vs := range r.PostForm {
			out[k] = vs[0]
		}
	}
	return out, nil
}

// handleCreateStatus serves POST /api/v4/projects/:id/statuses/:sha
// (Developer role, api scope). Like GitLab it reuses the newest pending or
// running status with the same name and ref in the commit's pipeline, else
// starts a new one, and applies the state machine: a repeated "running" is
// answered 400 "Cannot transition status via :run from :running ...", while
// posting a finished state again starts a new status.
func (s *Server) handleCreateStatus(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r, true)
	if !ok || !s.requireAPIScope(w, r, p) {
		return
	}
	params, err := requestParams(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.RLock()
	proj := s.projectForRequestLocked(w, r, p)
	var projectID int64
	var allowed bool
	if proj != nil {
		projectID = proj.id
		allowed = s.accessLevelLocked(proj, p.userID) >= DeveloperAccess
	}
	s.mu.RUnlock()
	if proj == nil {
		return
	}
	if !allowed {
		apiMessage(w, http.StatusForbidden, "403 Forbidden")
		return
	}
	state := params["state"]
	if state == "" {
		apiError(w, http.StatusBadRequest, "state is missing")
		return
	}
	if _, ok := statusEvent[state]; !ok {
		apiError(w, http.StatusBadRequest, "state does not have a valid value")
		return
	}
	sha, found, err := s.resolveCommit(r.Context(), projectID, r.PathValue("sha"))
	if err != nil {
		s.log.Error("resolve commit", "project_id", projectID, "error", err)
		apiMessage(w, http.StatusInternalServerError, "500 Internal Server Error")
		return
	}
	if !found {
		apiMessage(w, http.StatusNotFound, "404 Commit Not Found")
		return
	}
	ref := params["ref"]
	if ref == "" {
		if ref, err = s.firstBranchContaining(r.Context(), projectID, sha); err != nil {
			apiMessage(w, http.StatusNotFound, "404 References for commit Not Found")
			return
		}
	}
	name := params["name"]
	if name == "" {
		name = params["context"]
	}
	if name == "" {
		name = "default"
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.state.projectByID[projectID]; !ok {
		apiMessage(w, http.StatusNotFound, "404 Project Not Found")
		return
	}
	pipe := s.pipelineLocked(projectID, sha, ref, params["pipeline_id"])
	if pipe == nil {
		apiMessage(w, http.StatusNotFound, "404 Pipeline for pipeline_id, sha and ref Not Found")
		return
	}
	var existing *statusRecord
	for _, st := range slices.Backward(s.state.statuses[projectID]) {
		if st.PipelineID == pipe.id && st.Name == name && st.Ref == ref && st.AuthorID == p.userID &&
			(st.Status == "pending" || st.Status == "running") {
			existing = st
			break
		}
	}
	from := "created"
	if existing != nil {
		from = existing.Status
	}
	to, refusal := transition(from, state)
	if refusal != "" {
		apiMessage(w, http.StatusBadRequest, refusal)
		return
	}
	st := existing
	now := s.nowLocked()
	if st == nil {
		st = &statusRecord{
			ID:         s.state.nextStatusID,
			ProjectID:  projectID,
			SHA:        sha,
			Ref:        ref,
			Name:       name,
			PipelineID: pipe.id,
			AuthorID:   p.userID,
			CreatedAt:  now,
		}
		s.state.nextStatusID++
		s.state.statuses[projectID] = append(s.state.statuses[projectID], st)
	}
	st.Status = to
	if v, ok := params["target_url"]; ok {
		st.TargetURL = v
	}
	if v, ok := params["description"]; ok {
		st.Description = v
	}
	if v, ok := params["coverage"]; ok {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			st.Coverage = &f
		}
	}
	switch to {
	case "running":
		st.StartedAt = &now
	case "success", "failed", "canceled", "skipped":
		st.FinishedAt = &now
	}
	s.log.Info("commit status set", "project_id", projectID, "sha", sha, "name", name, "status", to)
	writeJSON(w, http.StatusCreated, s.statusJSONLocked(st))
}

// pipelineLocked finds the newest external pipeline for sha and ref (or
// the one with pipelineID), creating one when none exists and no ID is
// asked for.
func (s *Server) pipelineLocked(projectID int64, sha, ref, pipelineID string) *pipelineRecord {
	for _, pipe := range slices.Backward(s.state.pipes[projectID]) {
		if pipe.sha != sha || pipe.ref != ref {
			continue
		}
		if pipelineID == "" || strconv.FormatInt(pipe.id, 10) == pipelineID {
			return pipe
		}
	}
	if pipelineID != "" {
		return nil
	}
	pipe := &pipelineRecord{id: s.state.nextPipelineID, sha: sha, ref: ref}
	s.state.nextPipelineID++
	s.state.pipes[projectID] = append(s.state.pipes[projectID], pipe)
	return pipe
}

// firstBranchContaining is GitLab's default ref for a status: the first
// branch that contains the commit.
func (s *Server) firstBranchContaining(ctx context.Context, projectID int64, sha string) (string, error) {
	var branch string
	err := s.withRepo(ctx, projectID, func(ri repoInfo) error {
		out, err := runGit(ctx, ri.repo.dir, nil, "for-each-ref", "--contains", sha, "--format=%(refname:short)", "refs/heads")
		if err != nil {
			return err
		}
		branches := strings.Fields(string(out))
		if slices.Contains(branches, ri.defaultBranch) {
			branch = ri.defaultBranch
		} else if len(branches) > 0 {
			branch = branches[0]
		}
		return nil
	})
	if err == nil && branch == "" {
		err = fmt.Errorf("no branch contains %s", sha)
	}
	return branch, err
}

func (s *Server) statusJSONLocked(st *statusRecord) map[string]any {
	m := map[string]any{
		"id":            st.ID,
		"sha":           st.SHA,
		"ref":           st.Ref,
		"status":        st.Status,
		"name":          st.Name,
		"target_url":    nilIfEmpty(st.TargetURL),
		"description":   nilIfEmpty(st.Description),
		"created_at":    gitlabTime(st.CreatedAt),
		"started_at":    nil,
		"finished_at":   nil,
		"allow_failure": false,
		"coverage":      st.Coverage,
		"pipeline_id":   st.PipelineID,
		"author":        nil,
	}
	if st.StartedAt != nil {
		m["started_at"] = gitlabTime(*st.StartedAt)
	}
	if st.FinishedAt != nil {
		m["finished_at"] = gitlabTime(*st.FinishedAt)
	}
	if u, ok := s.state.users[st.AuthorID]; ok {
		m["author"] = s.userBasicJSON(u)
	}
	return m
}

func nilIfEmpty(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// handleListStatuses serves GET /api/v4/projects/:id/repository/commits/:sha/statuses:
// the newest status per name and ref unless all=true, filtered by ref and
// name, offset-paginated.
func (s *Server) handleListStatuses(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r, false)
	if !ok {
		return
	}
	if !p.anonymous() && !s.requireAPIScope(w, r, p) {
		return
	}
	s.mu.RLock()
	proj := s.projectForRequestLocked(w, r, p)
	var projectID int64
	allowed := false
	if proj != nil {
		projectID = proj.id
		allowed = proj.visibility == "public" || s.accessLevelLocked(proj, p.userID) >= ReporterAccess
	}
	s.mu.RUnlock()
	if proj == nil {
		return
	}
	if !allowed {
		apiMessage(w, http.StatusForbidden, "403 Forbidden")
		return
	}
	sha, found, err := s.resolveCommit(r.Context(), projectID, r.PathValue("sha"))
	if err != nil || !found {
		apiMessage(w, http.StatusNotFound, "404 Commit Not Found")
		return
	}
	q := r.URL.Query()
	all, _ := grapeBool(q.Get("all"))
	s.mu.RLock()
	defer s.mu.RUnlock()
	var list []*statusRecord
	latest := map[string]int{} // name+ref -> index in list
	for _, st := range s.state.statuses[projectID] {
		if st.SHA != sha || (q.Get("ref") != "" && st.Ref != q.Get("ref")) || (q.Get("name") != "" && st.Name != q.Get("name")) {
			continue
		}
		key := st.Name + "\x00" + st.Ref
		if i, seen := latest[key]; seen && !all {
			list[i] = st
			continue
		}
		latest[key] = len(list)
		list = append(list, st)
	}
	lo, hi, ok := s.paginateCount(w, r, len(list))
	if !ok {
		return
	}
	out := make([]map[string]any, 0, hi-lo)
	for _, st := range list[lo:hi] {
		out = append(out, s.statusJSONLocked(st))
	}
	writeJSON(w, http.StatusOK, out)
}
