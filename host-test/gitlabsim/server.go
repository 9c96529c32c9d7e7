package gitlabsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// SimulatorHeader is the response header that labels every answer of the
// simulator, with the value [SimulatorName], so nobody mistakes it for GitLab.
const SimulatorHeader = "X-Simulator"

// SimulatorName is the value of [SimulatorHeader] and the name the simulator
// logs under.
const SimulatorName = "oore-gitlab-sim"

// DefaultVersion is the GitLab version the simulator claims when
// Options.Version is empty. It appears in /api/v4/version and in the
// User-Agent of webhook deliveries ("GitLab/17.6.0").
const DefaultVersion = "17.6.0"

// Options configure a [Server]. The zero value is usable.
type Options struct {
	// Logger receives the simulator's logs. Requests are logged at debug
	// level (method, path without query, status, duration: never a token),
	// state changes such as deliveries and grants at info level. Nil
	// discards everything.
	Logger hclog.Logger

	// Version is the GitLab version to claim, for example "17.6.0". Empty
	// means [DefaultVersion].
	Version string

	// ExternalURL is the base URL the simulator puts into links, clone URLs,
	// pagination headers and webhook payloads, for example
	// "http://127.0.0.1:8929". Empty means Server.URL, which the test
	// helpers fill in. No trailing slash is needed.
	ExternalURL string

	// DataDir is where the bare git repositories live. Empty means a new
	// temporary directory that Close removes; a directory given here is
	// used as is and never removed.
	DataDir string

	// Now is the clock. Nil means time.Now. [Server.AdvanceTime] moves the
	// simulator's clock forward from whatever Now returns.
	Now func() time.Time
}

// Server is the GitLab simulator. It is an http.Handler serving the REST API
// under /api/v4, OAuth under /oauth, git smart HTTP under /<project>.git and
// a small admin API under /-/sim/. All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL the server listens on, without a trailing slash.
	// NewTestServer and NewTLSTestServer set it before the server starts;
	// when serving the handler yourself, set it (or Options.ExternalURL)
	// before the first request and do not change it afterwards.
	URL string

	opts    Options
	log     hclog.Logger
	version string
	mux     *http.ServeMux
	ts      *httptest.Server

	mu    sync.RWMutex
	state state

	data dataDir
}

// state is everything the simulator remembers; s.mu guards it.
type state struct {
	clockOffset time.Duration

	nextUserID, nextNamespaceID, nextProjectID, nextTokenID      int64
	nextHookID, nextStatusID, nextPipelineID, nextMergeRequestID int64
	nextOAuthAppID, nextGrantID                                  int64

	users       map[int64]*User
	usersByName map[string]*User
	namespaces  map[int64]*namespace
	nsByPath    map[string]*namespace // lower-cased full path

	projects       []*project // sorted by ID (IDs only grow)
	projectByID    map[int64]*project
	projectByPath  map[string]*project  // lower-cased full path
	memberProjects map[int64][]*project // user ID -> projects sorted by ID

	pats map[string]*patRecord // token -> record

	oauth oauthState

	hooks    map[int64][]*hookRecord // project ID -> hooks
	statuses map[int64][]*statusRecord
	pipes    map[int64][]*pipelineRecord

	faults     faultState
	requests   requestLog
	deliveries []*WebhookResult

	allowLocalRequests bool
}

// New returns a simulator with only GitLab's built-in administrator "root"
// (user ID 1). Seed it with AddUser, AddProject, SeedDemo and friends.
// Call Close when done to remove its temporary data directory.
func New(opts Options) *Server {
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	version := opts.Version
	if version == "" {
		version = DefaultVersion
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:    opts,
		log:     logger,
		version: version,
	}
	s.state = state{
		nextUserID:         1,
		nextNamespaceID:    101,
		nextProjectID:      1001,
		nextTokenID:        1,
		nextHookID:         1,
		nextStatusID:       1,
		nextPipelineID:     1,
		nextMergeRequestID: 1,
		nextOAuthAppID:     1,
		nextGrantID:        1,
		users:              map[int64]*User{},
		usersByName:        map[string]*User{},
		namespaces:         map[int64]*namespace{},
		nsByPath:           map[string]*namespace{},
		projectByID:        map[int64]*project{},
		projectByPath:      map[string]*project{},
		memberProjects:     map[int64][]*project{},
		pats:               map[string]*patRecord{},
		oauth:              newOAuthState(),
		hooks:              map[int64][]*hookRecord{},
		statuses:           map[int64][]*statusRecord{},
		pipes:              map[int64][]*pipelineRecord{},
		requests:           newRequestLog(),
		allowLocalRequests: true,
	}
	s.data.configured = opts.DataDir
	s.AddUser("root", "Administrator")
	s.mux = s.routes()
	return s
}

// NewTestServer starts the simulator on a plain-HTTP listener on 127.0.0.1,
// sets s.URL, and stops it and removes its data when the test ends.
func NewTestServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	ts := httptest.NewUnstartedServer(s)
	s.URL = "http://" + ts.Listener.Addr().String()
	s.ts = ts
	ts.Start()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewTLSTestServer is NewTestServer over HTTPS, with a certificate for
// 127.0.0.1 signed by a throwaway CA. CACertPEM returns that CA so tests can
// exercise custom-CA handling; HTTPClient returns a client that trusts it.
func NewTLSTestServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	ts := httptest.NewUnstartedServer(s)
	s.URL = "https://" + ts.Listener.Addr().String()
	s.ts = ts
	ts.StartTLS()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// CACertPEM returns the PEM-encoded certificate that a TLS test server's
// certificate chains to, or nil for a plain-HTTP or self-served simulator.
func (s *Server) CACertPEM() []byte {
	if s.ts == nil || s.ts.TLS == nil {
		return nil
	}
	return pemCertificate(s.ts.Certificate().Raw)
}

