package host

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// The checkout proxy: runners fetch a job's repository through the host,
// over git's smart HTTP protocol, with the job's token. The host fetches
// from the SCM host with the credentials the provider plugin hands out for
// that repository, so those never reach a runner, its environment, a build
// log or a build snapshot. Only git-upload-pack (fetch) passes; pushes never
// do. Requests and packs are streamed both ways, never held whole.
const (
	// checkoutRoute is the proxy's route on the host's router.
	checkoutRoute = "/v1/runners/{runner_id}/jobs/{job_id}/{provider}/{path...}"
	// checkoutRealm is the Basic-auth realm of the 401 challenge: git sends
	// the user name and password of the URL only after one.
	checkoutRealm = `Basic realm="Oore checkout", charset="UTF-8"`
	// checkoutMaxDuration bounds one proxied request (a large pack may take
	// a while; the host's server timeouts are shorter).
	checkoutMaxDuration = time.Hour
	// upstreamHeaderTimeout bounds the wait for the SCM host's answer.
	upstreamHeaderTimeout = 2 * time.Minute
	// upstreamDialTimeout bounds connecting to the SCM host.
	upstreamDialTimeout = 15 * time.Second
	// maxUpstreamMessage bounds the part of an SCM host's error answer that
	// is passed on to the runner.
	maxUpstreamMessage = 1024
	// maxCheckoutPath bounds the repository part of a proxy URL.
	maxCheckoutPath = 2048
)

// Git smart-HTTP content types of upload-pack.
const (
	contentTypeAdvertisement = "application/x-git-upload-pack-advertisement"
	contentTypeUploadRequest = "application/x-git-upload-pack-request"
	contentTypeUploadResult  = "application/x-git-upload-pack-result"
)

// The git request parts of a proxy path.
const (
	gitInfoRefs    = "/info/refs"
	gitUploadPack  = "/git-upload-pack"
	gitReceivePack = "/git-receive-pack"
)

// forwardedRequestHeaders pass from the runner to the SCM host as they are.
// Authorization never does: the proxy sets its own.
var forwardedRequestHeaders = []string{"Accept", "Accept-Encoding", "Content-Type", "Content-Encoding", "Git-Protocol", "User-Agent"}

// forwardedResponseHeaders pass from the SCM host to the runner.
var forwardedResponseHeaders = []string{"Content-Type", "Content-Encoding", "Content-Length", "Cache-Control", "Expires", "Pragma"}

// checkoutProxy serves checkoutRoute.
type checkoutProxy struct {
	h        *Host
	upstream *http.Client
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
}

// newCheckoutProxy returns the proxy of a host, with an HTTP client of its
// own that follows no redirect and leaves bodies (and their encoding) alone.
func newCheckoutProxy(h *Host) *checkoutProxy {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: upstreamDialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.DisableCompression = true
	tr.ResponseHeaderTimeout = upstreamHeaderTimeout
	tr.MaxIdleConnsPerHost = 16
	tr.TLSClientConfig = scmTLSConfig(h.cfg.SCMTLS)
	p := &checkoutProxy{
		h: h,
		upstream: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oore_host_checkout_requests_total",
			Help: "Requests to the checkout proxy by provider, git request (info_refs, upload_pack, receive_pack, other) and outcome.",
		}, []string{"provider", "request", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oore_host_checkout_response_bytes_total",
			Help: "Bytes the checkout proxy streamed from SCM hosts to runners, by provider.",
		}, []string{"provider"}),
	}
	p.requests = registerOnce(h.metrics.reg, p.requests)
	p.bytes = registerOnce(h.metrics.reg, p.bytes)
	return p
}

// registerOnce registers c, or returns the collector already registered
// under its name (a second proxy on the same host).
func registerOnce(reg *prometheus.Registry, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
	}
	return c
}

