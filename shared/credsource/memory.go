package credsource

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// MemoryStore is a Store in memory, for tests and for hosts that keep their
// integrations in one process (no shared database). Its refresh lock is a
// per-integration mutex that honours the context while waiting, so two
// Sources over one MemoryStore behave like two hosts over one database.
// Credentials are copied in and out: callers never share a message.
type MemoryStore struct {
	mu      sync.Mutex
	entries map[string]*memoryEntry
}

type memoryEntry struct {
	creds     *scmv1.Credentials
	reconnect string // why the integration needs reconnecting; "" when it does not
	lock      chan struct{}
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{entries: map[string]*memoryEntry{}}
}

// entry is the integration's entry, created when create is set.
func (m *MemoryStore) entry(integrationID string, create bool) *memoryEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[integrationID]
	if !ok && create {
		e = &memoryEntry{lock: make(chan struct{}, 1)}
		m.entries[integrationID] = e
	}
	return e
}

// Load returns a copy of the integration's credentials.
func (m *MemoryStore) Load(_ context.Context, integrationID string) (*scmv1.Credentials, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[integrationID]
	if !ok || e.creds == nil {
		return nil, fmt.Errorf("load integration %q: %w", integrationID, ErrUnknownIntegration)
	}
	if e.reconnect != "" {
		return nil, fmt.Errorf("load integration %q: %s: %w", integrationID, e.reconnect, ErrReconnectRequired)
	}
	return proto.CloneOf(e.creds), nil
}

// WithRefreshLock runs fn holding the integration's lock. Waiting ends with
// ctx's error when ctx is done first.
func (m *MemoryStore) WithRefreshLock(ctx context.Context, integrationID string, fn func(ctx context.Context) error) error {
	e := m.entry(integrationID, false)
	if e == nil {
		return fmt.Errorf("lock integration %q: %w", integrationID, ErrUnknownIntegration)
	}
	select {
	case e.lock <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("lock integration %q: %w", integrationID, ctx.Err())
	}
	defer func() { <-e.lock }()
	return fn(ctx)
}

// Save stores a copy of creds, creating the integration when it is new, and
// clears its reconnection mark.
func (m *MemoryStore) Save(_ context.Context, integrationID string, creds *scmv1.Credentials) error {
	if creds == nil {
		return fmt.Errorf("save integration %q: no credentials given", integrationID)
	}
	e := m.entry(integrationID, true)
	m.mu.Lock()
	defer m.mu.Unlock()
	e.creds = proto.CloneOf(creds)
	e.reconnect = ""
	return nil
}

// MarkReconnect flags the integration; Load answers ErrReconnectRequired
// until the next Save.
func (m *MemoryStore) MarkReconnect(_ context.Context, integrationID string, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[integrationID]
	if !ok {
		return fmt.Errorf("mark integration %q for reconnection: %w", integrationID, ErrUnknownIntegration)
	}
	if reason == "" {
		reason = "reconnection required"
	}
	e.reconnect = reason
	return nil
}

// ReconnectReason says whether the integration is marked for reconnection,
// and why.
func (m *MemoryStore) ReconnectReason(integrationID string) (reason string, marked bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[integrationID]
	if !ok || e.reconnect == "" {
		return "", false
	}
	return e.reconnect, true
}

// Stored returns a copy of the integration's credentials whether or not it is
// marked for reconnection (nil when unknown), for tests and for a host's
// "reconnect" screen.
func (m *MemoryStore) Stored(integrationID string) *scmv1.Credentials {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[integrationID]
	if !ok || e.creds == nil {
		return nil
	}
	return proto.CloneOf(e.creds)
}
