package secrets_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
)

func TestSealOpenBindsAAD(t *testing.T) {
	t.Parallel()
	kr, err := secrets.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("glpat-abcdefghijklmnopqrst")
	sealed := kr.Seal(secret, []byte("integration-credentials:1"))
	if bytes.Contains(sealed, secret) {
		t.Fatal("ciphertext contains the plaintext")
	}
	got, err := kr.Open(sealed, []byte("integration-credentials:1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v; want the plaintext", got, err)
	}
	if _, err := kr.Open(sealed, []byte("integration-credentials:2")); !errors.Is(err, secrets.ErrDecrypt) {
		t.Fatalf("Open with another row's AAD = %v, want ErrDecrypt", err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	if _, err := kr.Open(tampered, []byte("integration-credentials:1")); !errors.Is(err, secrets.ErrDecrypt) {
		t.Fatalf("Open of tampered data = %v, want ErrDecrypt", err)
	}
	if bytes.Equal(kr.Seal(secret, nil), kr.Seal(secret, nil)) {
		t.Fatal("two seals of the same plaintext are equal: nonce reused")
	}
	other, _ := secrets.New(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(sealed, []byte("integration-credentials:1")); !errors.Is(err, secrets.ErrDecrypt) {
		t.Fatalf("Open with another key = %v, want ErrDecrypt", err)
	}
}

func TestLoadCreatesKeyFileOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kr1, err := secrets.Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, secrets.KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %o, want 600", fi.Mode().Perm())
	}
	kr2, err := secrets.Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	sealed := kr1.Seal([]byte("x"), nil)
	if _, err := kr2.Open(sealed, nil); err != nil {
		t.Fatalf("second Load has another key: %v", err)
	}
}

func TestLoadRefusesOpenKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := secrets.Load(dir, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, secrets.KeyFileName), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Load(dir, ""); !errors.Is(err, secrets.ErrKeyPermissions) {
		t.Fatalf("Load of a 0644 key file = %v, want ErrKeyPermissions", err)
	}
}

func TestLoadFromEnv(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{3}, 32)
	tests := map[string]struct {
		value   string
		wantErr bool
	}{
		"standard base64":  {value: base64.StdEncoding.EncodeToString(key)},
		"url base64":       {value: base64.RawURLEncoding.EncodeToString(key)},
		"with newline":     {value: base64.StdEncoding.EncodeToString(key) + "\n"},
		"too short":        {value: base64.StdEncoding.EncodeToString(key[:16]), wantErr: true},
		"not base64":       {value: strings.Repeat("!", 44), wantErr: true},
		"raw 32-byte text": {value: string(bytes.Repeat([]byte("k"), 32)), wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			kr, err := secrets.Load(dir, tc.value)
			if tc.wantErr {
				if !errors.Is(err, secrets.ErrKeySize) {
					t.Fatalf("Load = %v, want ErrKeySize", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, secrets.KeyFileName)); !os.IsNotExist(err) {
				t.Fatalf("a key file was written although the key came from the environment (stat: %v)", err)
			}
			want, _ := secrets.New(key)
			if _, err := want.Open(kr.Seal([]byte("x"), nil), nil); err != nil {
				t.Fatal("the environment's key was not used")
			}
		})
	}
}

func TestRandomToken(t *testing.T) {
	t.Parallel()
	a, b := secrets.RandomToken("oore_", 32), secrets.RandomToken("oore_", 32)
	if a == b || !strings.HasPrefix(a, "oore_") || len(a) != len("oore_")+43 {
		t.Fatalf("RandomToken = %q, %q", a, b)
	}
}

func TestDeriveKeyIsStablePerPurposeAndNeverTheKey(t *testing.T) {
	t.Parallel()
	key := make([]byte, secrets.KeySize)
	key[0] = 7
	a, _ := secrets.New(key)
	b, _ := secrets.New(key)
	ka, err := a.DeriveKey("ui-session")
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := b.DeriveKey("ui-session")
	other, _ := a.DeriveKey("something-else")
	if len(ka) != secrets.KeySize || string(ka) != string(kb) {
		t.Fatal("two keyrings over one key derive different session keys")
	}
	if string(ka) == string(other) || string(ka) == string(key) {
		t.Fatal("derived key equals another purpose's key or the encryption key")
	}
}
