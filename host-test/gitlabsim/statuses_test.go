package gitlabsim_test

import (
	"net/http"
	"testing"
)

type statusJSON struct {
	ID          int64  `json:"id"`
	SHA         string `json:"sha"`
	Ref         string `json:"ref"`
	Status      string `json:"status"`
	Name        string `json:"name"`
	TargetURL   string `json:"target_url"`
	Description string `json:"description"`
	StartedAt   any    `json:"started_at"`
	FinishedAt  any    `json:"finished_at"`
	PipelineID  int64  `json:"pipeline_id"`
	Author      struct {
		Username string `json:"username"`
	} `json:"author"`
}

func TestCommitStatusStateMachine(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	sha, err := s.BranchHead(d.FlutterApp.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	url := "/api/v4/projects/" + itoa(d.FlutterApp.ID) + "/statuses/" + sha
	post := func(body string) answer { return do(t, s, "POST", url, d.Token, body) }

	a := post(`{"state":"pending","name":"oore/build","target_url":"http://127.0.0.1:8787/builds/1","description":"queued"}`)
	var st statusJSON
	a.json(t, &st)
	if a.status != http.StatusCreated || st.Status != "pending" || st.Ref != "main" || st.SHA != sha || st.Name != "oore/build" ||
		st.TargetURL != "http://127.0.0.1:8787/builds/1" || st.Author.Username != "demo" || st.PipelineID == 0 {
		t.Fatalf("pending: %d %s", a.status, a.body)
	}
	first := st.ID
	wantBody(t, post(`{"state":"pending","name":"oore/build"}`), 400,
		`{"message":"Cannot transition status via :enqueue from :pending (Reason(s): Status cannot transition via \"enqueue\")"}`)
	a = post(`{"state":"running","name":"oore/build"}`)
	a.json(t, &st)
	if a.status != 201 || st.ID != first || st.Status != "running" || st.StartedAt == nil || st.Description != "queued" {
		t.Fatalf("running: %d %s", a.status, a.body)
	}
	wantBody(t, post(`{"state":"running","name":"oore/build"}`), 400,
		`{"message":"Cannot transition status via :run from :running (Reason(s): Status cannot transition via \"run\")"}`)
	wantBody(t, post(`{"state":"skipped","name":"oore/build"}`), 400,
		`{"message":"Cannot transition status via :skip from :running (Reason(s): Status cannot transition via \"skip\")"}`)
	a = post(`{"state":"success","name":"oore/build","description":"passed"}`)
	a.json(t, &st)
	if a.status != 201 || st.ID != first || st.Status != "success" || st.FinishedAt == nil {
		t.Fatalf("success: %d %s", a.status, a.body)
	}
	// A finished status is never reused: posting again starts a new one.
	a = post(`{"state":"running","name":"oore/build"}`)
	a.json(t, &st)
	if a.status != 201 || st.ID == first || st.Status != "running" {
		t.Fatalf("rerun: %d %s", a.status, a.body)
	}
	// "context" names the status too, and another ref is another status.
	if a := post(`{"state":"failed","context":"oore/lint","ref":"main"}`); a.status != 201 {
		t.Fatalf("context: %d %s", a.status, a.body)
	}

	all := s.Statuses(d.FlutterApp.ID, sha)
	if len(all) != 3 {
		t.Fatalf("%d statuses", len(all))
	}
	var listed []statusJSON
	get(t, s, "/api/v4/projects/"+itoa(d.FlutterApp.ID)+"/repository/commits/"+sha+"/statuses", d.Token).json(t, &listed)
	if len(listed) != 2 || listed[0].Name != "oore/build" || listed[0].Status != "running" || listed[1].Status != "failed" {
		t.Errorf("latest statuses: %+v", listed)
	}
	get(t, s, "/api/v4/projects/"+itoa(d.FlutterApp.ID)+"/repository/commits/"+sha+"/statuses?all=true", d.Token).json(t, &listed)
	if len(listed) != 3 {
		t.Errorf("all statuses: %d", len(listed))
	}
}

func TestCommitStatusRefusals(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	sha, _ := s.BranchHead(d.DesignSystem.ID, "main")
	// demo is only Reporter on design-system.
	wantBody(t, do(t, s, "POST", "/api/v4/projects/"+itoa(d.DesignSystem.ID)+"/statuses/"+sha, d.Token, `{"state":"success"}`),
		403, `{"message":"403 Forbidden"}`)
	url := "/api/v4/projects/" + itoa(d.FlutterApp.ID) + "/statuses/"
	wantBody(t, do(t, s, "POST", url+"0123456789012345678901234567890123456789", d.Token, `{"state":"success"}`),
		404, `{"message":"404 Commit Not Found"}`)
	head, _ := s.BranchHead(d.FlutterApp.ID, "main")
	wantBody(t, do(t, s, "POST", url+head, d.Token, `{"name":"x"}`), 400, `{"error":"state is missing"}`)
	wantBody(t, do(t, s, "POST", url+head, d.Token, `{"state":"done"}`), 400, `{"error":"state does not have a valid value"}`)
	if a := do(t, s, "POST", url+head, d.ReadOnlyToken, `{"state":"success"}`); a.status != 403 {
		t.Errorf("read_api token: %d", a.status)
	}
	// A commit only on a branch defaults to that branch as ref.
	sha2, err := s.CommitFileToBranch(d.FlutterApp.ID, "topic", "notes.txt", "hi\n", "Add notes")
	if err != nil {
		t.Fatal(err)
	}
	var st statusJSON
	a := do(t, s, "POST", url+sha2, d.Token, `{"state":"success"}`)
	a.json(t, &st)
	if a.status != 201 || st.Ref != "topic" || st.Name != "default" {
		t.Errorf("ref default: %d %s", a.status, a.body)
	}
}
