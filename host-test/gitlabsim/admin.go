package gitlabsim

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The admin API under /-/sim/ belongs to the simulator, not to GitLab: it
// lets a walkthrough or a script inspect the simulator and make it act
// (send a webhook, push, inject faults) with curl. It needs no token; run
// the simulator on a loopback address.
func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /-/sim/state", s.handleAdminState)
	mux.HandleFunc("POST /-/sim/webhooks", s.handleAdminWebhook)
	mux.HandleFunc("POST /-/sim/push", s.handleAdminPush)
	mux.HandleFunc("POST /-/sim/faults", s.handleAdminFaults)
	mux.HandleFunc("POST /-/sim/time", s.handleAdminTime)
}

func (s *Server) handleAdminState(w http.ResponseWriter, _ *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	users := []map[string]any{}
	for _, id := range slices.Sorted(maps.Keys(s.state.users)) {
		u := s.state.users[id]
		users = append(users, map[string]any{"id": u.ID, "username": u.Username, "name": u.Name})
	}
	projects := []map[string]any{}
	for _, p := range s.state.projects {
		if len(projects) == 50 {
			break
		}
		projects = append(projects, map[string]any{
			"id": p.id, "path_with_namespace": p.fullPath, "visibility": p.visibility,
			"archived": p.archived, "hooks": len(s.state.hooks[p.id]),
		})
	}
	apps := []map[string]any{}
	for _, a := range s.state.oauth.apps {
		apps = append(apps, map[string]any{"name": a.name, "client_id": a.uid, "redirect_uris": a.redirectURIs, "scopes": a.scopes})
	}
	slices.SortFunc(apps, func(a, b map[string]any) int { return strings.Compare(a["name"].(string), b["name"].(string)) })
	writeJSON(w, http.StatusOK, map[string]any{
		"simulator":      SimulatorName + " — a SIMULATOR of GitLab for tests and demos, not GitLab",
		"version":        s.version,
		"base_url":       s.BaseURL(),
		"time":           s.nowLocked().UTC().Format(time.RFC3339),
		"users":          users,
		"projects_count": len(s.state.projects),
		"projects":       projects,
		"oauth_apps":     apps,
		"deliveries":     len(s.state.deliveries),
	})
}

// adminWebhookRequest is the body of POST /-/sim/webhooks and /-/sim/push.
type adminWebhookRequest struct {
	ProjectID    int64             `json:"project_id"`
	Project      string            `json:"project"`
	Kind         string            `json:"kind"`
	URL          string            `json:"url"`
	SecretToken  string            `json:"secret_token"`
	SigningToken string            `json:"signing_token"`
	Branch       string            `json:"branch"`
	Tag          string            `json:"tag"`
	Sha          string            `json:"sha"`
	Commits      int               `json:"commits"`
	SkipCI       bool              `json:"skip_ci"`
	CreateBranch bool              `json:"create_branch"`
	Delete       bool              `json:"delete"`
	Action       string            `json:"action"`
	Fork         bool              `json:"fork"`
	Headers      map[string]string `json:"headers"`
}

func (s *Server) readAdminWebhook(w http.ResponseWriter, r *http.Request) (WebhookSpec, bool) {
	var req adminWebhookRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "body must be JSON: "+err.Error())
		return WebhookSpec{}, false
	}
	if req.ProjectID == 0 && req.Project != "" {
		if p, ok := s.ProjectByPath(req.Project); ok {
			req.ProjectID = p.ID
		}
	}
	if _, ok := s.Project(req.ProjectID); !ok {
		apiError(w, http.StatusNotFound, "project not found (give project_id or project, its full path)")
		return WebhookSpec{}, false
	}
	return WebhookSpec{
		ProjectID: req.ProjectID, Kind: req.Kind, URL: req.URL,
		SecretToken: req.SecretToken, SigningToken: req.SigningToken,
		Branch: req.Branch, Tag: req.Tag, Sha: req.Sha, Commits: req.Commits, SkipCI: req.SkipCI,
		CreateBranch: req.CreateBranch, Delete: req.Delete, Action: req.Action, Fork: req.Fork,
		Headers: req.Headers,
	}, true
}

// deliveryJSON shows a delivery without its secrets.
func deliveryJSON(res *WebhookResult) map[string]any {
	sent := map[string]string{}
	for k := range res.RequestHeaders {
		v := res.RequestHeaders.Get(k)
		if strings.EqualFold(k, "X-Gitlab-Token") {
			v = "[REDACTED]"
		}
		sent[k] = v
	}
	return map[string]any{
		"url":             redactURL(res.URL),
		"hook_id":         res.HookID,
		"status":          res.Status,
		"response_body":   string(res.Body),
		"idempotency_key": res.IdempotencyKey,
		"event_uuid":      res.EventUUID,
		"webhook_uuid":    res.WebhookUUID,
		"request_headers": sent,
		"duration_ms":     res.Duration.Milliseconds(),
	}
}

func (s *Server) handleAdminWebhook(w http.ResponseWriter, r *http.Request) {
	spec, ok := s.readAdminWebhook(w, r)
	if !ok {
		return
	}
	res, err := s.SendWebhook(r.Context(), spec)
	if res == nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := deliveryJSON(res)
	if err != nil {
		out["error"] = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAdminPush(w http.ResponseWriter, r *http.Request) {
	spec, ok := s.readAdminWebhook(w, r)
	if !ok {
		return
	}
	spec.Kind = "push"
	results, err := s.DeliverToHooks(r.Context(), spec)
	out := map[string]any{"deliveries": []map[string]any{}}
	list := []map[string]any{}
	for _, res := range results {
		list = append(list, deliveryJSON(res))
	}
	out["deliveries"] = list
	if err != nil {
		out["error"] = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

// adminFaults is the body of POST /-/sim/faults; durations are Go
// durations such as "250ms" or "30s".
type adminFaults struct {
	Latency       *string `json:"latency"`
	RateLimitNext int     `json:"rate_limit_next"`
	RetryAfter    string  `json:"retry_after"`
	FailNext      int     `json:"fail_next"`
	FailStatus    int     `json:"fail_status"`
}

func (s *Server) handleAdminFaults(w http.ResponseWriter, r *http.Request) {
	var f adminFaults
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&f); err != nil {
		apiError(w, http.StatusBadRequest, "body must be JSON: "+err.Error())
		return
	}
	if f.Latency != nil {
		d, err := time.ParseDuration(*f.Latency)
		if err != nil {
			apiError(w, http.StatusBadRequest, "latency: "+err.Error())
			return
		}
		s.SetLatency(d)
	}
	if f.RateLimitNext > 0 {
		retry := 30 * time.Second
		if f.RetryAfter != "" {
			d, err := time.ParseDuration(f.RetryAfter)
			if err != nil {
				apiError(w, http.StatusBadRequest, "retry_after: "+err.Error())
				return
			}
			retry = d
		}
		s.RateLimitNext(f.RateLimitNext, retry)
	}
	if f.FailNext > 0 {
		status := f.FailStatus
		if status == 0 {
			status = http.StatusInternalServerError
		}
		s.FailNext(f.FailNext, status)
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Server) handleAdminTime(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Advance string `json:"advance"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "body must be JSON: "+err.Error())
		return
	}
	d, err := time.ParseDuration(req.Advance)
	if err != nil || d < 0 {
		apiError(w, http.StatusBadRequest, "advance must be a positive Go duration such as \"2h\"")
		return
	}
	s.AdvanceTime(d)
	writeJSON(w, http.StatusOK, map[string]any{"now": s.Now().UTC().Format(time.RFC3339)})
}
