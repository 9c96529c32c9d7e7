package gitlabsim_test

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
)

// newDemo starts a simulator seeded with the demo data.
func newDemo(t *testing.T) (*gitlabsim.Server, gitlabsim.Demo) {
	t.Helper()
	s := gitlabsim.NewTestServer(t, gitlabsim.Options{})
	return s, s.SeedDemo()
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
}

// do sends a request with a PRIVATE-TOKEN (when token is not empty).
func do(t *testing.T, s *gitlabsim.Server, method, path, token, body string, header ...string) answer {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func get(t *testing.T, s *gitlabsim.Server, path, token string) answer {
	t.Helper()
	return do(t, s, http.MethodGet, path, token, "")
}

// wantBody checks the status and the exact body.
func wantBody(t *testing.T, a answer, status int, body string) {
	t.Helper()
	if a.status != status || strings.TrimSpace(string(a.body)) != body {
		t.Fatalf("got %d %s, want %d %s", a.status, a.body, status, body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func htmlUnescape(s string) string { return html.UnescapeString(s) }

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}
