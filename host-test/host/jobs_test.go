package host

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

func TestCreateJob(t *testing.T) {
	t.Parallel()
	ph := newProxyHarness(t)
	developer, err := CreateToken(t.Context(), ph.st, RoleDeveloper, "dev")
	if err != nil {
		t.Fatal(err)
	}

	r := ph.createJob(ph.twoBuilds, ph.owner, `{"trigger_id": "t-2b", "runner_id": "mac-mini-1.local", "ttl_seconds": 600}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var j jobResponse
	if err := json.Unmarshal([]byte(r.Body), &j); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	if j.TriggerID != "t-2b" || j.SHA != "2b" || j.RunnerID != "mac-mini-1.local" || !strings.HasPrefix(j.Token, jobTokenPrefix) ||
		j.ExpiresAt < now+590 || j.ExpiresAt > now+610 || j.RepositoryFullName != "group/app" ||
		j.CloneURL != "http://oore.invalid/v1/runners/mac-mini-1.local/jobs/"+j.JobID+"/gitlab/group/app.git" {
		t.Fatalf("job = %+v", j)
	}
	stored, err := ph.st.GetJob(t.Context(), j.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if string(stored.TokenHash) != string(hashJobToken(j.Token)) || strings.Contains(string(stored.TokenHash), j.Token) {
		t.Fatal("the store does not keep the token's SHA-256")
	}
	def := ph.job()
	if left := def.ExpiresAt - time.Now().Unix(); left < 3590 || left > 3610 {
		t.Fatalf("default lifetime %ds, want an hour", left)
	}
	if def.RunnerID == "" || !validRunnerID(def.RunnerID) {
		t.Fatalf("default runner id %q", def.RunnerID)
	}

	tests := map[string]struct {
		delivery, token, body string
		status                int
		code, says            string
	}{
		"developer may not":       {ph.oneBuild, developer, "", http.StatusForbidden, codeForbidden, "owner or admin"},
		"no token":                {ph.oneBuild, "", "", http.StatusUnauthorized, codeMissingToken, ""},
		"unknown delivery":        {"d-nope", ph.owner, "", http.StatusNotFound, codeNotFound, "webhook delivery"},
		"ignored delivery":        {ph.noBuilds, ph.owner, "", http.StatusConflict, codeDeliveryNotTriggered, "triggered no build"},
		"two builds, no choice":   {ph.twoBuilds, ph.owner, "", http.StatusBadRequest, codeInvalidInput, "trigger_id: is required: the delivery triggered 2 builds (t-2a, t-2b)"},
		"trigger of another":      {ph.twoBuilds, ph.owner, `{"trigger_id": "t-1"}`, http.StatusBadRequest, codeInvalidInput, "trigger_id: is not a build of webhook delivery d-two"},
		"runner id with a slash":  {ph.oneBuild, ph.owner, `{"runner_id": "a/b"}`, http.StatusBadRequest, codeInvalidInput, "runner_id"},
		"runner id ..":            {ph.oneBuild, ph.owner, `{"runner_id": ".."}`, http.StatusBadRequest, codeInvalidInput, "runner_id"},
		"runner id too long":      {ph.oneBuild, ph.owner, `{"runner_id": "` + strings.Repeat("r", 65) + `"}`, http.StatusBadRequest, codeInvalidInput, "runner_id"},
		"ttl zero is the default": {ph.oneBuild, ph.owner, `{"ttl_seconds": 0}`, http.StatusCreated, "", ""},
		"ttl negative":            {ph.oneBuild, ph.owner, `{"ttl_seconds": -5}`, http.StatusBadRequest, codeInvalidInput, "ttl_seconds"},
		"ttl over a day":          {ph.oneBuild, ph.owner, `{"ttl_seconds": 86401}`, http.StatusBadRequest, codeInvalidInput, "ttl_seconds"},
		"ttl not a number":        {ph.oneBuild, ph.owner, `{"ttl_seconds": "1h"}`, http.StatusBadRequest, codeInvalidInput, "ttl_seconds"},
		"unknown field":           {ph.oneBuild, ph.owner, `{"repository": "other/repo"}`, http.StatusBadRequest, codeInvalidInput, "repository"},
		"not an object":           {ph.oneBuild, ph.owner, `[1]`, http.StatusBadRequest, codeInvalidInput, ""},
		"empty object":            {ph.oneBuild, ph.owner, `{}`, http.StatusCreated, "", ""},
	}
	for name, tc := range tests {
		res := ph.createJob(tc.delivery, tc.token, tc.body)
		var e struct {
			Code  string `json:"code"`
			Error string `json:"error"`
		}
		_ = json.Unmarshal([]byte(res.Body), &e)
		if res.Status != tc.status || e.Code != tc.code || !strings.Contains(e.Error, tc.says) {
			t.Errorf("%s: %d %s; want %d %s saying %q", name, res.Status, res.Body, tc.status, tc.code, tc.says)
		}
	}
	var n int
	if err := ph.st.DB().QueryRow(`SELECT COUNT(*) FROM jobs`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("%d jobs stored (%v), want the 4 that were answered 201", n, err)
	}
}

// A provider that does not announce clone_credentials gets no jobs; a
// canceled build gets none either.
func TestCreateJobRefusals(t *testing.T) {
	t.Parallel()
	ph := newProxyHarness(t, "webhooks")
	if r := ph.createJob(ph.oneBuild, ph.owner, ""); r.Status != http.StatusNotImplemented || !strings.Contains(r.Body, "clone_credentials") {
		t.Fatalf("plugin without clone_credentials: %d %s", r.Status, r.Body)
	}
	ph = newProxyHarness(t)
	if err := ph.st.SetBuildTriggerStatus(t.Context(), "t-1", store.TriggerCanceled); err != nil {
		t.Fatal(err)
	}
	if r := ph.createJob(ph.oneBuild, ph.owner, ""); r.Status != http.StatusConflict || !strings.Contains(r.Body, codeBuildCanceled) {
		t.Fatalf("canceled build: %d %s", r.Status, r.Body)
	}
	if err := ph.st.SetIntegrationStatus(t.Context(), "i1", store.StatusError, "x"); err != nil {
		t.Fatal(err)
	}
	if err := ph.st.MarkReconnectRequired(t.Context(), "i1", "refresh refused"); err != nil {
		t.Fatal(err)
	}
	if r := ph.createJob(ph.twoBuilds, ph.owner, `{"trigger_id":"t-2a"}`); r.Status != http.StatusConflict || !strings.Contains(r.Body, "gitlab_reconnect_required") {
		t.Fatalf("integration to reconnect: %d %s", r.Status, r.Body)
	}
}
