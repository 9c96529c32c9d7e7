package store

import (
	"context"
	"fmt"
)

// CreateAPIToken stores a new token's hash, name and role.
func (s *SQL) CreateAPIToken(ctx context.Context, t APIToken) error {
	if t.ID == "" {
		t.ID = newID()
	}
	if t.CreatedAt == 0 {
		t.CreatedAt = s.unix()
	}
	_, err := s.q().exec(ctx, `INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Role, t.Hash, t.CreatedAt)
	if s.d.isConflict(err) {
		return fmt.Errorf("create api token %s: %w", t.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create api token %s: %w", t.Name, err)
	}
	return nil
}

// EnsureAPIToken stores t unless a token with the same hash exists.
func (s *SQL) EnsureAPIToken(ctx context.Context, t APIToken) error {
	if t.ID == "" {
		t.ID = newID()
	}
	if t.CreatedAt == 0 {
		t.CreatedAt = s.unix()
	}
	_, err := s.q().exec(ctx, `INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (token_hash) DO UPDATE SET role = excluded.role`,
		t.ID, t.Name, t.Role, t.Hash, t.CreatedAt)
	if err != nil {
		return fmt.Errorf("ensure api token %s: %w", t.Name, err)
	}
	return nil
}

// APITokenByHash finds the token whose secret hashes to hash.
func (s *SQL) APITokenByHash(ctx context.Context, hash []byte) (APIToken, error) {
	var t APIToken
	err := s.q().row(ctx, `SELECT id, name, role, token_hash, created_at FROM api_tokens WHERE token_hash = ?`, hash).
		Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &t.CreatedAt)
	if err != nil {
		return APIToken{}, fmt.Errorf("find api token: %w", notFound(err))
	}
	return t, nil
}
