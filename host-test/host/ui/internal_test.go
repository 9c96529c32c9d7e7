package ui

import (
	"bytes"
	"strings"
	"testing"
	"time"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

func TestCredentialHealth(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	day := int64(24 * 3600)
	cases := map[string]struct {
		in        integration
		wantLabel string
		wantTone  string
	}{
		"host reported a check":        {integration{Status: "active", CredentialStatus: "rejected"}, "Rejected", "bad"},
		"reconnect required":           {integration{Status: "error", AuthMode: "oauth_app", ReconnectRequired: true}, "Reconnect required", "bad"},
		"error status":                 {integration{Status: "error", AuthMode: "personal_token"}, "Error", "bad"},
		"oauth not yet authorized":     {integration{Status: "inactive", AuthMode: "oauth_app"}, "Not authorized yet", "warn"},
		"oauth active":                 {integration{Status: "active", AuthMode: "oauth_app", TokenExpiresAt: now.Unix() + 60}, "Valid", "ok"},
		"token expired":                {integration{Status: "active", AuthMode: "personal_token", TokenExpiresAt: now.Unix() - 1}, "Expired", "bad"},
		"token expires in 29 days":     {integration{Status: "active", AuthMode: "personal_token", TokenExpiresAt: now.Unix() + 29*day}, "Expiring", "warn"},
		"token expires in 31 days":     {integration{Status: "active", AuthMode: "personal_token", TokenExpiresAt: now.Unix() + 31*day}, "Valid", "ok"},
		"active token, expiry unknown": {integration{Status: "active", AuthMode: "personal_token"}, "Valid", "ok"},
		"nothing known":                {integration{Status: "inactive", AuthMode: "personal_token"}, "Not checked", "muted"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := credentialHealth(tc.in, now)
			if got.Label != tc.wantLabel || got.Tone != tc.wantTone {
				t.Errorf("got %s/%s, want %s/%s", got.Label, got.Tone, tc.wantLabel, tc.wantTone)
			}
		})
	}
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"/ui/deliveries?page=2":   "/ui/deliveries?page=2",
		"":                        "/ui/integrations",
		"https://evil.example/ui": "/ui/integrations",
		"//evil.example/ui/":      "/ui/integrations",
		"/ui/\\evil":              "/ui/integrations",
		"/v1/integrations":        "/ui/integrations",
		"/ui/signin?next=/ui/x":   "/ui/integrations",
	}
	for in, want := range cases {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSessionSealing(t *testing.T) {
	t.Parallel()
	s, err := newSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	v, err := s.seal(session{Token: "tok", CSRF: "c", Expires: now.Unix() + 60})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.open(v, now); err != nil || got.Token != "tok" {
		t.Fatalf("open: %v %v", got, err)
	}
	if _, err := s.open(v, now.Add(time.Minute)); err == nil {
		t.Error("an expired session opened")
	}
	tampered := []byte(v)
	tampered[len(tampered)/2] ^= 1
	if _, err := s.open(string(tampered), now); err == nil {
		t.Error("a tampered session opened")
	}
	if _, err := newSealer(make([]byte, 16)); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}

func TestPlaceError(t *testing.T) {
	t.Parallel()
	fields := []formField{{Name: "host_url", Kind: "url"}, {Name: "client_id"}, {Name: "client_secret", Secret: true}}
	cases := map[string]struct {
		err         apiError
		wantField   string
		wantGeneral bool
	}{
		"violation by path":    {apiError{Status: 400, Code: "invalid_input", Fields: []fieldViolation{{Field: "connection.credentials.oauth_client.client_id", Description: "required"}}}, "client_id", false},
		"unknown violation":    {apiError{Status: 400, Code: "invalid_input", Message: "bad", Fields: []fieldViolation{{Field: "tls.ca_bundle_pem"}}}, "", true},
		"invalid client":       {apiError{Status: 400, Code: "gitlab_invalid_client", Message: "client refused"}, "client_secret", false},
		"unreachable":          {apiError{Status: 502, Code: "gitlab_unreachable", Message: "no route"}, "host_url", false},
		"unrelated":            {apiError{Status: 500, Code: "internal", Message: "boom"}, "", true},
		"field named in words": {apiError{Status: 400, Code: "invalid_input", Message: "client_id is not a GitLab application id"}, "client_id", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fe := placeError(&tc.err, fields)
			if tc.wantField != "" && fe.Fields[tc.wantField] == "" {
				t.Errorf("no error on %s: %+v", tc.wantField, fe)
			}
			if tc.wantField == "" && len(fe.Fields) != 0 {
				t.Errorf("errors on fields %v, want none", fe.Fields)
			}
			if (fe.General != "") != tc.wantGeneral {
				t.Errorf("general %q, want one = %v", fe.General, tc.wantGeneral)
			}
		})
	}
}

func TestAuthModesAndScopes(t *testing.T) {
	t.Parallel()
	info := &scmv1.ProviderInfo{Name: "p", AuthModes: []*scmv1.AuthModeInfo{
		{Mode: scmv1.AuthMode_AUTH_MODE_UNSPECIFIED},
		{Mode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, RequiredScopes: []*scmv1.ScopeRequirement{{AnyOf: []string{"a"}}, {AnyOf: []string{"b", "c"}}, {AnyOf: []string{"d"}}},
			Fields: []*scmv1.FormField{{Name: "tok", Secret: true, DefaultValue: "never shown"}, {Name: ""}}},
		{Mode: scmv1.AuthMode_AUTH_MODE_OAUTH_APP},
	}}
	modes := authModes(info, "https://h/cb")
	if len(modes) != 2 || modes[0].Mode != "personal_token" || modes[1].Mode != "oauth_app" {
		t.Fatalf("modes %+v", modes)
	}
	if modes[0].RequiredScopes != "a, b or c, and d" {
		t.Errorf("scopes %q", modes[0].RequiredScopes)
	}
	if len(modes[0].Fields) != 1 || modes[0].Fields[0].Value != "" || modes[0].Fields[0].Label != "tok" {
		t.Errorf("fields %+v", modes[0].Fields)
	}
	if modes[0].RedirectURI != "" || modes[1].RedirectURI != "https://h/cb" || modes[1].Label != "oauth app" {
		t.Errorf("redirect URIs or labels: %+v", modes)
	}
}

func TestLowerFirst(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"Access token": "access token", "GitLab URL": "GitLab URL", "URL": "URL", "Application ID": "application ID", "": ""} {
		if got := lowerFirst(in); got != want {
			t.Errorf("lowerFirst(%q) = %q, want %q", in, got, want)
		}
	}
	if !strings.HasSuffix(sentence("élan"), ".") || !strings.HasPrefix(sentence("élan"), "É") {
		t.Errorf("sentence of a non-ASCII word: %q", sentence("élan"))
	}
}
