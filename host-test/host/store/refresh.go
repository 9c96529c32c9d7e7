package store

import (
	"context"
	"fmt"
)

// AcquireRefreshLock takes the integration's refresh lock for holder.
func (s *SQL) AcquireRefreshLock(ctx context.Context, integrationID, holder string, ttlSeconds int64) (bool, error) {
	ok, err := s.acquireLease(ctx, refreshLocks, integrationID, holder, ttlSeconds)
	if err != nil {
		return false, fmt.Errorf("acquire refresh lock of integration %s: %w", integrationID, err)
	}
	return ok, nil
}

// ReleaseRefreshLock gives the lock up.
func (s *SQL) ReleaseRefreshLock(ctx context.Context, integrationID, holder string) error {
	if err := s.releaseLease(ctx, refreshLocks, integrationID, holder); err != nil {
		return fmt.Errorf("release refresh lock of integration %s: %w", integrationID, err)
	}
	return nil
}

// leaseTable names a table of leases: one row per key, (key, holder,
// expires_at). Both are constants of this package, never input.
type leaseTable struct{ table, key string }

var (
	refreshLocks      = leaseTable{"refresh_locks", "integration_id"}
	projectHookLeases = leaseTable{"project_hook_leases", "repository_id"}
)

// acquireLease takes or extends key's lease for holder in one statement, so
// of holders racing on several hosts exactly one inserts the row or
// replaces an expired one; false when another holder's lease is current.
func (s *SQL) acquireLease(ctx context.Context, t leaseTable, key, holder string, ttlSeconds int64) (bool, error) {
	now := s.unix()
	res, err := s.q().exec(ctx, `INSERT INTO `+t.table+` (`+t.key+`, holder, expires_at) VALUES (?, ?, ?)
ON CONFLICT (`+t.key+`) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE `+t.table+`.expires_at <= ? OR `+t.table+`.holder = excluded.holder`,
		key, holder, now+ttlSeconds, now)
	if err != nil {
		return false, err
	}
	return affected(res) == 1, nil
}

// releaseLease deletes holder's lease of key (another holder's stays).
func (s *SQL) releaseLease(ctx context.Context, t leaseTable, key, holder string) error {
	_, err := s.q().exec(ctx, `DELETE FROM `+t.table+` WHERE `+t.key+` = ? AND holder = ?`, key, holder)
	return err
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
