package host

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		body       string
		wantStatus int
		wantField  string
	}{
		"good":              {body: `{"host_url":"https://gitlab.com","auth_mode":"personal_token","access_token":"glpat-x"}`},
		"nulls are empty":   {body: `{"host_url":"https://gitlab.com","auth_mode":"oauth_app","access_token":null,"client_id":"a","client_secret":"b"}`},
		"unknown field":     {body: `{"host_url":"x","auth_mode":"personal_token","surprise":1}`, wantStatus: 400, wantField: "surprise"},
		"wrong type":        {body: `{"host_url":5,"auth_mode":"personal_token"}`, wantStatus: 400, wantField: "host_url"},
		"missing required":  {body: `{"host_url":"https://gitlab.com"}`, wantStatus: 400, wantField: "auth_mode"},
		"malformed":         {body: `{"host_url":`, wantStatus: 400},
		"syntax":            {body: `{"host_url" "x"}`, wantStatus: 400},
		"empty":             {body: ``, wantStatus: 400},
		"array":             {body: `[]`, wantStatus: 400},
		"two objects":       {body: `{"auth_mode":"a"} {"auth_mode":"b"}`, wantStatus: 400},
		"too long token":    {body: `{"host_url":"https://gitlab.com","auth_mode":"personal_token","access_token":"` + strings.Repeat("a", 1<<20) + `"}`, wantStatus: 400, wantField: "access_token"},
		"control character": {body: `{"host_url":"https://gitlab.com","auth_mode":"personal_token","access_token":"a\nb"}`, wantStatus: 400, wantField: "access_token"},
		"too large":         {body: `{"host_url":"` + strings.Repeat("a", maxRequestBody) + `"}`, wantStatus: 413},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			var req startRequest
			err := decodeJSON(httptest.NewRecorder(), r, &req)
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("decodeJSON = %v", err)
				}
				return
			}
			if err == nil || err.Status != tc.wantStatus {
				t.Fatalf("decodeJSON = %v, want status %d", err, tc.wantStatus)
			}
			if tc.wantField != "" && (!strings.Contains(err.Message, tc.wantField) || len(err.Fields) == 0 || err.Fields[0].Field != tc.wantField) {
				t.Fatalf("error %q (fields %v) does not name %q", err.Message, err.Fields, tc.wantField)
			}
		})
	}
}
