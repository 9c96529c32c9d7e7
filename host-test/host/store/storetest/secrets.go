package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// testSecretsSealedAtRest: no secret is in any stored column in clear, and a
// sealed value moved to another row does not open.
func testSecretsSealedAtRest(t *testing.T, e *env) {
	a := e.host(t)
	used := []string{"glpat-PLAINTEXTTOKEN123", "gloas-CLIENTSECRET456", "refresh-REFRESH789", "whsec-WEBHOOKSECRET000", "pkce-VERIFIER111", "oore_APITOKEN222"}
	integration(t, a, "i1", store.Credentials{AccessToken: used[0], ClientSecret: used[1], RefreshToken: used[2]})
	integration(t, a, "i2", store.Credentials{AccessToken: "glpat-other"})
	repos := repositories(t, a, "i1", 5)
	if err := a.SetWebhookSecret(ctx(t), repos[0].ID, used[3], 1); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateOAuthState(ctx(t), store.OAuthState{ID: "s", IntegrationID: "i1", RedirectURL: "https://x/", Verifier: used[4], ExpiresAt: 1 << 40}); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(used[5]))
	if err := a.CreateAPIToken(ctx(t), store.APIToken{Name: "t", Role: "owner", Hash: h[:]}); err != nil {
		t.Fatal(err)
	}
	for _, col := range []struct{ table, column string }{
		{"integrations", "credentials"}, {"repositories", "webhook_secret"}, {"oauth_states", "verifier"}, {"api_tokens", "token_hash"},
	} {
		rows, err := a.DB().QueryContext(ctx(t), `SELECT `+col.column+` FROM `+col.table)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var raw []byte
			if err := rows.Scan(&raw); err != nil {
				t.Fatal(err)
			}
			n++
			for _, s := range used {
				if bytes.Contains(raw, []byte(s)) {
					t.Errorf("%s.%s holds %q in clear", col.table, col.column, s)
				}
			}
		}
		rows.Close()
		if n == 0 {
			t.Errorf("%s.%s: no rows to check", col.table, col.column)
		}
	}
	if _, err := a.DB().ExecContext(ctx(t), `UPDATE integrations SET credentials = (SELECT credentials FROM integrations WHERE id = 'i1') WHERE id = 'i2'`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.LoadCredentials(ctx(t), "i2"); !errors.Is(err, secrets.ErrDecrypt) {
		t.Fatalf("credentials moved to another row opened: %v", err)
	}
}

// testAnotherKey: hosts sharing a database must share the key; one with
// another key reads the records but opens no secret.
func testAnotherKey(t *testing.T, e *env) {
	a := e.host(t)
	integration(t, a, "i1", store.Credentials{AccessToken: "glpat-x"})
	repos := repositories(t, a, "i1", 5)
	if err := a.SetWebhookSecret(ctx(t), repos[0].ID, "whsec-x", 1); err != nil {
		t.Fatal(err)
	}
	other, err := secrets.New(bytes.Repeat([]byte{8}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.open(ctx(t), other, store.Options{Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.GetIntegration(ctx(t), "i1"); err != nil {
		t.Fatalf("records without secrets: %v", err)
	}
	if _, _, err := b.LoadCredentials(ctx(t), "i1"); !errors.Is(err, secrets.ErrDecrypt) {
		t.Fatalf("credentials with another key: %v", err)
	}
	if _, err := b.WebhookTargets(ctx(t), "gitlab", "5"); !errors.Is(err, secrets.ErrDecrypt) {
		t.Fatalf("webhook secret with another key: %v", err)
	}
}

// testAudit: audit events from every host land in one log.
func testAudit(t *testing.T, e *env) {
	a, b := e.host(t), e.host(t)
	for i, s := range []*store.SQL{a, b} {
		if err := s.RecordAudit(ctx(t), store.AuditEvent{Actor: "tok-owner", Action: "integration.created", IntegrationID: "i1", Detail: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, a, `SELECT COUNT(*) FROM audit_events WHERE action = 'integration.created' AND at > 0`); n != 2 {
		t.Fatalf("%d audit events, want 2", n)
	}
}

// testCanceledContext: a call whose context has ended fails with the
// context's error and changes nothing.
func testCanceledContext(t *testing.T, e *env) {
	a := e.host(t)
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	in := store.Integration{ID: "i1", Provider: "gitlab", HostURL: "https://gitlab.example.com", AuthMode: "personal_token", Status: store.StatusActive, CreatedBy: "t"}
	if err := a.CreateIntegration(c, in, store.Credentials{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateIntegration with a canceled context: %v", err)
	}
	if _, err := a.RecordDelivery(c, delivery("i1", "r", "d"), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("RecordDelivery with a canceled context: %v", err)
	}
	if _, err := a.GetIntegration(ctx(t), "i1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a canceled create stored something: %v", err)
	}
}
