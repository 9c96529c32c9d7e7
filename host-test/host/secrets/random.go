package secrets

import (
	"crypto/rand"
	"encoding/base64"
)

// RandomToken returns prefix followed by n random bytes in unpadded base64url.
// API tokens, webhook secrets and OAuth state ids are made with it.
func RandomToken(prefix string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("secrets: crypto/rand failed: " + err.Error())
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}
