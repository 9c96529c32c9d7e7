package host

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"net/http"
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
	if got := seen[0].Header.Get("Accept"); got != contentTypeAdvertisement+", */*" {
		t.Errorf("info/refs upstream Accept %q, want git's advertisement type when the runner sent none", got)
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
	if n := len(ph.upstreamRequests()); n != 0 || ph.provider.callCount() != 0 {
		t.Fatalf("refused requests reached upstream (%d) or the plugin (%d)", n, ph.provider.callCount())
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
