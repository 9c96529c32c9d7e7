package host

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// The proxy sends upstream what git smart HTTP needs (Git-Protocol, the
// content types, a gzip request body as is) with the integration's
// credentials and nothing of the runner's: never its job token.
func TestCheckoutProxyForwardsGitSmartHTTP(t *testing.T) {
	t.Parallel()
	ph := newProxyHarness(t)
	j := ph.job()
	base := ph.proxyPath(j)
	if base != "/v1/runners/"+j.RunnerID+"/jobs/"+j.JobID+"/gitlab/group/app.git" || j.SHA != "1111111111111111111111111111111111111111" {
		t.Fatalf("job = %+v", j)
	}

	refs := ph.do("GET", base+"/info/refs?service=git-upload-pack", http.Header{
		"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("anyone:"+j.Token))},
		"Git-Protocol":  {"version=2"}, "User-Agent": {"git/2.47.0"}, "Cookie": {"session=runner"}, "X-Forwarded-For": {"10.0.0.1"},
	}, nil)
	if refs.Status != http.StatusOK || refs.Header.Get("Content-Type") != contentTypeAdvertisement || !strings.HasPrefix(refs.Body, "001e# service=git-upload-pack") {
		t.Fatalf("info/refs: %d %v %q", refs.Status, refs.Header, refs.Body)
	}

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte("0032want 1111111111111111111111111111111111111111\n00000009done\n"))
	_ = zw.Close()
	pack := ph.do("POST", base+"/git-upload-pack", http.Header{
		"Authorization": {"Bearer " + j.Token}, "Git-Protocol": {"version=2"},
		"Content-Type": {contentTypeUploadRequest}, "Content-Encoding": {"gzip"}, "Accept": {contentTypeUploadResult},
	}, bytes.NewReader(gz.Bytes()))
	if pack.Status != http.StatusOK || pack.Header.Get("Content-Type") != contentTypeUploadResult || pack.Body != "0008NAK\n"+gz.String() {
		t.Fatalf("upload-pack: %d %v %q", pack.Status, pack.Header, pack.Body)
	}

	seen := ph.upstreamRequests()
	if len(seen) != 2 {
		t.Fatalf("upstream saw %d requests, want 2", len(seen))
	}
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("oauth2:"+upstreamPassword))
	for i, want := range []struct{ method, path, query string }{
		{"GET", "/group/app.git/info/refs", "service=git-upload-pack"},
		{"POST", "/group/app.git/git-upload-pack", ""},
	} {
		got := seen[i]
		if got.Method != want.method || got.Path != want.path || got.Query != want.query {
			t.Errorf("upstream request %d = %s %s?%s, want %s %s?%s", i, got.Method, got.Path, got.Query, want.method, want.path, want.query)
		}
		if got.Header.Get("Authorization") != wantAuth {
			t.Errorf("upstream request %d authorization %q, want the integration's Basic credentials", i, got.Header.Get("Authorization"))
		}
		if got.Header.Get("Git-Protocol") != "version=2" {
			t.Errorf("upstream request %d: Git-Protocol %q not forwarded", i, got.Header.Get("Git-Protocol"))
		}
		for k, vs := range got.Header {
			for _, v := range vs {
				if strings.Contains(v, j.Token) {
					t.Errorf("upstream request %d carries the job token in %s", i, k)
				}
			}
		}
		if got.Header.Get("Cookie") != "" || got.Header.Get("X-Forwarded-For") != "" {
			t.Errorf("upstream request %d carries the runner's other headers: %v", i, got.Header)
		}
	}
	if seen[0].Header.Get("User-Agent") != "git/2.47.0" {
		t.Errorf("User-Agent %q not forwarded", seen[0].Header.Get("User-Agent"))
	}
	post := seen[1]
	if post.Header.Get("Content-Encoding") != "gzip" || post.Header.Get("Content-Type") != contentTypeUploadRequest ||
		post.Header.Get("Accept") != contentTypeUploadResult || !bytes.Equal(post.Body, gz.Bytes()) {
		t.Errorf("upload-pack request upstream: %v, body %d bytes (sent %d gzip bytes)", post.Header, len(post.Body), gz.Len())
	}
}

