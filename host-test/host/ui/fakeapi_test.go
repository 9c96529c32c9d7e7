package ui_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// fakeAPI stands in for the host's JSON API in the UI's unit tests: it
// answers the endpoints the UI calls with canned data and records every
// request. (The browser tests in host-test/e2e/browser use the real host.)
type fakeAPI struct {
	mu       sync.Mutex
	token    string
	requests []recorded
	// override answers a method+path ("POST /v1/integrations/gitlab/start")
	// with a status and body instead of the default.
	override map[string]canned

	integrations []map[string]any
	repositories []map[string]any
	deliveries   []map[string]any
	// webhookRoute makes POST /v1/integration-repositories/{id}/gitlab-webhook exist.
	webhookRoute bool
	// mux routes to the fake like the host's API mux does: a catch-all "/"
	// plus the routes registered with serveWebhookRoute.
	mux *http.ServeMux
}

// serveWebhookRoute adds the automatic webhook registration endpoint.
func (f *fakeAPI) serveWebhookRoute() {
	f.mu.Lock()
	f.webhookRoute = true
	f.mu.Unlock()
	f.mux.Handle("POST /v1/integration-repositories/{id}/gitlab-webhook", f)
}

type recorded struct {
	Method, Path, Query, Auth string
	Body                      map[string]any
}

type canned struct {
	Status int
	Body   string
}

const apiToken = "oore_test_token_0123456789"

// replacedExpiry is when the fake's replacement tokens expire: 2026-09-15.
const replacedExpiry = 1789430400

func newFakeAPI() *fakeAPI {
	f := &fakeAPI{
		token:    apiToken,
		override: map[string]canned{},
		integrations: []map[string]any{{
			"id": "int-1", "provider": "gitlab", "host_url": "https://gitlab.example.com", "auth_mode": "personal_token",
			"status": "active", "created_by": "owner", "created_at": 1764300000, "updated_at": 1764300000,
			"account_username": "demo",
		}},
		mux: http.NewServeMux(),
	}
	f.mux.Handle("/", f)
	return f
}

func (f *fakeAPI) set(key string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.override[key] = canned{status, body}
}

// calls returns the recorded requests with this method and path.
func (f *fakeAPI) calls(method, path string) []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recorded
	for _, r := range f.requests {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization")}
	if b, _ := io.ReadAll(r.Body); len(b) > 0 {
		_ = json.Unmarshal(b, &rec.Body)
	}
	f.mu.Lock()
	f.requests = append(f.requests, rec)
	c, overridden := f.override[r.Method+" "+r.URL.Path]
	f.mu.Unlock()
	if rec.Auth != "Bearer "+f.token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid API token", "code": "invalid_token"})
		return
	}
	if overridden {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(c.Status)
		_, _ = io.WriteString(w, c.Body)
		return
	}
	f.route(w, r, rec)
}

