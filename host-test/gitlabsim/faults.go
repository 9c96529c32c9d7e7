package gitlabsim

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// rateLimitPerMinute is the RateLimit-Limit the simulator reports, the
// value of the documented example (gitlab_doc_rate_limited_429.headers).
const rateLimitPerMinute = 60

// faultState holds the injected faults; s.mu guards it.
type faultState struct {
	latency       time.Duration
	rateLimitLeft int
	retryAfter    time.Duration
	throttled     int
	failLeft      int
	failStatus    int
	// routeFails are FailNextOn's faults, by route pattern.
	routeFails map[string]routeFault
}

// routeFault is how many more requests of one route fail, and with what.
type routeFault struct {
	left, status int
}

// SetLatency delays every API request (/api/...) by d before it is
// answered; zero turns the delay off. A request whose context ends first is
// dropped.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.faults.latency = d
}

// RateLimitNext makes the next n API requests fail the way GitLab's
// Rack::Attack throttle does: 429 with the plain-text body "Retry later"
// and the headers RateLimit-Limit, RateLimit-Name, RateLimit-Observed,
// RateLimit-Remaining (0), RateLimit-Reset (Unix time), RateLimit-ResetTime
// (HTTP date) and Retry-After (whole seconds, rounded up). Rate limiting is
// checked before FailNext.
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.faults.rateLimitLeft = n
	s.state.faults.retryAfter = retryAfter
}

// FailNext makes the next n API requests fail with status (for example 500,
// 502 or 503): a 500 has GitLab's JSON body, other statuses the HTML page a
// proxy in front of GitLab answers with.
func (s *Server) FailNext(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.faults.failLeft = n
	s.state.faults.failStatus = status
}

// FailNextOn is FailNext for one endpoint only: the next n API requests
// that route serves fail with status, every other request is answered as
// usual. route is the endpoint's pattern as the simulator registers it, for
// example "DELETE /api/v4/projects/{id}/hooks/{hook_id}". Fault injection,
// not GitLab behaviour: it stands for a GitLab (or the proxy in front of it)
// failing one call while the calls before it succeeded, which FailNext
// cannot aim at when the code under test makes other requests first. Checked
// after RateLimitNext and FailNext; n = 0 clears the route's fault.
func (s *Server) FailNextOn(route string, n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.faults.routeFails == nil {
		s.state.faults.routeFails = map[string]routeFault{}
	}
	if n <= 0 {
		delete(s.state.faults.routeFails, route)
		return
	}
	s.state.faults.routeFails[route] = routeFault{left: n, status: status}
}

// applyFaults delays and possibly answers an API request, served by the
// route pattern route. It reports true when it has answered.
func (s *Server) applyFaults(ctx context.Context, w http.ResponseWriter, route string) bool {
	s.mu.RLock()
	latency := s.state.faults.latency
	s.mu.RUnlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return true
		}
	}

	s.mu.Lock()
	f := &s.state.faults
	now := s.nowLocked()
	switch {
	case f.rateLimitLeft > 0:
		f.rateLimitLeft--
		f.throttled++
		observed := rateLimitPerMinute + f.throttled
		retry := f.retryAfter
		s.mu.Unlock()
		reset := now.Add(retry)
		h := w.Header()
		h.Set("RateLimit-Limit", strconv.Itoa(rateLimitPerMinute))
		h.Set("RateLimit-Name", "throttle_authenticated_api")
		h.Set("RateLimit-Observed", strconv.Itoa(observed))
		h.Set("RateLimit-Remaining", "0")
		h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		h.Set("RateLimit-ResetTime", reset.UTC().Format(http.TimeFormat))
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(retry.Seconds())), 10))
		h.Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte("Retry later\n"))
		s.log.Info("simulated rate limit", "retry_after", retry)
		return true
	case f.failLeft > 0 || f.routeFails[route].left > 0:
		status := f.failStatus
		if f.failLeft > 0 {
			f.failLeft--
		} else {
			rf := f.routeFails[route]
			status = rf.status
			if rf.left--; rf.left == 0 {
				delete(f.routeFails, route)
			} else {
				f.routeFails[route] = rf
			}
		}
		s.mu.Unlock()
		if status == http.StatusInternalServerError {
			apiMessage(w, status, "500 Internal Server Error")
		} else {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(status)
			text := fmt.Sprintf("%d %s", status, http.StatusText(status))
			_, _ = fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head><title>%s</title></head><body><h1>%s</h1><p>GitLab simulator: injected failure.</p></body></html>\n", text, text)
		}
		s.log.Info("simulated failure", "status", status)
		return true
	}
	s.mu.Unlock()
	return false
}
