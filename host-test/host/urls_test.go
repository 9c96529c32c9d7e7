package host

import (
	"strings"
	"testing"
)

func TestNormaliseHostURL(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in, want string
	}{
		"https origin":          {in: "https://GitLab.Example.com", want: "https://gitlab.example.com"},
		"trailing slash":        {in: "https://gitlab.com/", want: "https://gitlab.com"},
		"port":                  {in: "https://gitlab.example.com:8443", want: "https://gitlab.example.com:8443"},
		"http loopback":         {in: "http://127.0.0.1:8929", want: "http://127.0.0.1:8929"},
		"http localhost":        {in: "http://localhost:3000", want: "http://localhost:3000"},
		"http ipv6 loopback":    {in: "http://[::1]:80", want: "http://[::1]:80"},
		"http remote":           {in: "http://gitlab.example.com"},
		"javascript":            {in: "javascript:alert(1)"},
		"file":                  {in: "file:///etc/passwd"},
		"ftp":                   {in: "ftp://gitlab.example.com"},
		"user info":             {in: "https://user:pass@gitlab.example.com"},
		"path":                  {in: "https://gitlab.example.com/group"},
		"query":                 {in: "https://gitlab.example.com?x=1"},
		"empty query":           {in: "https://gitlab.example.com?"},
		"fragment":              {in: "https://gitlab.example.com#frag"},
		"port zero":             {in: "https://gitlab.example.com:0"},
		"port too large":        {in: "https://gitlab.example.com:65536"},
		"port not a number":     {in: "https://gitlab.example.com:abc"},
		"empty port":            {in: "https://gitlab.example.com:"},
		"relative":              {in: "gitlab.example.com"},
		"empty":                 {in: ""},
		"space":                 {in: "https://gitlab .com"},
		"too long":              {in: "https://" + strings.Repeat("a", 2100) + ".com"},
		"scheme only":           {in: "https://"},
		"mixed case scheme ok":  {in: "HTTPS://gitlab.com", want: "https://gitlab.com"},
		"backslash host trick":  {in: `https://gitlab.com\@evil.com`},
		"data":                  {in: "data:text/html,hi"},
		"opaque https":          {in: "https:gitlab.com"},
		"newline":               {in: "https://gitlab.com\n"},
		"http loopback 127.0.9": {in: "http://127.0.0.9", want: "http://127.0.0.9"},
	}
	for name, tc := range tests {
		got, err := normaliseHostURL("host_url", tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: %q accepted as %q", name, tc.in, got)
			} else if err.Status != 400 || err.Code != codeInvalidInput || err.Details != "host_url" {
				t.Errorf("%s: error %+v, want 400 invalid_input naming host_url", name, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: normaliseHostURL(%q) = %q, %v; want %q", name, tc.in, got, err, tc.want)
		}
	}
}

func TestCheckRedirectURL(t *testing.T) {
	t.Parallel()
	allowed := []string{"http://127.0.0.1:8787", "https://oore.example.com"}
	tests := map[string]struct {
		in string
		ok bool
	}{
		"allowed with path and query": {in: "http://127.0.0.1:8787/settings/integrations?tab=gitlab", ok: true},
		"second origin":               {in: "https://oore.example.com/x", ok: true},
		"other port":                  {in: "http://127.0.0.1:9999/", ok: false},
		"other host":                  {in: "https://evil.example.com/", ok: false},
		"scheme change":               {in: "http://oore.example.com/", ok: false},
		"javascript":                  {in: "javascript:alert(1)", ok: false},
		"user info":                   {in: "https://x@oore.example.com/", ok: false},
		"relative":                    {in: "/settings", ok: false},
		"empty":                       {in: "", ok: false},
		"port out of range":           {in: "https://oore.example.com:70000/", ok: false},
	}
	for name, tc := range tests {
		_, err := checkRedirectURL(tc.in, allowed)
		if tc.ok != (err == nil) {
			t.Errorf("%s: checkRedirectURL(%q) error = %v, want ok=%v", name, tc.in, err, tc.ok)
		}
		if err != nil && err.Code != codeInvalidRedirectURL {
			t.Errorf("%s: code %q, want invalid_redirect_url", name, err.Code)
		}
	}
}
