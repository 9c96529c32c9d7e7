package host

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

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

// FuzzParseGitRequest: whatever a runner sends, only upload-pack passes, by
// its one method each, and never a push.
func FuzzParseGitRequest(f *testing.F) {
	f.Add("GET", "group/app.git/info/refs", "service=git-upload-pack", "")
	f.Add("POST", "group/app.git/git-upload-pack", "", contentTypeUploadRequest)
	f.Add("POST", "group/app.git/git-receive-pack", "", "application/x-git-receive-pack-request")
	f.Add("GET", "a/info/refs/info/refs", "service=git-receive-pack&service=git-upload-pack", "")
	f.Fuzz(func(t *testing.T, method, path, query, contentType string) {
		r, err := http.NewRequest("GET", "http://h/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Method = method
		r.URL.RawQuery = query
		r.SetPathValue("path", path)
		r.Header.Set("Content-Type", contentType)
		gr, perr := parseGitRequest(r)
		if perr != nil {
			if _, ok := perr.(*gitError); !ok {
				t.Fatalf("error %T is not a git answer", perr)
			}
			return
		}
		switch {
		case gr.fullName == "":
			t.Fatal("accepted a path without a repository")
		case gr.part == gitInfoRefs && (method != http.MethodGet || r.URL.Query().Get("service") != "git-upload-pack"):
			t.Fatalf("accepted info/refs by %s with %q", method, query)
		case gr.part == gitUploadPack && (method != http.MethodPost || mediaType(contentType) != contentTypeUploadRequest):
			t.Fatalf("accepted upload-pack by %s as %q", method, contentType)
		case gr.part != gitInfoRefs && gr.part != gitUploadPack:
			t.Fatalf("accepted %q", gr.part)
		case !strings.HasSuffix(path, gr.part) || strings.Contains(gr.part, "receive"):
			t.Fatalf("path %q parsed as %+v", path, gr)
		}
	})
}

// FuzzJobToken: any Authorization header yields a non-empty token or none.
func FuzzJobToken(f *testing.F) {
	f.Add("Bearer oore_job_abc")
	f.Add("Basic eDpvb3JlX2pvYl9hYmM=")
	f.Add("Basic Og==")
	f.Fuzz(func(t *testing.T, header string) {
		r, err := http.NewRequest("GET", "http://h/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", header)
		tok, ok := jobToken(r)
		if ok != (tok != "") {
			t.Fatalf("jobToken(%q) = %q, %v", header, tok, ok)
		}
	})
}
