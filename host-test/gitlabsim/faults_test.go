package gitlabsim_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
)

func TestRateLimitNextAnswers429LikeRackAttack(t *testing.T) {
	t.Parallel()
	now := time.Date(2021, 1, 5, 10, 59, 30, 0, time.UTC)
	s := gitlabsim.NewTestServer(t, gitlabsim.Options{Now: func() time.Time { return now }})
	u := s.AddUser("r", "R")
	tok := s.AddPersonalAccessToken(u.ID, "t", []string{"api"}, nil, false)
	s.RateLimitNext(2, 30*time.Second)

	for i := 0; i < 2; i++ {
		a := get(t, s, "/api/v4/user", tok)
		if a.status != http.StatusTooManyRequests || string(a.body) != "Retry later\n" {
			t.Fatalf("request %d: %d %q", i, a.status, a.body)
		}
		want := map[string]string{
			"RateLimit-Limit":     "60",
			"RateLimit-Name":      "throttle_authenticated_api",
			"RateLimit-Observed":  strconv.Itoa(61 + i),
			"RateLimit-Remaining": "0",
			"RateLimit-Reset":     "1609844400",
			"RateLimit-ResetTime": "Tue, 05 Jan 2021 11:00:00 GMT",
			"Retry-After":         "30",
			"Content-Type":        "text/plain",
		}
		for k, v := range want {
			if got := a.header.Get(k); got != v {
				t.Errorf("request %d: %s = %q, want %q", i, k, got, v)
			}
		}
	}
	if a := get(t, s, "/api/v4/user", tok); a.status != 200 {
		t.Fatalf("third request: %d", a.status)
	}
	if n := s.Requests("GET", "/api/v4/user"); n != 3 {
		t.Errorf("Requests = %d, want 3", n)
	}
}

func TestFailNextAndLatency(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	s.FailNext(1, http.StatusInternalServerError)
	wantBody(t, get(t, s, "/api/v4/projects", d.Token), 500, `{"message":"500 Internal Server Error"}`)
	s.FailNext(2, http.StatusBadGateway)
	for i := 0; i < 2; i++ {
		if a := get(t, s, "/api/v4/projects", d.Token); a.status != http.StatusBadGateway {
			t.Fatalf("502 #%d: %d", i, a.status)
		}
	}
	if a := get(t, s, "/api/v4/projects", d.Token); a.status != 200 {
		t.Fatalf("after faults: %d", a.status)
	}
	// OAuth and git are not API requests: faults leave them alone.
	s.FailNext(1, http.StatusInternalServerError)
	if a := get(t, s, "/oauth/token/info", ""); a.status != http.StatusUnauthorized {
		t.Errorf("oauth during FailNext: %d", a.status)
	}
	if a := get(t, s, "/api/v4/user", d.Token); a.status != 500 {
		t.Errorf("FailNext was used up by a non-API request: %d", a.status)
	}

	s.SetLatency(150 * time.Millisecond)
	start := time.Now()
	get(t, s, "/api/v4/user", d.Token)
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("latency not applied: %v", el)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/v4/user", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("a request shorter than the latency did not time out")
	}
	s.SetLatency(0)
}

func TestRequestCountersAndLog(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	get(t, s, "/api/v4/projects?private_token="+d.Token, "")
	get(t, s, "/api/v4/projects/"+itoa(d.FlutterApp.ID), d.Token)
	do(t, s, "POST", "/api/v4/projects/"+itoa(d.FlutterApp.ID)+"/hooks", d.Token, `{"url":"http://127.0.0.1:1/h"}`)
	if n := s.Requests("GET", "/api/v4/projects"); n != 2 {
		t.Errorf("GET /api/v4/projects* = %d", n)
	}
	if n := s.Requests("", "/api/v4/projects"); n != 3 {
		t.Errorf("any /api/v4/projects* = %d", n)
	}
	log := s.RequestLog()
	if len(log) != 3 || log[0].Path != "/api/v4/projects" || log[2].Method != "POST" || log[2].Status != 201 {
		t.Errorf("log = %+v", log)
	}
	for _, r := range log {
		if len(r.Path) > 0 && r.Path[len(r.Path)-1] == '?' {
			t.Errorf("query kept: %q", r.Path)
		}
	}
	s.ResetRequests()
	if n := s.Requests("", "/"); n != 0 {
		t.Errorf("after reset: %d", n)
	}
}

func TestFailNextOnAimsAtOneRoute(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	route := "GET /api/v4/projects/{id}"
	one := "/api/v4/projects/" + strconv.FormatInt(d.Website.ID, 10)
	s.FailNextOn(route, 2, http.StatusServiceUnavailable)
	// Other routes are served, and do not use the fault up.
	for range 3 {
		if a := get(t, s, "/api/v4/user", d.Token); a.status != 200 {
			t.Fatalf("another route during FailNextOn: %d", a.status)
		}
	}
	for i := range 2 {
		if a := get(t, s, one, d.Token); a.status != http.StatusServiceUnavailable {
			t.Fatalf("failure #%d of the route: %d", i, a.status)
		}
	}
	if a := get(t, s, one, d.Token); a.status != 200 {
		t.Fatalf("after the route's faults: %d", a.status)
	}
	s.FailNextOn(route, 5, http.StatusInternalServerError)
	s.FailNextOn(route, 0, 0)
	if a := get(t, s, one, d.Token); a.status != 200 {
		t.Fatalf("after clearing the route's fault: %d", a.status)
	}
}
