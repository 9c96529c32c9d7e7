// Package oauthstate makes the OAuth "state" values the reference host sends
// to the provider's authorize page, and the PKCE pair that goes with them.
//
// A state is sealed (AES-256-GCM with the host's keyring, bound to its
// purpose), so it cannot be forged or read; it names a pending authorization
// the host stored, and expires after Lifetime. One-time use is the store's
// job: the callback consumes the pending authorization's row, so a replayed
// state finds nothing. This package keeps no state of its own.
package oauthstate

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
)

// Lifetime is how long an authorization may take, from authorize to callback.
const Lifetime = 10 * time.Minute

// MaxLength bounds a state value; anything longer is not one of ours.
const MaxLength = 512

// ErrInvalid: the state was not made by this host (or was altered), or it expired.
var ErrInvalid = errors.New("the OAuth state is invalid or expired; start the connection again")

var aad = []byte("oore-host/oauth-state/v1")

// Claims is what a state carries.
type Claims struct {
	// ID names the pending authorization in the store.
	ID string `json:"i"`
	// IntegrationID is the integration being connected.
	IntegrationID string `json:"n"`
	// ExpiresAt is Unix seconds.
	ExpiresAt int64 `json:"e"`
}

// Sealer seals and opens states with the host's keyring.
type Sealer struct {
	kr *secrets.Keyring
}

// NewSealer returns a Sealer over kr.
func NewSealer(kr *secrets.Keyring) Sealer { return Sealer{kr: kr} }

// Seal returns the state value for c, URL-safe.
func (s Sealer) Seal(c Claims) string {
	pt, _ := json.Marshal(c) // a struct of strings and an int always marshals
	return base64.RawURLEncoding.EncodeToString(s.kr.Seal(pt, aad))
}

// Open checks a state value and returns its claims, or ErrInvalid.
func (s Sealer) Open(state string, now time.Time) (Claims, error) {
	if state == "" || len(state) > MaxLength {
		return Claims{}, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(state)
	if err != nil {
		return Claims{}, ErrInvalid
	}
	pt, err := s.kr.Open(raw, aad)
	if err != nil {
		return Claims{}, ErrInvalid
	}
	var c Claims
	if err := json.Unmarshal(pt, &c); err != nil || c.ID == "" || c.IntegrationID == "" {
		return Claims{}, ErrInvalid
	}
	if now.Unix() >= c.ExpiresAt {
		return Claims{}, fmt.Errorf("state expired at %d: %w", c.ExpiresAt, ErrInvalid)
	}
	return c, nil
}

// NewPKCE returns a fresh code verifier and its S256 challenge (RFC 7636).
func NewPKCE() (verifier, challenge string) {
	verifier = oauth2.GenerateVerifier()
	return verifier, oauth2.S256ChallengeFromVerifier(verifier)
}
