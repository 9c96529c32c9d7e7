package host

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

func TestTokensAndRoles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kr, _ := secrets.New(bytes.Repeat([]byte{4}, 32))
	st, err := store.OpenSQLite(ctx, t.TempDir(), kr, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := &Host{store: st}
	tokens := map[Role]string{}
	for _, role := range Roles {
		tok, err := CreateToken(ctx, st, role, "test-"+string(role))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok, tokenPrefix) {
			t.Fatalf("token %q lacks the prefix", tok)
		}
		tokens[role] = tok
	}
	if _, err := CreateToken(ctx, st, "root", "x"); err == nil {
		t.Fatal("unknown role accepted")
	}
	if err := EnsureBootstrapToken(ctx, st, "short"); err == nil {
		t.Fatal("short bootstrap token accepted")
	}
	boot := "bootstrap-token-0123456789"
	if err := EnsureBootstrapToken(ctx, st, boot); err != nil {
		t.Fatal(err)
	}
	tokens["bootstrap"] = boot
	tests := map[string]struct {
		header     string
		need       access
		wantStatus int
		wantCode   string
	}{
		"owner manages":       {header: "Bearer " + tokens[RoleOwner], need: manage},
		"admin manages":       {header: "Bearer " + tokens[RoleAdmin], need: manage},
		"bootstrap is owner":  {header: "Bearer " + boot, need: manage},
		"developer reads":     {header: "Bearer " + tokens[RoleDeveloper], need: read},
		"qa_viewer reads":     {header: "bearer " + tokens[RoleQAViewer], need: read},
		"developer manages":   {header: "Bearer " + tokens[RoleDeveloper], need: manage, wantStatus: 403, wantCode: codeForbidden},
		"qa_viewer manages":   {header: "Bearer " + tokens[RoleQAViewer], need: manage, wantStatus: 403, wantCode: codeForbidden},
		"no header":           {need: read, wantStatus: 401, wantCode: codeMissingToken},
		"basic scheme":        {header: "Basic " + tokens[RoleOwner], need: read, wantStatus: 401, wantCode: codeMissingToken},
		"unknown token":       {header: "Bearer oore_nope", need: read, wantStatus: 401, wantCode: codeInvalidToken},
		"token with a suffix": {header: "Bearer " + tokens[RoleOwner] + "x", need: read, wantStatus: 401, wantCode: codeInvalidToken},
	}
	for name, tc := range tests {
		r := httptest.NewRequest("GET", "/v1/integrations", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		c, err := h.authenticate(r)
		if err == nil {
			err = authorize(c, tc.need)
		}
		if tc.wantStatus == 0 {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil || err.Status != tc.wantStatus || err.Code != tc.wantCode {
			t.Errorf("%s: got %v, want %d %s", name, err, tc.wantStatus, tc.wantCode)
		}
	}
	var n int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM api_tokens WHERE token_hash = ?`, []byte(tokens[RoleOwner])).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a token is stored in clear (%d rows, %v)", n, err)
	}
}
