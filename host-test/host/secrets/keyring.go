// Package secrets encrypts what the reference host keeps at rest:
// integration credentials, webhook secrets and OAuth verifiers. It uses
// AES-256-GCM with additional authenticated data (AAD) that binds each
// ciphertext to its row and purpose, so a ciphertext copied into another row
// or column does not open.
//
// The key comes from OORE_ENCRYPTION_KEY (base64 of 32 bytes) or from a key
// file (0600) in the host's data directory, created on first start. This
// package does not hash API tokens (see the host's auth) and does not rotate
// keys.
package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the AES-256 key length in bytes.
const KeySize = 32

// KeyFileName is the key file's name inside the data directory.
const KeyFileName = "encryption.key"

// EnvKey is the environment variable that holds the key (base64, 32 bytes).
const EnvKey = "OORE_ENCRYPTION_KEY"

// version prefixes every ciphertext, so a later key or algorithm can be told apart.
const version byte = 1

// Errors the keyring answers with. Each says how to fix its cause.
var (
	// ErrDecrypt: a ciphertext did not open with this key and purpose. The key
	// changed (restore the original key file or OORE_ENCRYPTION_KEY), or the
	// data was tampered with or moved to another row.
	ErrDecrypt = errors.New("decrypt: the data does not open with this key and purpose; restore the original encryption key")
	// ErrKeyPermissions: the key file is readable by others. chmod 600 it.
	ErrKeyPermissions = errors.New("encryption key file must not be readable by group or others; chmod 600 it")
	// ErrKeySize: the key is not 32 bytes of base64.
	ErrKeySize = errors.New("encryption key must be the base64 encoding of exactly 32 bytes")
)

// Keyring seals and opens data with one AES-256-GCM key. It is safe for
// concurrent use.
type Keyring struct {
	aead cipher.AEAD
	key  []byte
}

// New returns a keyring for a 32-byte key.
func New(key []byte) (*Keyring, error) {
	if len(key) != KeySize {
		return nil, ErrKeySize
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("new keyring: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("new keyring: %w", err)
	}
	return &Keyring{aead: aead, key: bytes.Clone(key)}, nil
}

// DeriveKey returns a 32-byte key for another purpose (for example the UI's
// session cookies), derived from the keyring's key with HKDF-SHA256 so hosts
// sharing one encryption key share it too, and the encryption key itself is
// never used twice.
func (k *Keyring) DeriveKey(purpose string) ([]byte, error) {
	out, err := hkdf.Key(sha256.New, k.key, nil, "oore-host/"+purpose, KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive %s key: %w", purpose, err)
	}
	return out, nil
}

// ParseKey decodes a base64 (standard or URL alphabet, padded or not) key.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil && len(key) == KeySize {
			return key, nil
		}
	}
	return nil, ErrKeySize
}

// Load returns the keyring for a host: the key in envValue when it is not
// empty (OORE_ENCRYPTION_KEY), else the key file in dataDir, which is created
// with a new random key (mode 0600) when it does not exist.
func Load(dataDir, envValue string) (*Keyring, error) {
	if strings.TrimSpace(envValue) != "" {
		key, err := ParseKey(envValue)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", EnvKey, err)
		}
		return New(key)
	}
	path := filepath.Join(dataDir, KeyFileName)
	key, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKeyFile(path)
		if errors.Is(err, fs.ErrExist) { // another process created it first
			key, err = readKeyFile(path)
		}
	}
	if err != nil {
		return nil, err
	}
	return New(key)
}

func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("read key file %s (mode %o): %w", path, fi.Mode().Perm(), ErrKeyPermissions)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	key, err := ParseKey(string(raw))
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	return key, nil
}

func createKeyFile(path string) ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("create key file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create key file %s: %w", path, err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("close key file %s: %w", path, err)
	}
	return key, nil
}

// Seal encrypts plaintext bound to aad (the row and purpose, e.g.
// "integration-credentials:<id>"). The result is version, nonce, ciphertext.
func (k *Keyring) Seal(plaintext, aad []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), 1+k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("secrets: crypto/rand failed: " + err.Error()) // crypto/rand never fails on supported systems
	}
	out := append([]byte{version}, nonce...)
	return k.aead.Seal(out, nonce, plaintext, aad)
}

// Open decrypts what Seal returned for the same aad, or answers ErrDecrypt.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < 1+ns+k.aead.Overhead() || sealed[0] != version {
		return nil, ErrDecrypt
	}
	pt, err := k.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}
