package gitlab

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"
	"golang.org/x/oauth2"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// Limits on request fields. GitLab tokens are far shorter; the bounds only
// keep absurd input out of headers and logs.
const (
	maxTokenLen   = 4096
	maxURLLen     = 2048
	maxCABundle   = 1 << 20 // 1 MiB of PEM is hundreds of certificates
	maxSecretLen  = 4096
	maxTextLen    = 4096
	maxScopeCount = 32
)

// HTTP behaviour towards GitLab.
const (
	// httpTimeout bounds one HTTP exchange with GitLab, retries included.
	httpTimeout = 15 * time.Second
	// defaultRateLimitWait is the most one RPC waits in total for GitLab's
	// rate limit to reset before it answers ResourceExhausted.
	defaultRateLimitWait = 10 * time.Second
	// serverErrorTries is how often an idempotent GET is sent when GitLab
	// answers 5xx or cannot be dialled.
	serverErrorTries = 3
	// maxCachedTransports bounds the transports kept per TLS setting.
	maxCachedTransports = 16
)

// userAgent identifies the plugin to GitLab (and to its administrators).
const userAgent = "oore-scm-gitlab/" + Version

// Field names of the connection, as request validation reports them.
const (
	fieldHostURL     = "connection.host_url"
	fieldToken       = "connection.credentials.access_token"
	fieldAuthMode    = "connection.credentials.auth_mode"
	fieldCABundle    = "connection.tls.ca_bundle_pem"
	fieldConnection  = "connection"
	fieldCredentials = "connection.credentials"
)

// normalizeHostURL reduces a GitLab URL to its origin, scheme://host[:port],
// with a lower-case host and without the scheme's default port. It refuses
// what is not an origin (user info, a path, a query, a fragment), schemes
// other than https (http only for loopback hosts), empty hosts and ports out
// of range, with a field violation on field.
func normalizeHostURL(field, raw string) (string, *scmerr.FieldViolation) {
	bad := func(desc string) (string, *scmerr.FieldViolation) {
		return "", &scmerr.FieldViolation{Field: field, Description: desc}
	}
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		return bad("is required")
	case len(raw) > maxURLLen:
		return bad(fmt.Sprintf("must be at most %d characters", maxURLLen))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("is not a valid URL; use the GitLab address, e.g. https://gitlab.example.com")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme == "":
		return bad("must start with https://, e.g. https://gitlab.example.com")
	case scheme != "https" && scheme != "http":
		return bad(fmt.Sprintf("must use https, not %q", scheme+":"))
	case u.Opaque != "":
		return bad("must be an absolute URL such as https://gitlab.example.com")
	case u.User != nil:
		return bad("must not contain a user name or password; the token goes in its own field")
	case u.RawQuery != "" || u.ForceQuery:
		return bad("must not have a query (?...); use the GitLab origin, e.g. https://gitlab.example.com")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("must not have a fragment (#...); use the GitLab origin, e.g. https://gitlab.example.com")
	case u.Path != "" && u.Path != "/":
		return bad("must not have a path; use the GitLab origin, e.g. https://gitlab.example.com (GitLab under a relative URL is not supported)")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return bad("must name a host, e.g. https://gitlab.example.com")
	}
	port := u.Port()
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return bad("has a port out of range (1-65535)")
		}
		if (scheme == "https" && n == 443) || (scheme == "http" && n == 80) {
			port = ""
		} else {
			port = strconv.Itoa(n) // drops leading zeros
		}
	}
	if scheme == "http" && !isLoopback(host) {
		return bad("must use https (http is allowed only for loopback addresses such as 127.0.0.1 or localhost)")
	}
	hostport := host
	if strings.Contains(host, ":") { // IPv6 literal
		hostport = "[" + host + "]"
	}
	if port != "" {
		hostport = net.JoinHostPort(host, port)
	}
	return scheme + "://" + hostport, nil
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// violations collects request field problems so one answer names them all.
type violations []scmerr.FieldViolation