func (f *fakeAPI) route(w http.ResponseWriter, r *http.Request, rec recorded) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/integrations":
		active := 0
		for _, i := range f.integrations {
			if i["status"] == "active" {
				active++
			}
		}
		writeJSON(w, 200, map[string]any{"integrations": f.integrations, "total": len(f.integrations), "active_total": active})
	case r.Method == http.MethodPost && len(p) == 4 && p[1] == "integrations" && p[3] == "start":
		id := "int-" + strconv.Itoa(len(f.integrations)+1)
		status := "active"
		if rec.Body["auth_mode"] == "oauth_app" {
			status = "inactive"
		}
		in := map[string]any{"id": id, "provider": p[2], "host_url": rec.Body["host_url"], "auth_mode": rec.Body["auth_mode"],
			"status": status, "created_by": "owner", "created_at": 1764300000, "updated_at": 1764300000}
		f.integrations = append(f.integrations, in)
		writeJSON(w, 200, map[string]any{"integration": in})
	case r.Method == http.MethodPost && len(p) == 4 && p[1] == "integrations" && p[3] == "authorize":
		writeJSON(w, 200, map[string]any{"authorize_url": "https://gitlab.example.com/oauth/authorize?client_id=abc&state=sealed"})
	case r.Method == http.MethodGet && len(p) == 3 && p[1] == "integrations":
		for _, i := range f.integrations {
			if i["id"] == p[2] {
				writeJSON(w, 200, map[string]any{"integration": i, "installation_count": 1, "repository_count": len(f.repositories), "last_webhook_at": 1764300100})
				return
			}
		}
		writeJSON(w, 404, map[string]any{"error": "integration not found", "code": "not_found"})
	case r.Method == http.MethodDelete && len(p) == 3 && p[1] == "integrations":
		for n, i := range f.integrations {
			if i["id"] == p[2] {
				f.integrations = append(f.integrations[:n], f.integrations[n+1:]...)
				writeJSON(w, 200, map[string]any{"ok": true})
				return
			}
		}
		writeJSON(w, 404, map[string]any{"error": "integration not found", "code": "not_found"})
	case r.Method == http.MethodGet && len(p) == 4 && p[1] == "integrations" && p[3] == "repositories":
		off, _ := strconv.Atoi(q.Get("offset"))
		lim, _ := strconv.Atoi(q.Get("limit"))
		var match []map[string]any
		for _, repo := range f.repositories {
			if strings.Contains(repo["full_name"].(string), q.Get("q")) {
				match = append(match, repo)
			}
		}
		end := min(off+lim, len(match))
		page := []map[string]any{}
		if off < end {
			page = match[off:end]
		}
		writeJSON(w, 200, map[string]any{"repositories": page, "total": len(match)})
	case r.Method == http.MethodPost && len(p) == 4 && p[1] == "integration-repositories" && p[3] == "gitlab-webhook-secret":
		// Like the host: ?type=signing_token makes a Standard Webhooks key.
		secret := "whsecret-" + p[2] + "-once"
		if q.Get("type") == "signing_token" {
			secret = "whsec_" + p[2] + "-signing-once"
		}
		writeJSON(w, 200, map[string]any{"repository_id": p[2], "webhook_secret": secret,
			"rotated_at": 1764300200, "webhook_url": "https://oore.example.com/v1/webhooks/gitlab"})
	case len(p) == 4 && p[1] == "integration-repositories" && p[3] == "gitlab-webhook" && f.webhookRoute:
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		kind := q.Get("type")
		if kind == "" {
			kind = "token"
		}
		writeJSON(w, 200, map[string]any{"hook_id": "77", "url": "https://oore.example.com/v1/webhooks/gitlab", "created": true, "secret_type": kind})
	case r.Method == http.MethodPut && len(p) == 4 && p[1] == "integrations" && p[3] == "gitlab-token":
		// A good replacement: the host saves it and answers its status.
		for _, i := range f.integrations {
			if i["id"] == p[2] {
				i["status"], i["status_reason"], i["token_expires_at"] = "active", "", replacedExpiry
				i["scopes"] = []string{"api", "read_repository"}
				writeJSON(w, 200, map[string]any{"status": "valid", "expires_at": replacedExpiry, "checked_at": 1764300300})
				return
			}
		}
		writeJSON(w, 404, map[string]any{"error": "integration not found", "code": "not_found"})
	case r.Method == http.MethodPost && len(p) == 5 && p[3] == "gitlab-token" && p[4] == "check":
		writeJSON(w, 200, map[string]any{"status": "expiring", "expires_at": 1765000000, "checked_at": 1764300300})
	case r.Method == http.MethodPost && len(p) == 4 && p[3] == "installations":
		writeJSON(w, 200, map[string]any{"installations": []any{}})
	case r.Method == http.MethodGet && r.URL.Path == "/v1/webhook-deliveries":
		writeJSON(w, 200, map[string]any{"deliveries": f.deliveries, "total": len(f.deliveries)})
	default:
		writeJSON(w, 404, map[string]any{"error": "no such endpoint: " + r.Method + " " + r.URL.Path, "code": "not_found"})
	}
}

// addRepositories adds n repositories named group/app-NN to int-1.
func (f *fakeAPI) addRepositories(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 1; i <= n; i++ {
		id := "repo-" + strconv.Itoa(i)
		f.repositories = append(f.repositories, map[string]any{
			"id": id, "installation_id": "inst-1", "external_id": strconv.Itoa(1000 + i),
			"full_name": "group/app-" + twoDigits(i), "is_private": i%2 == 0, "default_branch": "main",
			"created_at": 1764300000, "updated_at": 1764300000,
		})
	}
}

func twoDigits(i int) string {
	s := strconv.Itoa(i)
	if len(s) < 2 {
		s = "0" + s
	}
	return s
}
