package gitlabsim

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ProjectHook is a project webhook. The API never returns Token or
// SigningToken; the simulator keeps them so tests can assert them and so
// deliveries can carry them.
type ProjectHook struct {
	// ID is the hook's ID.
	ID int64
	// ProjectID is the project the hook belongs to.
	ProjectID int64
	// URL receives the deliveries.
	URL string
	// Name and Description are the hook's labels.
	Name        string
	Description string
	// Token is the secret sent as X-Gitlab-Token.
	Token string
	// SigningToken ("whsec_...") signs deliveries (webhook-signature).
	SigningToken string

	// The event flags, filters and options of GitLab's project hook API,
	// named like its parameters (push_events, push_events_branch_filter, ...).
	PushEvents                bool
	PushEventsBranchFilter    string
	BranchFilterStrategy      string // "wildcard" (default), "regex" or "all_branches"
	TagPushEvents             bool
	MergeRequestsEvents       bool
	NoteEvents                bool
	ConfidentialNoteEvents    bool
	IssuesEvents              bool
	ConfidentialIssuesEvents  bool
	JobEvents                 bool
	PipelineEvents            bool
	WikiPageEvents            bool
	DeploymentEvents          bool
	ReleasesEvents            bool
	FeatureFlagEvents         bool
	ResourceAccessTokenEvents bool
	RepositoryUpdateEvents    bool
	EnableSSLVerification     bool
	CustomWebhookTemplate     string
	CustomHeaders             map[string]string
	CreatedAt                 time.Time
}

type hookRecord = ProjectHook

// hookFlags maps the API's boolean parameters onto ProjectHook fields.
var hookFlags = map[string]func(*ProjectHook) *bool{
	"push_events":                  func(h *ProjectHook) *bool { return &h.PushEvents },
	"tag_push_events":              func(h *ProjectHook) *bool { return &h.TagPushEvents },
	"merge_requests_events":        func(h *ProjectHook) *bool { return &h.MergeRequestsEvents },
	"note_events":                  func(h *ProjectHook) *bool { return &h.NoteEvents },
	"confidential_note_events":     func(h *ProjectHook) *bool { return &h.ConfidentialNoteEvents },
	"issues_events":                func(h *ProjectHook) *bool { return &h.IssuesEvents },
	"confidential_issues_events":   func(h *ProjectHook) *bool { return &h.ConfidentialIssuesEvents },
	"job_events":                   func(h *ProjectHook) *bool { return &h.JobEvents },
	"pipeline_events":              func(h *ProjectHook) *bool { return &h.PipelineEvents },
	"wiki_page_events":             func(h *ProjectHook) *bool { return &h.WikiPageEvents },
	"deployment_events":            func(h *ProjectHook) *bool { return &h.DeploymentEvents },
	"releases_events":              func(h *ProjectHook) *bool { return &h.ReleasesEvents },
	"feature_flag_events":          func(h *ProjectHook) *bool { return &h.FeatureFlagEvents },
	"resource_access_token_events": func(h *ProjectHook) *bool { return &h.ResourceAccessTokenEvents },
	"repository_update_events":     func(h *ProjectHook) *bool { return &h.RepositoryUpdateEvents },
	"enable_ssl_verification":      func(h *ProjectHook) *bool { return &h.EnableSSLVerification },
}

// hookStrings maps the API's string parameters onto ProjectHook fields.
var hookStrings = map[string]func(*ProjectHook) *string{
	"url":                       func(h *ProjectHook) *string { return &h.URL },
	"name":                      func(h *ProjectHook) *string { return &h.Name },
	"description":               func(h *ProjectHook) *string { return &h.Description },
	"token":                     func(h *ProjectHook) *string { return &h.Token },
	"signing_token":             func(h *ProjectHook) *string { return &h.SigningToken },
	"push_events_branch_filter": func(h *ProjectHook) *string { return &h.PushEventsBranchFilter },
	"branch_filter_strategy":    func(h *ProjectHook) *string { return &h.BranchFilterStrategy },
	"custom_webhook_template":   func(h *ProjectHook) *string { return &h.CustomWebhookTemplate },
}

