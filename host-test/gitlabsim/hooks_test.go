package gitlabsim_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestProjectHooksCRUD(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	base := "/api/v4/projects/" + itoa(d.FlutterApp.ID) + "/hooks"
	signing := "whsec_" + strings.Repeat("A", 43) + "="
	a := do(t, s, "POST", base, d.Token, `{"url":"http://127.0.0.1:8787/v1/webhooks/gitlab","token":"t0k3n","signing_token":"`+signing+`","push_events":true,"tag_push_events":false,"merge_requests_events":true,"enable_ssl_verification":false,"name":"oore"}`)
	if a.status != http.StatusCreated {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	if strings.Contains(string(a.body), "t0k3n") || strings.Contains(string(a.body), signing) {
		t.Fatalf("a secret was returned: %s", a.body)
	}
	var h map[string]any
	a.json(t, &h)
	for k, want := range map[string]any{
		"url": "http://127.0.0.1:8787/v1/webhooks/gitlab", "project_id": float64(d.FlutterApp.ID), "push_events": true,
		"tag_push_events": false, "merge_requests_events": true, "note_events": false, "pipeline_events": false,
		"enable_ssl_verification": false, "name": "oore", "signing_token_present": true, "push_events_branch_filter": "",
	} {
		if h[k] != want {
			t.Errorf("%s = %v, want %v", k, h[k], want)
		}
	}
	if _, ok := h["token"]; ok {
		t.Error("token field returned")
	}
	id := itoa(int64(h["id"].(float64)))
	stored := s.Hooks(d.FlutterApp.ID)
	if len(stored) != 1 || stored[0].Token != "t0k3n" || stored[0].SigningToken != signing {
		t.Fatalf("stored hooks = %+v", stored)
	}

	var list []map[string]any
	a = get(t, s, base, d.Token)
	a.json(t, &list)
	if len(list) != 1 || list[0]["id"] != h["id"] || a.header.Get("X-Total") != "1" || strings.Contains(string(a.body), "t0k3n") {
		t.Errorf("list: %s", a.body)
	}
	if a := get(t, s, base+"/"+id, d.Token); a.status != 200 || strings.Contains(string(a.body), "t0k3n") {
		t.Errorf("get: %d %s", a.status, a.body)
	}

	// PUT that keeps the URL keeps the token; a new URL without a token clears it.
	if a := do(t, s, "PUT", base+"/"+id, d.Token, `{"note_events":true}`); a.status != 200 {
		t.Fatalf("put: %d %s", a.status, a.body)
	}
	if hk := s.Hooks(d.FlutterApp.ID)[0]; hk.Token != "t0k3n" || !hk.NoteEvents || !hk.PushEvents {
		t.Errorf("after flag update: %+v", hk)
	}
	if a := do(t, s, "PUT", base+"/"+id, d.Token, `{"url":"http://127.0.0.1:9999/new"}`); a.status != 200 {
		t.Fatalf("put url: %d %s", a.status, a.body)
	}
	if hk := s.Hooks(d.FlutterApp.ID)[0]; hk.Token != "" || hk.URL != "http://127.0.0.1:9999/new" {
		t.Errorf("after url change: %+v", hk)
	}
	if a := do(t, s, "PUT", base+"/"+id, d.Token, `{"url":"http://127.0.0.1:9999/newer","token":"again"}`); a.status != 200 {
		t.Fatalf("put url+token: %d", a.status)
	}
	if hk := s.Hooks(d.FlutterApp.ID)[0]; hk.Token != "again" {
		t.Errorf("token not set with url: %+v", hk)
	}
	wantBody(t, do(t, s, "PUT", base+"/"+id, d.Token, `{}`), 400, `{"error":"No parameters provided"}`)

	// Form-encoded bodies work too (Grape reads both).
	a = do(t, s, "POST", base, d.Token, "url=http%3A%2F%2F127.0.0.1%3A1%2Fform&push_events=false&pipeline_events=true", "Content-Type", "application/x-www-form-urlencoded")
	a.json(t, &h)
	if a.status != 201 || h["push_events"] != false || h["pipeline_events"] != true || h["enable_ssl_verification"] != true {
		t.Errorf("form create: %d %s", a.status, a.body)
	}

	if a := do(t, s, "DELETE", base+"/"+id, d.Token, ""); a.status != http.StatusNoContent {
		t.Fatalf("delete: %d", a.status)
	}
	wantBody(t, get(t, s, base+"/"+id, d.Token), 404, `{"message":"404 Hook Not Found"}`)
	if n := len(s.Hooks(d.FlutterApp.ID)); n != 1 {
		t.Errorf("%d hooks left", n)
	}
}

func TestHooksNeedMaintainer(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	// demo is only Reporter on design-system, and alice is only Developer on flutter-app.
	wantBody(t, get(t, s, "/api/v4/projects/"+itoa(d.DesignSystem.ID)+"/hooks", d.Token), 403, `{"message":"403 Forbidden"}`)
	wantBody(t, do(t, s, "POST", "/api/v4/projects/"+itoa(d.FlutterApp.ID)+"/hooks", d.OtherToken, `{"url":"http://127.0.0.1:1/"}`), 403, `{"message":"403 Forbidden"}`)
	wantBody(t, get(t, s, "/api/v4/projects/"+itoa(d.OtherProjects[0].ID)+"/hooks", d.Token), 404, `{"message":"404 Project Not Found"}`)
	// Maintainer is enough.
	if a := do(t, s, "POST", "/api/v4/projects/"+itoa(d.Website.ID)+"/hooks", d.Token, `{"url":"http://127.0.0.1:1/"}`); a.status != 201 {
		t.Errorf("maintainer: %d %s", a.status, a.body)
	}
}

func TestHookURLValidation(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	base := "/api/v4/projects/" + itoa(d.FlutterApp.ID) + "/hooks"
	wantBody(t, do(t, s, "POST", base, d.Token, `{"push_events":true}`), 400, `{"error":"url is missing"}`)
	wantBody(t, do(t, s, "POST", base, d.Token, `{"url":"ftp://example.com/x"}`), 422, `{"error":"Invalid url given"}`)
	s.SetAllowLocalRequests(false)
	for _, u := range []string{"http://127.0.0.1:8787/h", "http://localhost/h", "http://10.1.2.3/h", "http://[::1]:80/h", "http://192.168.0.9/h"} {
		wantBody(t, do(t, s, "POST", base, d.Token, `{"url":"`+u+`"}`), 422, `{"error":"Invalid url given"}`)
	}
	if a := do(t, s, "POST", base, d.Token, `{"url":"https://ci.example.com/hook"}`); a.status != 201 {
		t.Errorf("public URL refused: %d %s", a.status, a.body)
	}
	s.SetAllowLocalRequests(true)
	if a := do(t, s, "POST", base, d.Token, `{"url":"http://127.0.0.1:8787/h"}`); a.status != 201 {
		t.Errorf("local URL refused while allowed: %d", a.status)
	}
}