// Outcomes of a proxied request (metrics label).
const (
	checkoutOK              = "ok"
	checkoutBadRequest      = "bad_request"
	checkoutPushRefused     = "push_refused"
	checkoutUnauthorized    = "unauthorized"
	checkoutForbidden       = "forbidden"
	checkoutNoCredentials   = "credentials_unavailable"
	checkoutUpstreamRefused = "upstream_refused"
	checkoutUpstreamError   = "upstream_error"
	checkoutAborted         = "aborted"
	checkoutInternal        = "error"
)

// gitError is an answer git shows to its user: a status and a plain-text
// message (git prints text/plain bodies of failed requests as "remote: ...").
type gitError struct {
	status  int
	outcome string
	msg     string
}

func (e *gitError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func gitFail(status int, outcome, format string, args ...any) *gitError {
	return &gitError{status: status, outcome: outcome, msg: fmt.Sprintf(format, args...)}
}

// serve proxies one git request of a job's runner.
func (p *checkoutProxy) serve(w http.ResponseWriter, r *http.Request) error {
	metricProvider, request := "unknown", "other"
	outcome := checkoutInternal
	defer func() { p.requests.WithLabelValues(metricProvider, request, outcome).Inc() }()
	gr, gerr := parseGitRequest(r)
	if gr.part != "" {
		request = strings.TrimPrefix(strings.ReplaceAll(gr.part, "-", "_"), "/git_")
		if gr.part == gitInfoRefs {
			request = "info_refs"
		}
	}
	var job store.Job
	if gerr == nil {
		job, gerr = p.authenticate(r, gr)
	}
	if gerr == nil {
		metricProvider = job.Provider
		gerr = p.proxy(w, r, gr, job)
	}
	var ge *gitError
	switch {
	case gerr == nil:
		outcome = checkoutOK
	case errors.As(gerr, &ge):
		outcome = ge.outcome
		p.refuse(w, r, gr, ge)
	default:
		// The answer has started; nothing can be said to git any more.
		outcome = checkoutAborted
		p.h.log.Warn("checkout stream ended early", "job_id", gr.jobID, "runner_id", gr.runnerID, "repository", gr.fullName, "error", gerr)
	}
	return nil
}

// refuse answers git with a plain-text error and logs why.
func (p *checkoutProxy) refuse(w http.ResponseWriter, r *http.Request, gr gitRequest, e *gitError) {
	level := p.h.log.Info
	if e.status >= 500 {
		level = p.h.log.Warn
	}
	level("checkout refused", "method", r.Method, "job_id", gr.jobID, "runner_id", gr.runnerID, "provider", gr.provider,
		"repository", gr.fullName, "status", e.status, "outcome", e.outcome, "reason", e.msg)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if e.status == http.StatusUnauthorized {
		hdr.Set("WWW-Authenticate", checkoutRealm)
	}
	w.WriteHeader(e.status)
	_, _ = io.WriteString(w, "oore checkout: "+e.msg+"\n")
}

// authenticate finds the job the token is for and checks that it may fetch
// this repository now. A missing, unknown or wrong token, and a job of
// another runner, are all 401 alike; an expired token says so.
func (p *checkoutProxy) authenticate(r *http.Request, gr gitRequest) (store.Job, error) {
	token, ok := jobToken(r)
	if !ok {
		return store.Job{}, gitFail(http.StatusUnauthorized, checkoutUnauthorized,
			"a job token is required: use it as the password of the clone URL (any user name) or as a Bearer token")
	}
	invalid := gitFail(http.StatusUnauthorized, checkoutUnauthorized, "the job token is not valid for this job")
	js := p.h.jobs()
	if js == nil {
		return store.Job{}, gitFail(http.StatusNotImplemented, checkoutInternal, "this host's store keeps no jobs")
	}
	if gr.jobID == "" || len(gr.jobID) > 128 {
		return store.Job{}, invalid
	}
	job, err := js.GetJob(r.Context(), gr.jobID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Job{}, invalid
	}
	if err != nil {
		p.h.log.Error("checkout: read the job", "job_id", gr.jobID, "error", err)
		return store.Job{}, gitFail(http.StatusInternalServerError, checkoutInternal, "internal error while reading the job; see the host's log")
	}
	tokenOK := subtle.ConstantTimeCompare(hashJobToken(token), job.TokenHash) == 1
	runnerOK := subtle.ConstantTimeCompare([]byte(gr.runnerID), []byte(job.RunnerID)) == 1
	if !tokenOK || !runnerOK {
		return store.Job{}, invalid
	}
	if now := p.h.now().Unix(); now >= job.ExpiresAt {
		return store.Job{}, gitFail(http.StatusUnauthorized, checkoutUnauthorized,
			"the job token expired at %s; ask the host for a new job", time.Unix(job.ExpiresAt, 0).UTC().Format(time.RFC3339))
	}
	if gr.provider != job.Provider || !strings.EqualFold(gr.fullName, job.RepositoryFullName) {
		return store.Job{}, gitFail(http.StatusForbidden, checkoutForbidden,
			"job %s may fetch only %s/%s", job.ID, job.Provider, job.RepositoryFullName)
	}
	return job, nil
}

// proxy fetches from the SCM host with the repository's clone credentials
// and streams the answer back. A *gitError is returned while nothing has
// been written yet; any other error means the stream broke midway.
func (p *checkoutProxy) proxy(w http.ResponseWriter, r *http.Request, gr gitRequest, job store.Job) error {
	ctx := r.Context()
	creds, gerr := p.cloneCredentials(ctx, job)
	if gerr != nil {
		return gerr
	}
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(checkoutMaxDuration)
	_ = rc.SetWriteDeadline(deadline) // not every ResponseWriter supports deadlines
	target := strings.TrimSuffix(creds.GetCloneUrl(), "/") + gr.part
	var body io.Reader
	if gr.part == gitInfoRefs {
		target += "?service=git-upload-pack"
	} else {
		_ = rc.SetReadDeadline(deadline)
		// The request body streams to the SCM host while its answer may
		// already stream back.
		_ = rc.EnableFullDuplex()
		body = r.Body
		if r.ContentLength == 0 {
			body = http.NoBody
		}
	}
	up, err := http.NewRequestWithContext(ctx, r.Method, target, body)
	if err != nil {
		return gitFail(http.StatusBadGateway, checkoutUpstreamError, "the %s plugin gave an unusable clone URL", job.Provider)
	}
	if body != nil {
		up.ContentLength = r.ContentLength
	}
	for _, k := range forwardedRequestHeaders {
		if v := r.Header.Values(k); len(v) > 0 {
			up.Header[k] = v
		}
	}
	want := contentTypeAdvertisement
	if gr.part == gitUploadPack {
		want = contentTypeUploadResult
	}
	if up.Header.Get("Accept") == "" {
		up.Header.Set("Accept", want+", */*")
	}
	up.SetBasicAuth(creds.GetUsername(), creds.GetPassword())
	resp, err := p.upstream.Do(up)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("fetch %s: runner went away: %w", job.RepositoryFullName, ctx.Err())
		}
		return gitFail(http.StatusBadGateway, checkoutUpstreamError, "%s could not be reached for %s: %s",
			job.Provider, job.RepositoryFullName, redact(upstreamCause(err), creds.GetPassword()))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || mediaType(resp.Header.Get("Content-Type")) != want {
		return upstreamFailure(resp, job, creds.GetPassword(), want)
	}
	for _, k := range forwardedResponseHeaders {
		if v := resp.Header.Values(k); len(v) > 0 {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(http.StatusOK)
	n, err := io.Copy(flushWriter{w: w, rc: rc}, resp.Body)
	p.bytes.WithLabelValues(job.Provider).Add(float64(n))
	if err != nil {
		return fmt.Errorf("stream %s of %s after %d bytes: %w", gr.part, job.RepositoryFullName, n, err)
	}
	p.h.log.Debug("checkout served", "job_id", job.ID, "runner_id", job.RunnerID, "repository", job.RepositoryFullName, "request", gr.part, "bytes", n)
	return nil
}

// flushWriter flushes after every write, so git sees progress and packets
// as they come rather than when a buffer fills.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		_ = f.rc.Flush()
	}
	return n, err
}