// The SCM host's refusals become a 502 with a text body for git, the
// integration's password never in it; redirects are not followed.
func TestCheckoutProxyUpstreamFailures(t *testing.T) {
	t.Parallel()
	ph := newProxyHarness(t)
	j := ph.job()
	refs := ph.proxyPath(j) + "/info/refs?service=git-upload-pack"
	auth := http.Header{"Authorization": {"Bearer " + j.Token}}
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the proxy followed a redirect to %s", r.URL)
	}))
	defer elsewhere.Close()

	cases := map[string]struct {
		answer func(w http.ResponseWriter, r *http.Request)
		want   []string
	}{
		"401 with GitLab's message": {
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, "HTTP Basic: Access denied for "+upstreamPassword+"\r\n")
			},
			want: []string{"gitlab refused the integration's credentials for repository group/app (HTTP 401): HTTP Basic: Access denied for [redacted]", "gitlab-token/check"},
		},
		"403": {
			answer: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "You are not allowed to download code from this project.", http.StatusForbidden)
			},
			want: []string{"(HTTP 403): You are not allowed to download code"},
		},
		"404": {
			answer: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			want:   []string{"gitlab answered that repository group/app does not exist or is not visible to the integration (HTTP 404)"},
		},
		"redirect": {
			answer: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, elsewhere.URL+"/login", http.StatusFound)
			},
			want: []string{"answered a redirect (HTTP 302)", "does not follow redirects"},
		},
		"200 that is not git": {
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				_, _ = io.WriteString(w, "<html>sign in</html>")
			},
			want: []string{`gitlab answered "text/html" for repository group/app, not ` + contentTypeAdvertisement},
		},
		"503 HTML page": {
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, "<html>maintenance</html>")
			},
			want: []string{"gitlab answered HTTP 503 for repository group/app"},
		},
	}
	for name, c := range cases {
		ph.setAnswer(c.answer)
		res := ph.do("GET", refs, auth, nil)
		if res.Status != http.StatusBadGateway || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") || res.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("%s: %d %v %q, want a 502 text answer without a challenge", name, res.Status, res.Header, res.Body)
		}
		for _, w := range c.want {
			if !strings.Contains(res.Body, w) {
				t.Errorf("%s: body %q lacks %q", name, res.Body, w)
			}
		}
		if strings.Contains(res.Body, upstreamPassword) {
			t.Errorf("%s: the answer holds the integration's password", name)
		}
	}
}

// A clone URL from the plugin that is not on the integration's host is never
// called with the credentials.
func TestCheckoutProxyRefusesCloneURLsElsewhere(t *testing.T) {
	t.Parallel()
	ph := newProxyHarness(t)
	j := ph.job()
	called := false
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
	defer other.Close()
	for _, u := range []string{other.URL + "/group/app.git", "ftp://" + strings.TrimPrefix(ph.upstream.URL, "http://") + "/group/app.git",
		strings.Replace(ph.upstream.URL, "http://", "http://user:pw@", 1) + "/group/app.git", "::not a url"} {
		ph.provider.setCloneURL(u)
		res := ph.do("GET", ph.proxyPath(j)+"/info/refs?service=git-upload-pack", http.Header{"Authorization": {"Bearer " + j.Token}}, nil)
		if res.Status != http.StatusBadGateway || !strings.Contains(res.Body, "outside the integration's host") {
			t.Errorf("clone URL %q: %d %q", u, res.Status, res.Body)
		}
	}
	if called || len(ph.upstreamRequests()) != 0 {
		t.Fatal("the proxy called a clone URL outside the integration's host")
	}
}