// SetAllowLocalRequests chooses whether hook URLs may point at loopback and
// private addresses (GitLab's "Allow requests to the local network from
// webhooks and integrations"). The simulator allows them by default, since
// tests receive hooks on 127.0.0.1.
func (s *Server) SetAllowLocalRequests(allow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.allowLocalRequests = allow
}

// AddHook registers a hook directly, without the API, and returns it.
func (s *Server) AddHook(projectID int64, h ProjectHook) (ProjectHook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.state.projectByID[projectID]; !ok {
		return ProjectHook{}, fmt.Errorf("add hook: no project %d", projectID)
	}
	rec := h
	rec.ID = s.state.nextHookID
	rec.ProjectID = projectID
	rec.CustomHeaders = maps.Clone(h.CustomHeaders)
	if rec.BranchFilterStrategy == "" {
		rec.BranchFilterStrategy = "wildcard"
	}
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = s.nowLocked()
	}
	s.state.nextHookID++
	s.state.hooks[projectID] = append(s.state.hooks[projectID], &rec)
	return snapshotHook(&rec), nil
}

// Hooks returns the project's hooks, secrets included.
func (s *Server) Hooks(projectID int64) []ProjectHook {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]ProjectHook, 0, len(s.state.hooks[projectID]))
	for _, h := range s.state.hooks[projectID] {
		out = append(out, snapshotHook(h))
	}
	return out
}

func snapshotHook(h *hookRecord) ProjectHook {
	c := *h
	c.CustomHeaders = maps.Clone(h.CustomHeaders)
	return c
}

// hookJSON renders a hook like GitLab's ProjectHook entity
// (gitlab_doc_project_hook.json); token and signing_token are write-only.
func hookJSON(h *hookRecord) map[string]any {
	m := fixtureObject("gitlab-docs/gitlab_doc_project_hook.json")
	m["id"] = h.ID
	m["url"] = h.URL
	m["name"] = h.Name
	m["description"] = h.Description
	m["project_id"] = h.ProjectID
	for name, field := range hookFlags {
		m[name] = *field(h)
	}
	m["push_events_branch_filter"] = h.PushEventsBranchFilter
	m["branch_filter_strategy"] = h.BranchFilterStrategy
	m["alert_status"] = "executable"
	m["disabled_until"] = nil
	m["url_variables"] = []any{}
	m["created_at"] = h.CreatedAt.UTC().Format(time.RFC3339)
	m["custom_webhook_template"] = h.CustomWebhookTemplate
	headers := []map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(h.CustomHeaders)) {
		headers = append(headers, map[string]string{"key": k})
	}
	m["custom_headers"] = headers
	m["token_present"] = h.Token != ""
	m["signing_token_present"] = h.SigningToken != ""
	return m
}

// hookParams are a request's parameters from the query, a form or a JSON
// body, the way Grape merges them.
type hookParams struct {
	strs    map[string]string
	bools   map[string]bool
	headers map[string]string
	bad     string
}

func readHookParams(r *http.Request) hookParams {
	hp := hookParams{strs: map[string]string{}, bools: map[string]bool{}}
	set := func(k string, v any) {
		if _, ok := hookFlags[k]; ok {
			switch b := v.(type) {
			case bool:
				hp.bools[k] = b
			case string:
				parsed, ok := grapeBool(b)
				if !ok {
					hp.bad = k + " is invalid"
					return
				}
				hp.bools[k] = parsed
			default:
				hp.bad = k + " is invalid"
			}
			return
		}
		if _, ok := hookStrings[k]; ok {
			switch sv := v.(type) {
			case string:
				hp.strs[k] = sv
			case nil:
				hp.strs[k] = ""
			default:
				hp.bad = k + " is invalid"
			}
		}
	}
	for k, vs := range r.URL.Query() {
		set(k, vs[0])
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var body map[string]any
		data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil && len(data) > 0 {
			if err := json.Unmarshal(data, &body); err != nil {
				hp.bad = "the request body is not valid JSON"
				return hp
			}
		}
		for k, v := range body {
			if k == "custom_headers" {
				hp.headers = customHeaders(v)
				continue
			}
			set(k, v)
		}
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
			hp.bad = "the request body could not be read"
			return hp
		}
		for k, vs := range r.PostForm {
			set(k, vs[0])
		}
	}
	return hp
}

