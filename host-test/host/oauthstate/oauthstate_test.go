package oauthstate_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/oauthstate"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	kr, _ := secrets.New(bytes.Repeat([]byte{2}, 32))
	other, _ := secrets.New(bytes.Repeat([]byte{3}, 32))
	now := time.Unix(1_800_000_000, 0)
	s := oauthstate.NewSealer(kr)
	good := s.Seal(oauthstate.Claims{ID: "st", IntegrationID: "i1", ExpiresAt: now.Add(oauthstate.Lifetime).Unix()})
	if strings.Contains(good, "i1") {
		t.Fatal("state shows its claims in clear")
	}
	c, err := s.Open(good, now)
	if err != nil || c.ID != "st" || c.IntegrationID != "i1" {
		t.Fatalf("Open = %+v, %v", c, err)
	}
	tampered := []byte(good)
	tampered[len(tampered)/2] ^= 1
	tests := map[string]struct {
		state string
		at    time.Time
	}{
		"expired":        {state: good, at: now.Add(oauthstate.Lifetime)},
		"other key":      {state: oauthstate.NewSealer(other).Seal(oauthstate.Claims{ID: "st", IntegrationID: "i1", ExpiresAt: now.Add(time.Hour).Unix()}), at: now},
		"tampered":       {state: string(tampered), at: now},
		"empty":          {state: "", at: now},
		"not base64":     {state: "!!!", at: now},
		"too long":       {state: strings.Repeat("A", oauthstate.MaxLength+1), at: now},
		"missing claims": {state: s.Seal(oauthstate.Claims{ExpiresAt: now.Add(time.Hour).Unix()}), at: now},
	}
	for name, tc := range tests {
		if _, err := s.Open(tc.state, tc.at); !errors.Is(err, oauthstate.ErrInvalid) {
			t.Errorf("%s: Open = %v, want ErrInvalid", name, err)
		}
	}
}

func TestPKCE(t *testing.T) {
	t.Parallel()
	v, c := oauthstate.NewPKCE()
	if len(v) < 43 || len(v) > 128 {
		t.Fatalf("verifier length %d outside 43..128", len(v))
	}
	if c != oauth2.S256ChallengeFromVerifier(v) || strings.ContainsAny(c, "+/=") {
		t.Fatalf("challenge %q is not base64url(sha256(verifier))", c)
	}
	if v2, _ := oauthstate.NewPKCE(); v2 == v {
		t.Fatal("two verifiers are equal")
	}
	// RFC 7636 / GitLab docs test vector.
	if got := oauth2.S256ChallengeFromVerifier("ks02i3jdikdo2k0dkfodf3m39rjfjsdk0wk349rj3jrhf"); got != "2i0WFA-0AerkjQm4X4oDEhqA17QIAKNjXpagHBXmO_U" {
		t.Fatalf("challenge of the documented vector = %q", got)
	}
}
