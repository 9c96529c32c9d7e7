package contract_test

import (
	"errors"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/contract"
)

func TestValidateResponse(t *testing.T) {
	t.Parallel()
	v, err := contract.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	integration := `{"id":"i","provider":"gitlab","host_url":"https://gitlab.com","auth_mode":"personal_token","status":"active","created_by":"t","created_at":1,"updated_at":1}`
	tests := map[string]struct {
		method, path string
		status       int
		ctype, body  string
		wantErr      bool
		notInDoc     bool
	}{
		"start ok":              {method: "POST", path: "/v1/integrations/gitlab/start", status: 200, ctype: "application/json", body: `{"integration":` + integration + `}`},
		"start missing field":   {method: "POST", path: "/v1/integrations/gitlab/start", status: 200, ctype: "application/json", body: `{"integration":{"id":"i"}}`, wantErr: true},
		"bad provider enum":     {method: "GET", path: "/v1/integrations/x1", status: 200, ctype: "application/json", body: `{"integration":` + `{"id":"i","provider":"svn","host_url":"h","auth_mode":"a","status":"s","created_by":"c","created_at":1,"updated_at":1}` + `,"installation_count":0,"repository_count":0}`, wantErr: true},
		"detail by id template": {method: "GET", path: "/v1/integrations/abc", status: 200, ctype: "application/json", body: `{"integration":` + integration + `,"installation_count":1,"repository_count":2,"last_webhook_at":null}`},
		"unlisted error shape":  {method: "GET", path: "/v1/integrations", status: 401, ctype: "application/json", body: `{"error":"no","code":"missing_token","details":null}`},
		"unlisted error wrong":  {method: "GET", path: "/v1/integrations", status: 401, ctype: "application/json", body: `{"message":"no"}`, wantErr: true},
		"webhook ok":            {method: "POST", path: "/v1/webhooks/gitlab", status: 200, ctype: "application/json", body: `{"ok":true,"duplicate":true}`},
		"callback html":         {method: "GET", path: "/v1/integrations/gitlab/callback", status: 200, ctype: "text/html; charset=utf-8", body: `<html></html>`},
		"callback redirect":     {method: "GET", path: "/v1/integrations/gitlab/callback", status: 303},
		"unlisted success":      {method: "DELETE", path: "/v1/integrations/x", status: 201, ctype: "application/json", body: `{}`, wantErr: true},
		"time as string":        {method: "POST", path: "/v1/integration-repositories/r/gitlab-webhook-secret", status: 200, ctype: "application/json", body: `{"repository_id":"r","webhook_secret":"s","rotated_at":"1"}`, wantErr: true},
		"host addition":         {method: "GET", path: "/v1/webhook-deliveries", status: 200, notInDoc: true},
	}
	for name, tc := range tests {
		err := v.ValidateResponse(tc.method, tc.path, tc.status, tc.ctype, []byte(tc.body))
		switch {
		case tc.notInDoc:
			if !errors.Is(err, contract.ErrNotInContract) {
				t.Errorf("%s: %v, want ErrNotInContract", name, err)
			}
		case tc.wantErr && err == nil:
			t.Errorf("%s: accepted", name)
		case !tc.wantErr && err != nil:
			t.Errorf("%s: %v", name, err)
		}
	}
}