func customHeaders(v any) map[string]string {
	out := map[string]string{}
	list, _ := v.([]any)
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			k, _ := m["key"].(string)
			val, _ := m["value"].(string)
			if k != "" {
				out[k] = val
			}
		}
	}
	return out
}

func (hp hookParams) empty() bool {
	return len(hp.strs) == 0 && len(hp.bools) == 0 && hp.headers == nil
}

func (hp hookParams) apply(h *hookRecord) {
	for k, v := range hp.strs {
		*hookStrings[k](h) = v
	}
	for k, v := range hp.bools {
		*hookFlags[k](h) = v
	}
	if hp.headers != nil {
		if h.CustomHeaders == nil {
			h.CustomHeaders = map[string]string{}
		}
		maps.Copy(h.CustomHeaders, hp.headers)
	}
}

// hookURLProblem validates a hook URL like GitLab's UrlBlocker. It returns
// "" for a usable URL.
func hookURLProblem(raw string, allowLocal bool) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return "Only allowed schemes are http, https"
	}
	if allowLocal {
		return ""
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return "Requests to localhost are not allowed"
	}
	if ip := net.ParseIP(host); ip != nil {
		switch {
		case ip.IsLoopback():
			return "Requests to loopback addresses are not allowed"
		case ip.IsPrivate(), ip.IsLinkLocalUnicast(), ip.IsUnspecified():
			return "Requests to the local network are not allowed"
		}
	}
	return ""
}

// hookAccess authenticates a hooks request and checks the token's scope.
// It reports false when it has answered.
func (s *Server) hookAccess(w http.ResponseWriter, r *http.Request) (principal, bool) {
	p, ok := s.authenticate(w, r, true)
	if !ok || !s.requireAPIScope(w, r, p) {
		return p, false
	}
	return p, true
}

// maintainerProjectLocked resolves {id} and checks the Maintainer role.
func (s *Server) maintainerProjectLocked(w http.ResponseWriter, r *http.Request, p principal) *project {
	proj := s.projectForRequestLocked(w, r, p)
	if proj == nil {
		return nil
	}
	if s.accessLevelLocked(proj, p.userID) < MaintainerAccess {
		apiMessage(w, http.StatusForbidden, "403 Forbidden")
		return nil
	}
	return proj
}

func (s *Server) findHookLocked(w http.ResponseWriter, r *http.Request, proj *project) *hookRecord {
	id, err := strconv.ParseInt(r.PathValue("hook_id"), 10, 64)
	if err == nil {
		for _, h := range s.state.hooks[proj.id] {
			if h.ID == id {
				return h
			}
		}
	}
	apiMessage(w, http.StatusNotFound, "404 Hook Not Found")
	return nil
}

