package host

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

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

func TestRedact(t *testing.T) {
	t.Parallel()
	if got := redact("a glpat-x b glpat-x", "glpat-x"); got != "a [redacted] b [redacted]" {
		t.Fatalf("redact = %q", got)
	}
	if got := redact("nothing", ""); got != "nothing" {
		t.Fatalf("redact with no secret = %q", got)
	}
}
