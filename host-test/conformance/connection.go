package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// connectionCases: ValidateConnection and CheckCredentials.
func connectionCases() []testCase {
	validate := []scmv1.Capability{scmv1.Capability_CAPABILITY_VALIDATE_CONNECTION}
	check := []scmv1.Capability{scmv1.Capability_CAPABILITY_CHECK_CREDENTIALS}
	return []testCase{
		{name: "validate_connection/valid", needs: validate, run: caseValidateValid},
		{name: "validate_connection/bad-input", needs: validate, run: caseValidateBadInput},
		{name: "validate_connection/rejected-credentials", needs: validate, run: caseValidateRejected},
		{name: "check_credentials/valid", needs: check, run: caseCheckValid},
		{name: "check_credentials/rejected-credentials", needs: check, run: caseCheckRejected},
		{name: "check_credentials/bad-input", needs: check, run: caseCheckBadInput},
	}
}

// oversized is larger than any field of the contract may sensibly be.
const oversized = 1 << 20

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// badHostURLs are host URLs every provider refuses with InvalidArgument.
// The one with a password registers it as a secret: it must not be echoed.
func (c *C) badHostURLs() map[string]string {
	password := "userinfo-" + randomHex(8)
	c.s.secrets.add("the password inside a host URL", password)
	return map[string]string{
		"an empty host_url":                 "",
		"a 1 MiB host_url":                  "https://" + strings.Repeat("a", oversized) + ".example.com",
		"host_url \"not a url\"":            "not a url",
		"a host_url with an unclosed [":     "http://[::1",
		"a host_url with a space":           "https://exa mple.com",
		"a host_url without a scheme":       "://example.com",
		"a host_url with a query":           "https://example.com/?q=1#top",
		"a host_url with user and password": "https://oore:" + password + "@example.com",
	}
}

// withHost is a copy of conn with another host URL.
func withHost(conn *scmv1.Connection, host string) *scmv1.Connection {
	cp := proto.Clone(conn).(*scmv1.Connection)
	cp.HostUrl = host
	return cp
}

// credentialVariants are copies of conn whose credentials are bad in shape
// (empty or oversized token); none when conn carries no token.
func credentialVariants(conn *scmv1.Connection) map[string]*scmv1.Connection {
	if conn.GetCredentials().GetAccessToken() == "" {
		return nil
	}
	empty := proto.Clone(conn).(*scmv1.Connection)
	empty.Credentials.AccessToken = ""
	big := proto.Clone(conn).(*scmv1.Connection)
	big.Credentials.AccessToken = strings.Repeat("x", oversized)
	return map[string]*scmv1.Connection{"an empty access token": empty, "a 1 MiB access token": big}
}

// caseValidateValid: the working connection validates, answers its account
// and a normalised host URL that validates again unchanged, and echoes no
// secret.
func caseValidateValid(c *C) {
	tc := c.conn()
	resp, err := c.s.client.ValidateConnection(c.ctx, &scmv1.ValidateConnectionRequest{Connection: tc.Connection})
	if !c.ok("ValidateConnection with the working connection", err) {
		return
	}
	c.cleanMsg("ValidateConnection's answer", resp)
	if resp.GetHostUrl() == "" {
		c.Errorf("ValidateConnection answered no host_url (hosts store the normalised origin)")
	}
	if resp.GetAccount().GetId() == "" {
		c.Errorf("ValidateConnection answered no account id")
	}
	if want := tc.Account; want != nil {
		if want.GetId() != "" && resp.GetAccount().GetId() != want.GetId() {
			c.Errorf("ValidateConnection's account id is %q, the backend says %q", resp.GetAccount().GetId(), want.GetId())
		}
		if want.GetUsername() != "" && resp.GetAccount().GetUsername() != want.GetUsername() {
			c.Errorf("ValidateConnection's username is %q, the backend says %q", resp.GetAccount().GetUsername(), want.GetUsername())
		}
	}
	for _, cp := range resp.GetCapabilities() {
		if !c.s.announces(cp) {
			c.Errorf("ValidateConnection says the connection allows %s, which the provider does not announce", cp)
		}
	}
	if resp.GetHostUrl() == "" {
		return
	}
	again, err := c.s.client.ValidateConnection(c.ctx, &scmv1.ValidateConnectionRequest{Connection: withHost(tc.Connection, resp.GetHostUrl())})
	if c.ok("ValidateConnection with the normalised host_url "+resp.GetHostUrl(), err) && again.GetHostUrl() != resp.GetHostUrl() {
		c.Errorf("normalising is not stable: %q became %q", resp.GetHostUrl(), again.GetHostUrl())
	}
	c.Logf("host_url %s, account %s (%s)", resp.GetHostUrl(), resp.GetAccount().GetId(), resp.GetAccount().GetUsername())
}

