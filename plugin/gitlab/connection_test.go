package gitlab

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

func TestNormalizeHostURL(t *testing.T) {
	t.Parallel()
	good := map[string]struct {
		in, want string
	}{
		"https origin":               {"https://gitlab.example.com", "https://gitlab.example.com"},
		"trailing slash":             {"https://gitlab.example.com/", "https://gitlab.example.com"},
		"upper-case scheme and host": {"HTTPS://GitLab.Example.COM", "https://gitlab.example.com"},
		"default https port dropped": {"https://gitlab.example.com:443/", "https://gitlab.example.com"},
		"other port kept":            {"https://gitlab.example.com:8443", "https://gitlab.example.com:8443"},
		"leading zeros in port":      {"https://gitlab.example.com:08443", "https://gitlab.example.com:8443"},
		"surrounding spaces":         {"  https://gitlab.com  ", "https://gitlab.com"},
		"http on 127.0.0.1":          {"http://127.0.0.1:8929", "http://127.0.0.1:8929"},
		"http on 127.x loopback":     {"http://127.10.20.30:8929", "http://127.10.20.30:8929"},
		"http on localhost":          {"http://LOCALHOST:3000/", "http://localhost:3000"},
		"http default port dropped":  {"http://localhost:80", "http://localhost"},
		"http on ::1":                {"http://[::1]:8080", "http://[::1]:8080"},
		"https IPv6 without port":    {"https://[2001:db8::1]", "https://[2001:db8::1]"},
	}
	for name, tc := range good {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, bad := normalizeHostURL("host_url", tc.in)
			if bad != nil {
				t.Fatalf("normalizeHostURL(%q) refused: %s", tc.in, bad.Description)
			}
			if got != tc.want {
				t.Fatalf("normalizeHostURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}

	bad := map[string]struct {
		in   string
		want string // a word the description must hold
	}{
		"empty":                  {"", "required"},
		"blank":                  {"   ", "required"},
		"javascript scheme":      {"javascript:alert(1)", "https"},
		"file scheme":            {"file:///etc/passwd", "https"},
		"ftp scheme":             {"ftp://gitlab.example.com", "https"},
		"no scheme":              {"gitlab.example.com", "https://"},
		"scheme-relative":        {"//gitlab.example.com", "https://"},
		"user info":              {"https://user:pass@gitlab.example.com", "user name"},
		"user only":              {"https://glpat-xyz@gitlab.example.com", "user name"},
		"path":                   {"https://gitlab.example.com/gitlab", "path"},
		"api path":               {"https://gitlab.example.com/api/v4", "path"},
		"query":                  {"https://gitlab.example.com/?private_token=x", "query"},
		"empty query":            {"https://gitlab.example.com/?", "query"},
		"fragment":               {"https://gitlab.example.com/#top", "fragment"},
		"empty fragment":         {"https://gitlab.example.com#", "fragment"},
		"port zero":              {"https://gitlab.example.com:0", "port"},
		"port out of range":      {"https://gitlab.example.com:70000", "port"},
		"huge port":              {"https://gitlab.example.com:99999999999999999999", "port"},
		"non-numeric port":       {"https://gitlab.example.com:https", "valid URL"},
		"empty host":             {"https://", "host"},
		"empty host with port":   {"https://:443", "host"},
		"http to a remote host":  {"http://gitlab.example.com", "https"},
		"http to private IP":     {"http://10.0.0.5", "https"},
		"http to localhost.evil": {"http://localhost.evil.com", "https"},
		"control character":      {"https://gitlab.example.com/\x00", "valid URL"},
		"space in host":          {"https://gitlab example.com", "valid URL"},
		"one megabyte":           {"https://" + strings.Repeat("a", 1<<20) + ".com", "at most"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, v := normalizeHostURL("connection.host_url", tc.in)
			if v == nil {
				t.Fatalf("normalizeHostURL(%.80q) = %q, want a refusal", tc.in, got)
			}
			if v.Field != "connection.host_url" {
				t.Fatalf("field = %q", v.Field)
			}
			if !strings.Contains(v.Description, tc.want) {
				t.Fatalf("description %q does not mention %q", v.Description, tc.want)
			}
			if len(v.Description) > 300 {
				t.Fatalf("description is %d bytes long; it must not echo the input", len(v.Description))
			}
		})
	}
}

func TestConnectValidatesEveryFieldAtOnce(t *testing.T) {
	t.Parallel()
	p := New()
	_, err := p.connect(&scmv1.Connection{
		HostUrl: "ftp://x",
		Credentials: &scmv1.Credentials{
			AuthMode:    scmv1.AuthMode_AUTH_MODE_LOCAL_PATH,
			AccessToken: "glpat with spaces",
		},
		Tls: &scmv1.TLSSettings{CaBundlePem: make([]byte, maxCABundle+1)},
	}, connectionRequest{}, nil)
	d := scmerr.Parse(err)
	if d.Code != codes.InvalidArgument {
		t.Fatalf("code = %v, want InvalidArgument (%v)", d.Code, err)
	}
	want := []string{fieldAuthMode, fieldToken, fieldHostURL, fieldCABundle}
	got := strings.Join(d.FieldNames(), ",")
	for _, f := range want {
		if !strings.Contains(got, f) {
			t.Errorf("violations %v do not name %s", got, f)
		}
	}
	if strings.Contains(d.Message, "glpat with spaces") {
		t.Fatal("the message holds the token")
	}

	_, err = p.connect(&scmv1.Connection{HostUrl: "https://gitlab.com"}, connectionRequest{}, nil)
	if d := scmerr.Parse(err); d.Code != codes.InvalidArgument || !strings.Contains(strings.Join(d.FieldNames(), ","), fieldCredentials) {
		t.Fatalf("missing credentials: %v", err)
	}
	_, err = p.connect(nil, connectionRequest{}, nil)
	if d := scmerr.Parse(err); d.Code != codes.InvalidArgument || d.FieldNames()[0] != fieldConnection {
		t.Fatalf("missing connection: %v", err)
	}
	_, err = p.connect(&scmv1.Connection{HostUrl: "https://gitlab.com", Credentials: &scmv1.Credentials{AccessToken: strings.Repeat("x", maxTokenLen+1)}}, connectionRequest{}, nil)
	if d := scmerr.Parse(err); d.Code != codes.InvalidArgument || !strings.Contains(d.Message, "at most") {
		t.Fatalf("long token: %v", err)
	}
}

func TestCABundle(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		pem  string
		want string
	}{
		"not PEM":             {"hello", "no PEM certificate"},
		"a key, not a cert":   {"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "no PEM certificate"},
		"garbage certificate": {"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "does not parse"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := newTransportCache(2).get(&scmv1.TLSSettings{CaBundlePem: []byte(tc.pem)})
			d := scmerr.Parse(err)
			if d.Code != codes.InvalidArgument || len(d.Fields) != 1 || d.Fields[0].Field != fieldCABundle {
				t.Fatalf("got %v, want InvalidArgument on %s", err, fieldCABundle)
			}
			if !strings.Contains(d.Fields[0].Description, tc.want) {
				t.Fatalf("description %q does not say %q", d.Fields[0].Description, tc.want)
			}
		})
	}
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	pemCert := pemOf(srv.Certificate().Raw)
	tr, err := newTransportCache(2).get(&scmv1.TLSSettings{CaBundlePem: pemCert})
	if err != nil {
		t.Fatal(err)
	}
	if tr.TLSClientConfig.MinVersion < 0x0303 {
		t.Fatalf("TLS minimum version %x is below 1.2", tr.TLSClientConfig.MinVersion)
	}
}

func TestTransportCacheIsBoundedAndReused(t *testing.T) {
	t.Parallel()
	tc := newTransportCache(2)
	a1, _ := tc.get(nil)
	a2, _ := tc.get(&scmv1.TLSSettings{})
	if a1 != a2 {
		t.Fatal("the same TLS settings built a second transport")
	}
	b, _ := tc.get(&scmv1.TLSSettings{InsecureSkipVerify: true})
	if b == a1 || !b.TLSClientConfig.InsecureSkipVerify || a1.TLSClientConfig.InsecureSkipVerify {
		t.Fatal("insecure_skip_verify did not get its own transport")
	}
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	if _, err := tc.get(&scmv1.TLSSettings{CaBundlePem: pemOf(srv.Certificate().Raw)}); err != nil {
		t.Fatal(err)
	}
	if len(tc.items) != 2 || len(tc.order) != 2 {
		t.Fatalf("cache holds %d transports, want at most 2", len(tc.items))
	}
	if again, _ := tc.get(nil); again == a1 {
		t.Fatal("the least recently used transport was not evicted")
	}
}

// retryServer answers each request with the next status of a script
// (200 once the script is used up) and counts requests.
type retryServer struct {
	*httptest.Server
	n atomic.Int32
}

func newRetryServer(t *testing.T, script []int, header http.Header) *retryServer {
	t.Helper()
	rs := &retryServer{}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(rs.n.Add(1)) - 1
		status := http.StatusOK
		if i < len(script) {
			status = script[i]
		}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(rs.Close)
	return rs
}

func testClient(budget time.Duration) *http.Client {
	return newHTTPClient(&retryTransport{
		base:    http.DefaultTransport,
		budget:  &rateBudget{max: budget},
		tries:   serverErrorTries,
		backoff: func(int) time.Duration { return time.Millisecond },
	})
}

func TestRetryTransport(t *testing.T) {
	t.Parallel()
	retryNow := http.Header{"Retry-After": {"0"}}
	retryLater := http.Header{"Retry-After": {"30"}}
	tests := map[string]struct {
		method   string
		script   []int
		header   http.Header
		budget   time.Duration
		want     int // final status
		requests int32
	}{
		"429 then OK is retried":                {http.MethodGet, []int{429, 429}, retryNow, time.Second, 200, 3},
		"429 on POST is retried too":            {http.MethodPost, []int{429}, retryNow, time.Second, 200, 2},
		"429 beyond the budget is returned":     {http.MethodGet, []int{429}, retryLater, 10 * time.Second, 429, 1},
		"503 on GET is retried":                 {http.MethodGet, []int{503, 502}, nil, time.Second, 200, 3},
		"500 on GET gives up after three tries": {http.MethodGet, []int{500, 500, 500, 500}, nil, time.Second, 500, 3},
		"500 on POST is not retried":            {http.MethodPost, []int{500}, nil, time.Second, 500, 1},
		"501 is not retried":                    {http.MethodGet, []int{501}, nil, time.Second, 501, 1},
		"400 is not retried":                    {http.MethodGet, []int{400}, nil, time.Second, 400, 1},
		"redirect is returned, never followed":  {http.MethodGet, []int{302}, http.Header{"Location": {"https://elsewhere.example"}}, time.Second, 302, 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newRetryServer(t, tc.script, tc.header)
			req, _ := http.NewRequestWithContext(context.Background(), tc.method, srv.URL, strings.NewReader(`{"a":1}`))
			resp, err := testClient(tc.budget).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.want)
			}
			if n := srv.n.Load(); n != tc.requests {
				t.Fatalf("%d requests, want %d", n, tc.requests)
			}
		})
	}
}