// check applies validator/v10 tags to a value (through scmerr's validator).
func (v *violations) check(field string, value any, tag string) {
	err := scmerr.Validate(scmerr.Check{Field: field, Value: value, Tag: tag})
	if err == nil {
		return
	}
	for _, f := range scmerr.Parse(err).Fields {
		*v = append(*v, f)
	}
}

// add records a problem found by hand.
func (v *violations) add(field, desc string) {
	*v = append(*v, scmerr.FieldViolation{Field: field, Description: desc})
}

// addViolation records a problem returned by a helper, if any.
func (v *violations) addViolation(f *scmerr.FieldViolation) {
	if f != nil {
		*v = append(*v, *f)
	}
}

// err is InvalidArgument naming every problem, or nil.
func (v violations) err() error {
	if len(v) == 0 {
		return nil
	}
	return scmerr.InvalidArgument(v...)
}

// checkToken validates a token: present, bounded, and usable in an HTTP
// header (visible ASCII, no spaces).
func (v *violations) checkToken(field, token string, required bool) {
	if token == "" {
		if required {
			v.add(field, "is required")
		}
		return
	}
	if len(token) > maxTokenLen {
		v.add(field, fmt.Sprintf("must be at most %d characters", maxTokenLen))
		return
	}
	for i := 0; i < len(token); i++ {
		if token[i] <= ' ' || token[i] > '~' {
			v.add(field, "must be printable ASCII without spaces (paste the token exactly as GitLab shows it)")
			return
		}
	}
}

// connectionRequest says what an RPC needs from its connection.
type connectionRequest struct {
	// tokenOptional: the RPC needs no access token (CompleteOAuth).
	tokenOptional bool
}

// connection is one RPC's view of a GitLab host: its origin, credentials
// and HTTP clients. It is built per call and dropped with it.
type connection struct {
	origin string
	creds  *scmv1.Credentials
	// http talks to GitLab with the retry policy (see retryTransport).
	http *http.Client
	// once talks to GitLab without any retry (OAuth token requests: a
	// rotated refresh token must never be sent twice).
	once *http.Client
	// api is client-go on http, authenticated with the access token.
	api *gl.Client
}

// oauth reports whether the connection uses an OAuth access token.
func (c *connection) oauth() bool {
	return c.creds.GetAuthMode() == scmv1.AuthMode_AUTH_MODE_OAUTH_APP
}

// token is the access token; never log or return it.
func (c *connection) token() string { return c.creds.GetAccessToken() }