// HTTPClient returns a client for the test server (trusting its CA when it
// serves TLS), or http.DefaultClient when the simulator was not started by
// NewTestServer or NewTLSTestServer.
func (s *Server) HTTPClient() *http.Client {
	if s.ts == nil {
		return http.DefaultClient
	}
	return s.ts.Client()
}

// Close stops a test server started by NewTestServer or NewTLSTestServer and
// removes the temporary data directory (never a configured Options.DataDir).
// It is safe to call more than once.
func (s *Server) Close() error {
	if s.ts != nil {
		s.ts.Close()
	}
	return s.data.remove()
}

// BaseURL is the URL the simulator puts into links and payloads:
// Options.ExternalURL when set, otherwise Server.URL.
func (s *Server) BaseURL() string {
	if s.opts.ExternalURL != "" {
		return strings.TrimRight(s.opts.ExternalURL, "/")
	}
	return strings.TrimRight(s.URL, "/")
}

// Version is the GitLab version the simulator claims.
func (s *Server) Version() string { return s.version }

// AdvanceTime moves the simulator's clock forward by d, so tests can expire
// OAuth access tokens, authorization codes and personal access tokens
// without sleeping.
func (s *Server) AdvanceTime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.clockOffset += d
}

// Now is the simulator's current time: Options.Now plus every AdvanceTime.
func (s *Server) Now() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nowLocked()
}

func (s *Server) nowLocked() time.Time {
	return s.opts.Now().Add(s.state.clockOffset)
}

// ServeHTTP labels the response as the simulator's, applies the injected
// faults to API requests, routes the request and counts it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w.Header().Set(SimulatorHeader, SimulatorName)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		s.recordRequest(r, rec.status)
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration", time.Since(start))
	}()
	if strings.HasPrefix(r.URL.Path, "/api/") && s.applyFaults(r.Context(), rec, s.routeOf(r)) {
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// routeOf is the pattern of the route that serves r (FailNextOn's key).
func (s *Server) routeOf(r *http.Request) string {
	_, pattern := s.mux.Handler(r)
	return pattern
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v4/user", s.handleCurrentUser)
	mux.HandleFunc("GET /api/v4/personal_access_tokens/self", s.handleTokenSelf)
	mux.HandleFunc("GET /api/v4/version", s.handleVersion)
	mux.HandleFunc("GET /api/v4/projects", s.handleListProjects)
	mux.HandleFunc("GET /api/v4/projects/{id}", s.handleGetProject)
	mux.HandleFunc("GET /api/v4/projects/{id}/hooks", s.handleListHooks)
	mux.HandleFunc("POST /api/v4/projects/{id}/hooks", s.handleCreateHook)
	mux.HandleFunc("GET /api/v4/projects/{id}/hooks/{hook_id}", s.handleGetHook)
	mux.HandleFunc("PUT /api/v4/projects/{id}/hooks/{hook_id}", s.handleUpdateHook)
	mux.HandleFunc("DELETE /api/v4/projects/{id}/hooks/{hook_id}", s.handleDeleteHook)
	mux.HandleFunc("POST /api/v4/projects/{id}/statuses/{sha}", s.handleCreateStatus)
	mux.HandleFunc("GET /api/v4/projects/{id}/repository/commits/{sha}/statuses", s.handleListStatuses)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
	})

	mux.HandleFunc("GET /oauth/authorize", s.handleAuthorize)
	mux.HandleFunc("POST /oauth/authorize", s.handleAuthorizeDecision)
	mux.HandleFunc("POST /oauth/token", s.handleToken)
	mux.HandleFunc("POST /oauth/revoke", s.handleRevoke)
	mux.HandleFunc("GET /oauth/token/info", s.handleTokenInfo)

	s.adminRoutes(mux)

	mux.HandleFunc("/", s.handleGitOrNotFound)
	return mux
}

// writeJSON answers with v as JSON, the way GitLab's API does (no HTML
// escaping of <, > and &).
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := marshalJSON(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// marshalJSON encodes v without HTML escaping and without a trailing newline.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// apiMessage answers {"message": msg}, GitLab's render_api_error! shape.
func apiMessage(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

// apiError answers {"error": msg}, the shape of Grape's error! with a string
// (parameter validation, "Invalid url given", keyset refusals).
func apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// gitlabTime formats t the way GitLab's API does: UTC with milliseconds.
func gitlabTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// statusRecorder remembers the status code while passing writes and flushes
// straight through (git packs are streamed, never buffered).
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status = code
		r.wroteHeader = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	r.wroteHeader = true
	return r.ResponseWriter.Write(p)
}

// Flush passes a flush through to the underlying writer.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// dataDir is the lazily created directory holding the bare repositories.
type dataDir struct {
	configured string
	once       sync.Once
	path       string
	owned      bool
	err        error
	mu         sync.Mutex
	removed    bool
}

func (d *dataDir) get() (string, error) {
	d.once.Do(func() {
		if d.configured != "" {
			d.err = os.MkdirAll(d.configured, 0o755)
			d.path = d.configured
			return
		}
		d.path, d.err = os.MkdirTemp("", "oore-gitlab-sim-*")
		d.owned = d.err == nil
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.removed || (d.err == nil && d.path == "") {
		return "", errors.New("gitlabsim: the simulator is closed")
	}
	return d.path, d.err
}

func (d *dataDir) remove() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Make sure a later get cannot create a directory nobody removes.
	d.once.Do(func() {})
	if d.removed {
		return nil
	}
	d.removed = true
	if !d.owned {
		return nil
	}
	return os.RemoveAll(d.path)
}