// caseValidateBadInput: no connection, malformed or oversized host URLs and
// malformed credentials are InvalidArgument, and no message echoes a secret.
func caseValidateBadInput(c *C) {
	tc := c.conn()
	call := func(conn *scmv1.Connection) error {
		_, err := c.s.client.ValidateConnection(c.ctx, &scmv1.ValidateConnectionRequest{Connection: conn})
		return err
	}
	c.code("ValidateConnection without a connection", call(nil), codes.InvalidArgument)
	for name, host := range sortedMap(c.badHostURLs()) {
		c.code("ValidateConnection with "+name, call(withHost(tc.Connection, host)), codes.InvalidArgument)
	}
	for name, conn := range sortedMap(credentialVariants(tc.Connection)) {
		c.code("ValidateConnection with "+name, call(conn), codes.InvalidArgument)
	}
}

// caseValidateRejected: credentials the SCM refuses are Unauthenticated.
func caseValidateRejected(c *C) {
	conn := c.rejectedConn()
	_, err := c.s.client.ValidateConnection(c.ctx, &scmv1.ValidateConnectionRequest{Connection: conn})
	c.code("ValidateConnection with rejected credentials", err, codes.Unauthenticated)
}

// caseCheckValid: the working connection's credentials are valid (or
// expiring), and the detail holds no secret.
func caseCheckValid(c *C) {
	tc := c.conn()
	resp, err := c.s.client.CheckCredentials(c.ctx, &scmv1.CheckCredentialsRequest{Connection: tc.Connection})
	if !c.ok("CheckCredentials with the working connection", err) {
		return
	}
	c.cleanMsg("CheckCredentials' answer", resp)
	if s := resp.GetStatus(); s != scmv1.CredentialStatus_CREDENTIAL_STATUS_VALID && s != scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRING {
		c.Errorf("CheckCredentials classified working credentials as %s, want VALID or EXPIRING", s)
	}
	if resp.GetExpiresAt() < 0 {
		c.Errorf("CheckCredentials answered expires_at %d (Unix seconds, 0 for never)", resp.GetExpiresAt())
	}
}

// caseCheckRejected: refused credentials are classified REJECTED (or
// EXPIRED), not answered with an error.
func caseCheckRejected(c *C) {
	conn := c.rejectedConn()
	resp, err := c.s.client.CheckCredentials(c.ctx, &scmv1.CheckCredentialsRequest{Connection: conn})
	if !c.ok("CheckCredentials with rejected credentials (it classifies, it does not fail)", err) {
		return
	}
	c.cleanMsg("CheckCredentials' answer", resp)
	if s := resp.GetStatus(); s != scmv1.CredentialStatus_CREDENTIAL_STATUS_REJECTED && s != scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRED {
		c.Errorf("CheckCredentials classified rejected credentials as %s, want REJECTED or EXPIRED", s)
	}
}

// caseCheckBadInput: malformed connections are InvalidArgument.
func caseCheckBadInput(c *C) {
	tc := c.conn()
	call := func(conn *scmv1.Connection) error {
		_, err := c.s.client.CheckCredentials(c.ctx, &scmv1.CheckCredentialsRequest{Connection: conn})
		return err
	}
	c.code("CheckCredentials without a connection", call(nil), codes.InvalidArgument)
	for name, host := range sortedMap(c.badHostURLs()) {
		c.code("CheckCredentials with "+name, call(withHost(tc.Connection, host)), codes.InvalidArgument)
	}
	for name, conn := range sortedMap(credentialVariants(tc.Connection)) {
		c.code("CheckCredentials with "+name, call(conn), codes.InvalidArgument)
	}
}

// sortedMap iterates a map in key order, so reports are stable.
func sortedMap[V any](m map[string]V) func(yield func(string, V) bool) {
	return func(yield func(string, V) bool) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}