// connect validates a request's connection and builds its clients. extra
// are violations the caller found in its own fields, reported together.
func (p *Provider) connect(conn *scmv1.Connection, req connectionRequest, extra violations) (*connection, error) {
	v := extra
	if conn == nil {
		v.add(fieldConnection, "is required")
		return nil, v.err()
	}
	origin, bad := normalizeHostURL(fieldHostURL, conn.GetHostUrl())
	v.addViolation(bad)
	creds := conn.GetCredentials()
	switch {
	case creds == nil && !req.tokenOptional:
		v.add(fieldCredentials, "is required")
	case creds != nil:
		switch creds.GetAuthMode() {
		case scmv1.AuthMode_AUTH_MODE_UNSPECIFIED, scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, scmv1.AuthMode_AUTH_MODE_OAUTH_APP:
		default:
			v.add(fieldAuthMode, "must be personal_token or oauth_app for GitLab")
		}
		v.checkToken(fieldToken, creds.GetAccessToken(), !req.tokenOptional)
		v.checkToken(fieldRefreshToken, creds.GetRefreshToken(), false)
	}
	if len(conn.GetTls().GetCaBundlePem()) > maxCABundle {
		v.add(fieldCABundle, fmt.Sprintf("must be at most %d bytes", maxCABundle))
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	base, err := p.transports.get(conn.GetTls())
	if err != nil {
		return nil, err
	}
	budget := &rateBudget{max: p.rateLimitWait}
	c := &connection{
		origin: origin,
		creds:  creds,
		http:   newHTTPClient(&retryTransport{base: base, budget: budget, tries: serverErrorTries, backoff: p.retryBackoff}),
		once:   newHTTPClient(base),
	}
	if creds.GetAccessToken() != "" {
		c.api, err = c.newAPIClient(creds.GetAccessToken())
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// newHTTPClient is a client that never follows redirects (a GitLab URL that
// redirects is the wrong URL, and a redirect must never carry the token
// elsewhere) and gives up after httpTimeout (or the context's deadline).
func newHTTPClient(rt http.RoundTripper) *http.Client {
	return &http.Client{
		Transport:     rt,
		Timeout:       httpTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// newAPIClient is client-go on the connection's HTTP client with token as
// the credential: PRIVATE-TOKEN for personal tokens, Authorization: Bearer
// for OAuth tokens. client-go's own retries and its adaptive rate limiter
// are off: retryTransport is the one retry policy, bounded per call.
func (c *connection) newAPIClient(token string) (*gl.Client, error) {
	var auth gl.AuthSource = gl.AccessTokenAuthSource{Token: token}
	if c.oauth() {
		auth = gl.OAuthTokenSource{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token, TokenType: "Bearer"})}
	}
	api, err := gl.NewAuthSourceClient(auth,
		gl.WithBaseURL(c.origin+"/api/v4/"),
		gl.WithHTTPClient(c.http),
		gl.WithoutRetries(),
		gl.WithCustomLimiter(rate.NewLimiter(rate.Inf, 0)),
		gl.WithUserAgent(userAgent),
		gl.WithURLWarningLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		return nil, scmerr.Newf(codes.Internal, scmerr.ReasonInternal, "set up the GitLab client for %s: %v", c.origin, err)
	}
	return api, nil
}

// tlsKey identifies a TLS configuration: the CA bundle's digest and whether
// verification is skipped.
type tlsKey struct {
	ca       [sha256.Size]byte
	insecure bool
}

// transportCache keeps one http.Transport per TLS configuration so calls
// reuse connections to GitLab. It is bounded: the least recently used
// transport is closed when a new configuration needs room.
type transportCache struct {
	mu    sync.Mutex
	max   int
	items map[tlsKey]*http.Transport
	order []tlsKey // least recently used first
}

func newTransportCache(max int) *transportCache {
	return &transportCache{max: max, items: map[tlsKey]*http.Transport{}}
}

// get returns the transport for these TLS settings, building it on first use.
// A CA bundle without a certificate is InvalidArgument.
func (tc *transportCache) get(s *scmv1.TLSSettings) (*http.Transport, error) {
	key := tlsKey{insecure: s.GetInsecureSkipVerify()}
	pemBytes := s.GetCaBundlePem()
	if len(pemBytes) > 0 {
		key.ca = sha256.Sum256(pemBytes)
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if t, ok := tc.items[key]; ok {
		tc.touch(key)
		return t, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.GetInsecureSkipVerify()} //nolint:gosec // only when the operator asked for it
	if len(pemBytes) > 0 {
		pool, err := caPool(pemBytes)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       cfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if len(tc.order) >= tc.max {
		oldest := tc.order[0]
		tc.order = tc.order[1:]
		tc.items[oldest].CloseIdleConnections()
		delete(tc.items, oldest)
	}
	tc.items[key] = t
	tc.order = append(tc.order, key)
	return t, nil
}

func (tc *transportCache) touch(key tlsKey) {
	for i, k := range tc.order {
		if k == key {
			tc.order = append(append(tc.order[:i:i], tc.order[i+1:]...), key)
			return
		}
	}
}

// caPool is the system roots plus every certificate of a PEM bundle. A bundle
// holding no certificate, or a certificate that does not parse, is refused.
func caPool(bundle []byte) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	n := 0
	rest := bundle
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, scmerr.InvalidArgument(scmerr.FieldViolation{Field: fieldCABundle, Description: fmt.Sprintf("certificate %d does not parse: %v", n+1, err)})
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, scmerr.InvalidArgument(scmerr.FieldViolation{Field: fieldCABundle, Description: "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"})
	}
	return pool, nil
}

// rateBudget is how long one RPC may still wait for GitLab's rate limit to
// reset, shared by every request the RPC makes (parallel ones included).
type rateBudget struct {
	mu     sync.Mutex
	max    time.Duration
	waited time.Duration
}

// reserve records a wait of d and reports whether it fits the budget.
func (b *rateBudget) reserve(d time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waited+d > b.max {
		return false
	}
	b.waited += d
	return true
}

// retryTransport is the one retry policy for GitLab calls:
//
//   - 429: wait as GitLab says (Retry-After, else RateLimit-Reset) and send
//     again, as long as the RPC's total wait stays within its rateBudget and
//     the context's deadline; otherwise the 429 is returned and becomes
//     ResourceExhausted with RetryInfo. GitLab refuses a throttled request
//     before doing anything, so any method is re-sent.
//   - 5xx (except 501), and failures to connect: only idempotent requests
//     (GET, HEAD) are sent again, up to tries in all, with a short backoff.
//   - Everything else is returned as is.
//
// client-go's own retries and rate limiter are disabled (WithoutRetries,
// an infinite limiter) so this is the only policy, with one bounded budget
// per RPC instead of client-go's per-request five retries.
type retryTransport struct {
	base    http.RoundTripper
	budget  *rateBudget
	tries   int
	backoff func(attempt int) time.Duration
}

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	idempotent := req.Method == http.MethodGet || req.Method == http.MethodHead
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	failures := 0
	r := req
	for {
		resp, err := t.base.RoundTrip(r)
		var wait time.Duration
		retry := false
		switch {
		case err != nil:
			failures++
			wait = t.backoff(failures)
			retry = idempotent && failures < t.tries && isDialError(err) && fitsDeadline(ctx, wait)
		case resp.StatusCode == http.StatusTooManyRequests:
			wait = retryAfter(resp.Header, time.Now())
			retry = replayable && fitsDeadline(ctx, wait) && t.budget.reserve(wait)
		case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
			failures++
			wait = t.backoff(failures)
			retry = idempotent && failures < t.tries && fitsDeadline(ctx, wait)
		}
		if !retry || ctx.Err() != nil {
			return resp, err
		}
		if resp != nil {
			drainAndClose(resp)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
		r = req.Clone(ctx)
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r.Body = body
		}
	}
}

// fitsDeadline reports whether waiting d still leaves time before ctx's deadline.
func fitsDeadline(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > d
}

// retryAfter is how long GitLab asks a throttled client to wait: Retry-After
// (seconds or an HTTP date), else RateLimit-Reset (Unix time), else a second.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return max(time.Duration(n)*time.Second, 50*time.Millisecond)
		}
		if at, err := http.ParseTime(v); err == nil {
			return max(at.Sub(now), 50*time.Millisecond)
		}
	}
	if v := strings.TrimSpace(h.Get("RateLimit-Reset")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return max(time.Unix(n, 0).Sub(now), 50*time.Millisecond)
		}
	}
	return time.Second
}

// isDialError reports a failure to connect (refused, unreachable, a DNS
// error other than "no such host"): nothing reached GitLab, so sending the
// request again is safe.
func isDialError(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return !dns.IsNotFound
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// drainAndClose reads a little of an unwanted body so the connection can be
// reused, then closes it.
func drainAndClose(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	_ = resp.Body.Close()
}

// defaultRetryBackoff waits 100 ms, 200 ms, 400 ms ... with ±20 % jitter.
func defaultRetryBackoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt-1, 5)
	return d + time.Duration((rand.Float64()-0.5)*0.4*float64(d))
}

// readLimited reads at most n bytes of a response body.
func readLimited(resp *http.Response, n int64) ([]byte, error) {
	return io.ReadAll(io.LimitReader(resp.Body, n))
}
