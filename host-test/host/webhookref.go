package host

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// secretRefPurpose labels the key secret references are made with
// (secrets.Keyring.DeriveKey): hosts sharing an encryption key, as hosts on
// one database must, derive the same key, so a reference one host taught a
// plugin's session reads the same on the others.
const secretRefPurpose = "webhook-secret-ref"

// secretRefBytes is how much of the HMAC a reference keeps: 144 bits, 24
// base64 characters.
const secretRefBytes = 18

// secretRefs names a repository's current webhook secret for a plugin's
// webhook session (scm.v1 VerifyWebhookRequest.secret_ref): the session
// keeps a secret under the name the host gave it and, on receive, answers
// which name it verified with; the host trusts that answer only when the
// name is still a target's current one.
//
// A reference is base64url(HMAC-SHA256(key, repository row id || 0x00 ||
// secret)) cut to secretRefBytes, the key derived from the host's
// encryption key. It changes when the secret is rotated, differs between
// two repositories (two integrations' copies of one project) that share a
// secret, and without the key tells nothing about the secret. It is sent to
// the plugin only: never stored, logged nor answered.
type secretRefs struct{ key []byte }

func newSecretRefs(kr *secrets.Keyring) (secretRefs, error) {
	if kr == nil {
		return secretRefs{}, fmt.Errorf("webhook secret references: the host needs its encryption keyring")
	}
	key, err := kr.DeriveKey(secretRefPurpose)
	if err != nil {
		return secretRefs{}, fmt.Errorf("webhook secret references: %w", err)
	}
	return secretRefs{key: key}, nil
}

// of is the reference of secret as repository repositoryID's webhook secret.
// Row ids hold no NUL, so the id and the secret cannot run into each other.
func (r secretRefs) of(repositoryID, secret string) string {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte(repositoryID))
	m.Write([]byte{0})
	m.Write([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:secretRefBytes])
}

// current returns the target whose current secret ref names, or nil (the
// secret was rotated since the session learnt it, or the repository left
// the host). Every target is compared, each in constant time.
func (r secretRefs) current(targets []store.WebhookTarget, ref string) *store.WebhookTarget {
	if ref == "" {
		return nil
	}
	var found *store.WebhookTarget
	for i := range targets {
		if subtle.ConstantTimeCompare([]byte(r.of(targets[i].Repository.ID, targets[i].Secret)), []byte(ref)) == 1 && found == nil {
			found = &targets[i]
		}
	}
	return found
}