// handleListHooks serves GET /api/v4/projects/:id/hooks (offset-paginated).
func (s *Server) handleListHooks(w http.ResponseWriter, r *http.Request) {
	p, ok := s.hookAccess(w, r)
	if !ok {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	proj := s.maintainerProjectLocked(w, r, p)
	if proj == nil {
		return
	}
	hooks := s.state.hooks[proj.id]
	lo, hi, ok := s.paginateCount(w, r, len(hooks))
	if !ok {
		return
	}
	out := make([]map[string]any, 0, hi-lo)
	for _, h := range hooks[lo:hi] {
		out = append(out, hookJSON(h))
	}
	writeJSON(w, http.StatusOK, out)
}

// handleGetHook serves GET /api/v4/projects/:id/hooks/:hook_id.
func (s *Server) handleGetHook(w http.ResponseWriter, r *http.Request) {
	p, ok := s.hookAccess(w, r)
	if !ok {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	proj := s.maintainerProjectLocked(w, r, p)
	if proj == nil {
		return
	}
	if h := s.findHookLocked(w, r, proj); h != nil {
		writeJSON(w, http.StatusOK, hookJSON(h))
	}
}

// handleCreateHook serves POST /api/v4/projects/:id/hooks. GitLab's
// defaults apply: push_events and enable_ssl_verification true, the other
// events false.
func (s *Server) handleCreateHook(w http.ResponseWriter, r *http.Request) {
	p, ok := s.hookAccess(w, r)
	if !ok {
		return
	}
	hp := readHookParams(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	proj := s.maintainerProjectLocked(w, r, p)
	if proj == nil {
		return
	}
	if hp.bad != "" {
		apiError(w, http.StatusBadRequest, hp.bad)
		return
	}
	if hp.strs["url"] == "" {
		apiError(w, http.StatusBadRequest, "url is missing")
		return
	}
	h := &hookRecord{PushEvents: true, EnableSSLVerification: true, BranchFilterStrategy: "wildcard"}
	hp.apply(h)
	if !s.validHookLocked(w, h) {
		return
	}
	h.ID = s.state.nextHookID
	h.ProjectID = proj.id
	h.CreatedAt = s.nowLocked()
	s.state.nextHookID++
	s.state.hooks[proj.id] = append(s.state.hooks[proj.id], h)
	s.log.Info("project hook created", "project_id", proj.id, "hook_id", h.ID)
	writeJSON(w, http.StatusCreated, hookJSON(h))
}

func (s *Server) validHookLocked(w http.ResponseWriter, h *hookRecord) bool {
	if problem := hookURLProblem(h.URL, s.state.allowLocalRequests); problem != "" {
		s.log.Info("hook url refused", "reason", "Url is blocked: "+problem)
		apiError(w, http.StatusUnprocessableEntity, "Invalid url given")
		return false
	}
	switch h.BranchFilterStrategy {
	case "wildcard", "regex", "all_branches":
	default:
		apiError(w, http.StatusBadRequest, "branch_filter_strategy does not have a valid value")
		return false
	}
	return true
}

// handleUpdateHook serves PUT /api/v4/projects/:id/hooks/:hook_id. Changing
// the URL without giving a token clears the token, as GitLab does.
func (s *Server) handleUpdateHook(w http.ResponseWriter, r *http.Request) {
	p, ok := s.hookAccess(w, r)
	if !ok {
		return
	}
	hp := readHookParams(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	proj := s.maintainerProjectLocked(w, r, p)
	if proj == nil {
		return
	}
	h := s.findHookLocked(w, r, proj)
	if h == nil {
		return
	}
	if hp.bad != "" {
		apiError(w, http.StatusBadRequest, hp.bad)
		return
	}
	if hp.empty() {
		apiError(w, http.StatusBadRequest, "No parameters provided")
		return
	}
	updated := snapshotHook(h)
	newURL, urlGiven := hp.strs["url"]
	_, tokenGiven := hp.strs["token"]
	hp.apply(&updated)
	if urlGiven && newURL != h.URL && !tokenGiven {
		updated.Token = ""
	}
	if !s.validHookLocked(w, &updated) {
		return
	}
	*h = updated
	s.log.Info("project hook updated", "project_id", proj.id, "hook_id", h.ID)
	writeJSON(w, http.StatusOK, hookJSON(h))
}

// handleDeleteHook serves DELETE /api/v4/projects/:id/hooks/:hook_id.
func (s *Server) handleDeleteHook(w http.ResponseWriter, r *http.Request) {
	p, ok := s.hookAccess(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	proj := s.maintainerProjectLocked(w, r, p)
	if proj == nil {
		return
	}
	h := s.findHookLocked(w, r, proj)
	if h == nil {
		return
	}
	s.state.hooks[proj.id] = slices.DeleteFunc(s.state.hooks[proj.id], func(x *hookRecord) bool { return x == h })
	s.log.Info("project hook deleted", "project_id", proj.id, "hook_id", h.ID)
	w.WriteHeader(http.StatusNoContent)
}

// branchFilterMatches applies a hook's push branch filter.
func branchFilterMatches(h ProjectHook, branch string) bool {
	switch h.BranchFilterStrategy {
	case "all_branches":
		return true
	case "regex":
		return regexpMatch(h.PushEventsBranchFilter, branch)
	}
	if h.PushEventsBranchFilter == "" {
		return true
	}
	// GitLab's wildcard filter: an exact name or a pattern where * matches
	// any characters (slashes included).
	pattern := "^" + strings.ReplaceAll(regexp.QuoteMeta(strings.TrimSpace(h.PushEventsBranchFilter)), `\*`, ".*") + "$"
	return regexpMatch(pattern, branch)
}

func regexpMatch(pattern, s string) bool {
	re, err := regexp.Compile(pattern)
	return err == nil && re.MatchString(s)
}