func TestRetryTransportSharesOneBudgetAndHonoursTheDeadline(t *testing.T) {
	t.Parallel()
	srv := newRetryServer(t, []int{429, 429, 429, 429}, http.Header{"Retry-After": {"1"}})
	c := testClient(1500 * time.Millisecond)
	start := time.Now()
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || srv.n.Load() != 2 {
		t.Fatalf("status %d after %d requests; want 429 after one wait of 1s (budget 1.5s)", resp.StatusCode, srv.n.Load())
	}
	if time.Since(start) > 1900*time.Millisecond {
		t.Fatalf("waited %s; the second wait did not fit the budget and must not start", time.Since(start))
	}

	// A deadline sooner than Retry-After: no wait at all.
	srv2 := newRetryServer(t, []int{429}, http.Header{"Retry-After": {"5"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv2.URL, nil)
	resp, err = testClient(10 * time.Second).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || srv2.n.Load() != 1 {
		t.Fatalf("status %d after %d requests; want the 429 at once", resp.StatusCode, srv2.n.Load())
	}

	// Cancelling during a wait ends it.
	srv3 := newRetryServer(t, []int{429}, http.Header{"Retry-After": {"5"}})
	ctx3, cancel3 := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel3)
	req, _ = http.NewRequestWithContext(ctx3, http.MethodGet, srv3.URL, nil)
	start = time.Now()
	_, err = testClient(10 * time.Second).Do(req)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("got %v after %s; want context.Canceled promptly", err, time.Since(start))
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	tests := map[string]struct {
		h    http.Header
		want time.Duration
	}{
		"seconds":               {http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		"zero is a short pause": {http.Header{"Retry-After": {"0"}}, 50 * time.Millisecond},
		"HTTP date":             {http.Header{"Retry-After": {now.Add(7 * time.Second).UTC().Format(http.TimeFormat)}}, 7 * time.Second},
		"RateLimit-Reset":       {http.Header{"Ratelimit-Reset": {"1700000004"}}, 4 * time.Second},
		"Retry-After wins":      {http.Header{"Retry-After": {"2"}, "Ratelimit-Reset": {"1700000009"}}, 2 * time.Second},
		"nothing: one second":   {http.Header{}, time.Second},
		"garbage: one second":   {http.Header{"Retry-After": {"soon"}}, time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := retryAfter(tc.h, now); got != tc.want {
				t.Fatalf("retryAfter = %s, want %s", got, tc.want)
			}
		})
	}
}

func pemOf(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