// Tokens are checked before anything reaches the plugin or upstream; an
// expired token says so; a job of a deleted integration is gone.
func TestCheckoutProxyAuthentication(t *testing.T) {
	t.Parallel()
	ph := newProxyHarness(t)
	j := ph.job()
	refs := ph.proxyPath(j) + "/info/refs?service=git-upload-pack"
	for name, hdr := range map[string]http.Header{
		"none":            {},
		"wrong bearer":    {"Authorization": {"Bearer oore_job_nope"}},
		"wrong password":  {"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("x:oore_job_nope"))}},
		"token as user":   {"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(j.Token+":"))}},
		"API owner token": {"Authorization": {"Bearer " + ph.owner}},
		"other scheme":    {"Authorization": {"Token " + j.Token}},
	} {
		res := ph.do("GET", refs, hdr, nil)
		if res.Status != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != checkoutRealm || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s: %d %v %q", name, res.Status, res.Header, res.Body)
		}
	}
	if n := len(ph.upstreamRequests()); n != 0 || ph.provider.calls != 0 {
		t.Fatalf("refused requests reached upstream (%d) or the plugin (%d)", n, ph.provider.calls)
	}

	// Expiry, on the host's clock.
	if _, err := ph.st.DB().Exec(`UPDATE jobs SET expires_at = ? WHERE id = ?`, ph.h.now().Unix(), j.JobID); err != nil {
		t.Fatal(err)
	}
	res := ph.do("GET", refs, http.Header{"Authorization": {"Bearer " + j.Token}}, nil)
	if res.Status != http.StatusUnauthorized || !strings.Contains(res.Body, "the job token expired at") {
		t.Fatalf("expired: %d %q", res.Status, res.Body)
	}

	// The integration goes, and its jobs with it.
	k := ph.job()
	if err := ph.st.DeleteIntegration(t.Context(), "i1"); err != nil {
		t.Fatal(err)
	}
	res = ph.do("GET", ph.proxyPath(k)+"/info/refs?service=git-upload-pack", http.Header{"Authorization": {"Bearer " + k.Token}}, nil)
	if res.Status != http.StatusUnauthorized {
		t.Fatalf("job of a deleted integration: %d %q", res.Status, res.Body)
	}
	if _, err := ph.st.GetJob(t.Context(), k.JobID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("job row of a deleted integration: %v", err)
	}
}

func TestParseGitRequest(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		method, path, query, contentType string
		wantName, wantPart               string
		wantStatus                       int
	}{
		"info/refs":               {method: "GET", path: "group/app.git/info/refs", query: "service=git-upload-pack", wantName: "group/app", wantPart: gitInfoRefs},
		"nested, no .git":         {method: "GET", path: "a/b/c/info/refs", query: "service=git-upload-pack", wantName: "a/b/c", wantPart: gitInfoRefs},
		"upload-pack":             {method: "POST", path: "group/app.git/git-upload-pack", contentType: contentTypeUploadRequest + "; charset=x", wantName: "group/app", wantPart: gitUploadPack},
		"receive-pack refs":       {method: "GET", path: "group/app.git/info/refs", query: "service=git-receive-pack", wantStatus: http.StatusForbidden},
		"receive-pack":            {method: "POST", path: "group/app.git/git-receive-pack", contentType: "application/x-git-receive-pack-request", wantStatus: http.StatusForbidden},
		"receive-pack by GET":     {method: "GET", path: "group/app.git/git-receive-pack", wantStatus: http.StatusForbidden},
		"dumb":                    {method: "GET", path: "group/app.git/info/refs", wantStatus: http.StatusForbidden},
		"upload-archive":          {method: "GET", path: "group/app.git/info/refs", query: "service=git-upload-archive", wantStatus: http.StatusForbidden},
		"upload-pack by GET":      {method: "GET", path: "group/app.git/git-upload-pack", wantStatus: http.StatusMethodNotAllowed},
		"upload-pack as JSON":     {method: "POST", path: "group/app.git/git-upload-pack", contentType: "application/json", wantStatus: http.StatusUnsupportedMediaType},
		"refs by DELETE":          {method: "DELETE", path: "group/app.git/info/refs", query: "service=git-upload-pack", wantStatus: http.StatusMethodNotAllowed},
		"object file":             {method: "GET", path: "group/app.git/objects/info/packs", wantStatus: http.StatusNotFound},
		"no repository":           {method: "GET", path: ".git/info/refs", query: "service=git-upload-pack", wantStatus: http.StatusNotFound},
		"too long":                {method: "GET", path: strings.Repeat("a/", maxCheckoutPath) + "x.git/info/refs", query: "service=git-upload-pack", wantStatus: http.StatusNotFound},
		"info/refs without slash": {method: "GET", path: "info/refs", query: "service=git-upload-pack", wantStatus: http.StatusNotFound},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tc.method, "/x?"+tc.query, nil)
			r.SetPathValue("path", tc.path)
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			gr, err := parseGitRequest(r)
			if tc.wantStatus != 0 {
				ge, ok := err.(*gitError)
				if !ok || ge.status != tc.wantStatus {
					t.Fatalf("err = %v, want status %d", err, tc.wantStatus)
				}
				return
			}
			if err != nil || gr.fullName != tc.wantName || gr.part != tc.wantPart {
				t.Fatalf("got %+v, %v; want %s %s", gr, err, tc.wantName, tc.wantPart)
			}
		})
	}
}

func TestJobToken(t *testing.T) {
	t.Parallel()
	basic := func(userpass string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(userpass)) }
	tests := map[string]struct {
		header string
		want   string
		ok     bool
	}{
		"bearer":              {"Bearer oore_job_abc", "oore_job_abc", true},
		"bearer, lower case":  {"bearer oore_job_abc", "oore_job_abc", true},
		"basic, any user":     {basic("x-token:oore_job_abc"), "oore_job_abc", true},
		"basic, empty user":   {basic(":oore_job_abc"), "oore_job_abc", true},
		"basic, no password":  {basic("oore_job_abc:"), "", false},
		"empty bearer":        {"Bearer ", "", false},
		"unknown scheme":      {"Token oore_job_abc", "", false},
		"no header":           {"", "", false},
		"basic, not base64":   {"Basic !!!", "", false},
		"bearer, padded":      {"Bearer   oore_job_abc  ", "oore_job_abc", true},
		"basic, colon inside": {basic("u:pa:ss"), "pa:ss", true},
	}
	for name, tc := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		got, ok := jobToken(r)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: jobToken = %q, %v; want %q, %v", name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	if got := redact("a glpat-x b glpat-x", "glpat-x"); got != "a [redacted] b [redacted]" {
		t.Fatalf("redact = %q", got)
	}
	if got := redact("nothing", ""); got != "nothing" {
		t.Fatalf("redact with no secret = %q", got)
	}
}
