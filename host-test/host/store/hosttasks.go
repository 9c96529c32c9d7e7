package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrHostTaskLeaseNotHeld: the host task's lease was not held by this
// holder any more (it expired and another host took it). Nothing was
// written.
var ErrHostTaskLeaseNotHeld = errors.New("host task lease not held")

// HostTaskStore keeps what the host's periodic tasks (the credentials
// check) share across every host on the database: a lease per task, so one
// host runs a round at a time, and when the task last finished a round, so
// that no host runs it again before its interval has passed. *SQL is one.
// It is separate from Store so that stores without it still serve the API;
// the host finds it with a type assertion and runs no periodic task
// without it.
type HostTaskStore interface {
	// AcquireHostTaskLease takes the task's lease for holder until
	// ttlSeconds from now, or extends it when holder has it already. It
	// reports false when another holder has a lease that has not expired.
	AcquireHostTaskLease(ctx context.Context, name, holder string, ttlSeconds int64) (bool, error)
	// ReleaseHostTaskLease gives holder's lease up (nothing when another
	// holder has it now).
	ReleaseHostTaskLease(ctx context.Context, name, holder string) error
	// HostTaskLastRun is when the task last finished a round (Unix
	// seconds), 0 when it never has.
	HostTaskLastRun(ctx context.Context, name string) (int64, error)
	// RecordHostTaskRun stores at as the task's last run, checked in the
	// same transaction that holder still holds the task's lease
	// (ErrHostTaskLeaseNotHeld otherwise: another host took the expired
	// lease and its round is the one that counts).
	RecordHostTaskRun(ctx context.Context, name, holder string, at int64) error
}

var _ HostTaskStore = (*SQL)(nil)

var hostTaskLeases = leaseTable{"host_task_leases", "name"}

// AcquireHostTaskLease takes or extends the task's lease for holder.
func (s *SQL) AcquireHostTaskLease(ctx context.Context, name, holder string, ttlSeconds int64) (bool, error) {
	ok, err := s.acquireLease(ctx, hostTaskLeases, name, holder, ttlSeconds)
	if err != nil {
		return false, fmt.Errorf("acquire the lease of host task %s: %w", name, err)
	}
	return ok, nil
}

// ReleaseHostTaskLease gives holder's lease of the task up.
func (s *SQL) ReleaseHostTaskLease(ctx context.Context, name, holder string) error {
	if err := s.releaseLease(ctx, hostTaskLeases, name, holder); err != nil {
		return fmt.Errorf("release the lease of host task %s: %w", name, err)
	}
	return nil
}

// HostTaskLastRun reads when the task last finished a round.
func (s *SQL) HostTaskLastRun(ctx context.Context, name string) (int64, error) {
	var at int64
	err := s.q().row(ctx, `SELECT last_run_at FROM host_task_runs WHERE name = ?`, name).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the last run of host task %s: %w", name, err)
	}
	return at, nil
}

// RecordHostTaskRun stores the task's last run while holder holds its lease.
func (s *SQL) RecordHostTaskRun(ctx context.Context, name, holder string, at int64) error {
	return s.tx(ctx, func(c q) error {
		var held int
		if err := c.row(ctx, `SELECT COUNT(*) FROM host_task_leases WHERE name = ? AND holder = ?`, name, holder).Scan(&held); err != nil {
			return fmt.Errorf("record the run of host task %s: %w", name, err)
		}
		if held == 0 {
			return fmt.Errorf("record the run of host task %s: %w", name, ErrHostTaskLeaseNotHeld)
		}
		if _, err := c.exec(ctx, `INSERT INTO host_task_runs (name, last_run_at) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET last_run_at = excluded.last_run_at`, name, at); err != nil {
			return fmt.Errorf("record the run of host task %s: %w", name, err)
		}
		return nil
	})
}
