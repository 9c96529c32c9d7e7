package launcher

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

// ChecksumCache remembers which plugin binaries this host has hashed and
// found matching, keyed by path, size, modification time and inode change
// time. An unchanged file is not hashed again on restart; any change to the
// file (a rewrite, a copy over it, a touch) changes the key and forces a full
// hash. A nil cache hashes every time.
type ChecksumCache struct {
	mu   sync.Mutex
	seen map[string]fileKey
}

type fileKey struct {
	size  int64
	mtime time.Time
	ctime int64
	sum   string
}

// NewChecksumCache returns an empty cache.
func NewChecksumCache() *ChecksumCache { return &ChecksumCache{seen: map[string]fileKey{}} }

func (c *ChecksumCache) verify(path string, want []byte) error {
	if c == nil {
		return nil // go-plugin's SecureConfig hashes the binary itself
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	key := fileKey{size: fi.Size(), mtime: fi.ModTime(), ctime: changeTime(fi), sum: hex.EncodeToString(want)}
	c.mu.Lock()
	prev, ok := c.seen[path]
	c.mu.Unlock()
	if ok && prev == key {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("hash plugin binary: %w", err)
	}
	if !bytes.Equal(h.Sum(nil), want) {
		return manifest.ErrChecksumMismatch
	}
	c.mu.Lock()
	c.seen[path] = key
	c.mu.Unlock()
	return nil
}
