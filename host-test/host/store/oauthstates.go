package store

import (
	"context"
	"fmt"
)

// CreateOAuthState stores a pending authorization (its verifier sealed) and
// drops states that expired.
func (s *SQL) CreateOAuthState(ctx context.Context, st OAuthState) error {
	if st.CreatedAt == 0 {
		st.CreatedAt = s.unix()
	}
	sealed := s.kr.Seal([]byte(st.Verifier), verifierAAD(st.ID))
	return s.tx(ctx, func(c q) error {
		if _, err := c.exec(ctx, `DELETE FROM oauth_states WHERE expires_at < ?`, s.unix()); err != nil {
			return fmt.Errorf("create oauth state: drop expired: %w", err)
		}
		_, err := c.exec(ctx, `INSERT INTO oauth_states (id, integration_id, redirect_url, verifier, expires_at, created_at)
VALUES (?, ?, ?, ?, ?, ?)`, st.ID, st.IntegrationID, st.RedirectURL, sealed, st.ExpiresAt, st.CreatedAt)
		if err != nil {
			return fmt.Errorf("create oauth state for integration %s: %w", st.IntegrationID, err)
		}
		return nil
	})
}

// ConsumeOAuthState deletes and returns the state, so it works once.
func (s *SQL) ConsumeOAuthState(ctx context.Context, id string) (OAuthState, error) {
	st := OAuthState{ID: id}
	var sealed []byte
	err := s.q().row(ctx, `DELETE FROM oauth_states WHERE id = ? RETURNING integration_id, redirect_url, verifier, expires_at, created_at`, id).
		Scan(&st.IntegrationID, &st.RedirectURL, &sealed, &st.ExpiresAt, &st.CreatedAt)
	if err != nil {
		return OAuthState{}, fmt.Errorf("consume oauth state: %w", notFound(err))
	}
	if st.ExpiresAt <= s.unix() {
		return OAuthState{}, fmt.Errorf("consume oauth state: %w", ErrExpired)
	}
	v, err := s.kr.Open(sealed, verifierAAD(id))
	if err != nil {
		return OAuthState{}, fmt.Errorf("consume oauth state: %w", err)
	}
	st.Verifier = string(v)
	return st, nil
}
