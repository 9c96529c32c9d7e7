package host

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

func refsFor(t *testing.T, key byte) secretRefs {
	t.Helper()
	kr, err := secrets.New(bytes.Repeat([]byte{key}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	r, err := newSecretRefs(kr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSecretRefs: a reference is the same on every host sharing the
// encryption key and differs on another key; it changes with the secret
// (rotation) and with the repository (two integrations' copies of one
// project sharing a secret); it is URL-safe, at least 128 bits, and holds
// nothing of the secret, nor the key derivation's input.
func TestSecretRefs(t *testing.T) {
	t.Parallel()
	a, sameKey, otherKey := refsFor(t, 7), refsFor(t, 7), refsFor(t, 8)
	const repo, other, secret = "01a2213b-f419-79cc-af89-c1491783e908", "01a2213b-f41b-743f-9a4b-d2fc15179426", "s3cr3t-token-value"
	ref := a.of(repo, secret)
	raw, err := base64.RawURLEncoding.DecodeString(ref)
	if err != nil || len(raw) < 16 {
		t.Fatalf("reference %q: %d bytes of base64url (%v), want at least 16", ref, len(raw), err)
	}
	if ref != a.of(repo, secret) || ref != sameKey.of(repo, secret) {
		t.Fatal("the reference is not the same for the same key, repository and secret")
	}
	for what, got := range map[string]string{
		"another key":              otherKey.of(repo, secret),
		"a rotated secret":         a.of(repo, secret+"x"),
		"another repository":       a.of(other, secret),
		"the id and secret joined": a.of(repo+secret[:2], secret[2:]),
	} {
		if got == ref {
			t.Errorf("%s gives the same reference", what)
		}
	}
	for _, part := range []string{secret, secret[:6], repo, base64.RawURLEncoding.EncodeToString([]byte(secret))[:8]} {
		if strings.Contains(ref, part) {
			t.Errorf("the reference %q holds %q", ref, part)
		}
	}
	if _, err := newSecretRefs(nil); err == nil {
		t.Fatal("references without a keyring")
	}
}

// TestSecretRefsCurrent: a receive answer's reference picks the target
// whose current secret it names, and no target once that secret changed.
func TestSecretRefsCurrent(t *testing.T) {
	t.Parallel()
	r := refsFor(t, 7)
	targets := []store.WebhookTarget{
		{Repository: store.Repository{ID: "repo-a"}, Secret: "shared"},
		{Repository: store.Repository{ID: "repo-b"}, Secret: "shared"},
		{Repository: store.Repository{ID: "repo-c"}, Secret: "own"},
	}
	for i, tg := range targets {
		if got := r.current(targets, r.of(tg.Repository.ID, tg.Secret)); got != &targets[i] {
			t.Errorf("the reference of %s's secret picked %v", tg.Repository.ID, got)
		}
	}
	for what, ref := range map[string]string{
		"a rotated secret":   r.of("repo-a", "before-rotation"),
		"another repository": r.of("repo-d", "shared"),
		"no reference":       "",
		"the secret itself":  "shared",
	} {
		if got := r.current(targets, ref); got != nil {
			t.Errorf("%s picked %s", what, got.Repository.ID)
		}
	}
}
