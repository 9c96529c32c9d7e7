package gitlabsim

import (
	"net/http"
	"strings"
	"time"
)

// maxRequestLog is how many requests RequestLog keeps (the newest).
const maxRequestLog = 10000

// RequestRecord is one request the simulator answered.
type RequestRecord struct {
	// Time is when the answer was finished (simulator clock).
	Time time.Time
	// Method is the HTTP method.
	Method string
	// Path is the URL path, without the query (which may hold a token).
	Path string
	// Status is the answer's status code.
	Status int
}

// requestLog counts requests per method and path; s.mu guards it.
type requestLog struct {
	counts map[string]map[string]int // method -> path -> count
	recent []RequestRecord
}

func newRequestLog() requestLog {
	return requestLog{counts: map[string]map[string]int{}}
}

func (s *Server) recordRequest(r *http.Request, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := &s.state.requests
	byPath := l.counts[r.Method]
	if byPath == nil {
		byPath = map[string]int{}
		l.counts[r.Method] = byPath
	}
	byPath[r.URL.Path]++
	if len(l.recent) >= maxRequestLog {
		l.recent = append(l.recent[:0:0], l.recent[len(l.recent)-maxRequestLog/2:]...)
	}
	l.recent = append(l.recent, RequestRecord{Time: s.nowLocked(), Method: r.Method, Path: r.URL.Path, Status: status})
}

// Requests counts the requests answered so far whose method is method (""
// for any) and whose path starts with pathPrefix, for example
// Requests("GET", "/api/v4/projects"). Faulted requests count too.
func (s *Server) Requests(method, pathPrefix string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for m, byPath := range s.state.requests.counts {
		if method != "" && m != method {
			continue
		}
		for path, c := range byPath {
			if strings.HasPrefix(path, pathPrefix) {
				n += c
			}
		}
	}
	return n
}

// RequestLog returns the most recent requests (up to 10,000), oldest first.
func (s *Server) RequestLog() []RequestRecord {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]RequestRecord(nil), s.state.requests.recent...)
}

// ResetRequests forgets the counted and logged requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.requests = newRequestLog()
}
