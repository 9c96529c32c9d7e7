package store

import (
	"context"
	"fmt"
)

// AcquireRefreshLock takes the integration's refresh lock for holder.
func (s *SQL) AcquireRefreshLock(ctx context.Context, integrationID, holder string, ttlSeconds int64) (bool, error) {
	now := s.unix()
	res, err := s.q().exec(ctx, `INSERT INTO refresh_locks (integration_id, holder, expires_at) VALUES (?, ?, ?)
ON CONFLICT (integration_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE refresh_locks.expires_at <= ? OR refresh_locks.holder = excluded.holder`,
		integrationID, holder, now+ttlSeconds, now)
	if err != nil {
		return false, fmt.Errorf("acquire refresh lock of integration %s: %w", integrationID, err)
	}
	return affected(res) == 1, nil
}

// ReleaseRefreshLock gives the lock up.
func (s *SQL) ReleaseRefreshLock(ctx context.Context, integrationID, holder string) error {
	if _, err := s.q().exec(ctx, `DELETE FROM refresh_locks WHERE integration_id = ? AND holder = ?`, integrationID, holder); err != nil {
		return fmt.Errorf("release refresh lock of integration %s: %w", integrationID, err)
	}
	return nil
}

// SaveRefreshedCredentials stores both new tokens while holder holds the lock.
func (s *SQL) SaveRefreshedCredentials(ctx context.Context, integrationID, holder string, creds Credentials) error {
	sealed, err := s.sealCredentials(integrationID, creds)
	if err != nil {
		return fmt.Errorf("save refreshed credentials of integration %s: %w", integrationID, err)
	}
	return s.tx(ctx, func(c q) error {
		var held int
		if err := c.row(ctx, `SELECT COUNT(*) FROM refresh_locks WHERE integration_id = ? AND holder = ?`, integrationID, holder).Scan(&held); err != nil {
			return fmt.Errorf("save refreshed credentials of integration %s: %w", integrationID, err)
		}
		if held == 0 {
			return fmt.Errorf("save refreshed credentials of integration %s: %w", integrationID, ErrLockNotHeld)
		}
		res, err := c.exec(ctx, `UPDATE integrations SET credentials = ?, credentials_version = credentials_version + 1,
  token_expires_at = ?, reconnect_required = FALSE, status_reason = '',
  status = CASE WHEN status = 'error' AND reconnect_required THEN 'active' ELSE status END, updated_at = ? WHERE id = ?`,
			sealed, creds.ExpiresAt, s.unix(), integrationID)
		if err != nil {
			return fmt.Errorf("save refreshed credentials of integration %s: %w", integrationID, err)
		}
		if affected(res) == 0 {
			return fmt.Errorf("save refreshed credentials of integration %s: %w", integrationID, ErrNotFound)
		}
		return nil
	})
}

// MarkReconnectRequired flags the integration for reconnection.
func (s *SQL) MarkReconnectRequired(ctx context.Context, integrationID, reason string) error {
	res, err := s.q().exec(ctx, `UPDATE integrations SET status = ?, reconnect_required = TRUE, status_reason = ?, updated_at = ? WHERE id = ?`,
		StatusError, reason, s.unix(), integrationID)
	if err != nil {
		return fmt.Errorf("mark integration %s for reconnection: %w", integrationID, err)
	}
	if affected(res) == 0 {
		return fmt.Errorf("mark integration %s for reconnection: %w", integrationID, ErrNotFound)
	}
	return nil
}
