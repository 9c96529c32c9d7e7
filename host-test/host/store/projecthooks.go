package store

import (
	"context"
	"errors"
	"fmt"
)

// ErrLeaseNotHeld: the repository's project-webhook lease was not held by
// this holder any more (it expired and another registration took it).
// Nothing was written.
var ErrLeaseNotHeld = errors.New("project webhook lease not held")

// ProjectHook is a webhook the host registered at the provider for one of
// its repositories: the provider's id of the hook, the repository it belongs
// to and the URL it delivers to. The hook's secret is the repository's
// webhook secret (SetWebhookSecret's), never kept here.
//
// A row outlives its repository and integration: deleting an integration
// first removes its hooks at the provider (which needs RepositoryExternalID
// and HookID), then forgets them.
type ProjectHook struct {
	RepositoryID         string
	IntegrationID        string
	Provider             string
	RepositoryExternalID string
	RepositoryFullName   string
	// HookID is the provider's id of the hook.
	HookID string
	// URL is where the hook delivers (the host's webhook URL when it was registered).
	URL       string
	CreatedAt int64
	UpdatedAt int64
}

// ProjectHookStore keeps the project webhooks the host registered. *SQL is
// one. It is separate from Store so that stores without it still serve the
// rest of the API; the host finds it on its Store with a type assertion.
type ProjectHookStore interface {
	// AcquireProjectHookLease takes the repository's project-webhook lease
	// for holder until ttlSeconds from now, or extends it when holder has
	// it already. It reports false when another holder has a lease that has
	// not expired. The lease is what serializes registrations and removals
	// of one repository's hook across every host sharing the database: the
	// provider call runs between taking it and releasing it, outside any
	// transaction.
	AcquireProjectHookLease(ctx context.Context, repositoryID, holder string, ttlSeconds int64) (bool, error)
	// ReleaseProjectHookLease gives holder's lease up (nothing when another
	// holder has it now).
	ReleaseProjectHookLease(ctx context.Context, repositoryID, holder string) error
	// SaveProjectHook sets the repository's webhook secret (sealed, as
	// SetWebhookSecret does: the previous secret stops working at once) and
	// records the hook that carries it, in one transaction, while holder
	// holds the repository's lease (ErrLeaseNotHeld otherwise: another
	// registration took the expired lease and its secret is the one that
	// counts). The integration, provider, external id and full name are the
	// repository's, read in the same transaction. It returns the stored
	// hook (CreatedAt kept from an earlier registration of the same
	// repository). ErrNotFound when the repository is gone.
	SaveProjectHook(ctx context.Context, repositoryID, holder, hookID, url, secret string, rotatedAt int64) (ProjectHook, error)
	// GetProjectHook reads the hook registered for a repository.
	// ErrNotFound when there is none.
	GetProjectHook(ctx context.Context, repositoryID string) (ProjectHook, error)
	// ForgetProjectHook deletes the record of a repository's hook (not the
	// hook at the provider). It reports whether there was one.
	ForgetProjectHook(ctx context.Context, repositoryID string) (bool, error)
	// IntegrationProjectHooks lists the hooks registered for an
	// integration's repositories, oldest first, also after the integration
	// itself was deleted.
	IntegrationProjectHooks(ctx context.Context, integrationID string) ([]ProjectHook, error)
	// ForgetIntegrationProjectHooks deletes the records of an integration's
	// hooks and returns how many there were.
	ForgetIntegrationProjectHooks(ctx context.Context, integrationID string) (int64, error)
}

var _ ProjectHookStore = (*SQL)(nil)

const projectHookColumns = `repository_id, integration_id, provider, repository_external_id, repository_full_name, hook_id, url, created_at, updated_at`

type projectHookRow interface{ Scan(dest ...any) error }

func scanProjectHook(r projectHookRow) (ProjectHook, error) {
	var h ProjectHook
	err := r.Scan(&h.RepositoryID, &h.IntegrationID, &h.Provider, &h.RepositoryExternalID, &h.RepositoryFullName,
		&h.HookID, &h.URL, &h.CreatedAt, &h.UpdatedAt)
	return h, err
}

// AcquireProjectHookLease takes or extends the repository's lease (see
// acquireLease: of holders racing on several hosts exactly one wins).
func (s *SQL) AcquireProjectHookLease(ctx context.Context, repositoryID, holder string, ttlSeconds int64) (bool, error) {
	ok, err := s.acquireLease(ctx, projectHookLeases, repositoryID, holder, ttlSeconds)
	if err != nil {
		return false, fmt.Errorf("acquire the project webhook lease of repository %s: %w", repositoryID, err)
	}
	return ok, nil
}

// ReleaseProjectHookLease deletes holder's lease row.
func (s *SQL) ReleaseProjectHookLease(ctx context.Context, repositoryID, holder string) error {
	if err := s.releaseLease(ctx, projectHookLeases, repositoryID, holder); err != nil {
		return fmt.Errorf("release the project webhook lease of repository %s: %w", repositoryID, err)
	}
	return nil
}

// SaveProjectHook stores the repository's new secret and its hook together,
// if holder still holds the lease. The check is in the same transaction as
// the writes: a holder whose lease expired mid-call (its host stalled) does
// not overwrite the secret of the registration that took over, which
// updated the same hook at the provider after it.
func (s *SQL) SaveProjectHook(ctx context.Context, repositoryID, holder, hookID, url, secret string, rotatedAt int64) (ProjectHook, error) {
	now := s.unix()
	sealed := s.kr.Seal([]byte(secret), webhookSecretAAD(repositoryID))
	var h ProjectHook
	err := s.tx(ctx, func(c q) error {
		var held int
		if err := c.row(ctx, `SELECT COUNT(*) FROM project_hook_leases WHERE repository_id = ? AND holder = ?`, repositoryID, holder).Scan(&held); err != nil {
			return fmt.Errorf("save project hook of repository %s: check the lease: %w", repositoryID, err)
		}
		if held == 0 {
			return fmt.Errorf("save project hook of repository %s: %w", repositoryID, ErrLeaseNotHeld)
		}
		res, err := c.exec(ctx, `UPDATE repositories SET webhook_secret = ?, webhook_secret_rotated_at = ?, updated_at = ? WHERE id = ?`,
			sealed, rotatedAt, now, repositoryID)
		if err != nil {
			return fmt.Errorf("save project hook of repository %s: set the webhook secret: %w", repositoryID, err)
		}
		if affected(res) == 0 {
			return fmt.Errorf("save project hook of repository %s: %w", repositoryID, ErrNotFound)
		}
		_, err = c.exec(ctx, `INSERT INTO project_hooks (`+projectHookColumns+`)
SELECT id, integration_id, provider, external_id, full_name, ?, ?, ?, ? FROM repositories WHERE id = ?
ON CONFLICT (repository_id) DO UPDATE SET integration_id = excluded.integration_id, provider = excluded.provider,
  repository_external_id = excluded.repository_external_id, repository_full_name = excluded.repository_full_name,
  hook_id = excluded.hook_id, url = excluded.url, updated_at = excluded.updated_at`,
			hookID, url, now, now, repositoryID)
		if err != nil {
			return fmt.Errorf("save project hook %s of repository %s: %w", hookID, repositoryID, err)
		}
		h, err = scanProjectHook(c.row(ctx, `SELECT `+projectHookColumns+` FROM project_hooks WHERE repository_id = ?`, repositoryID))
		if err != nil {
			return fmt.Errorf("save project hook %s of repository %s: read it back: %w", hookID, repositoryID, notFound(err))
		}
		return nil
	})
	if err != nil {
		return ProjectHook{}, err
	}
	return h, nil
}

// GetProjectHook reads a repository's hook.
func (s *SQL) GetProjectHook(ctx context.Context, repositoryID string) (ProjectHook, error) {
	h, err := scanProjectHook(s.q().row(ctx, `SELECT `+projectHookColumns+` FROM project_hooks WHERE repository_id = ?`, repositoryID))
	if err != nil {
		return ProjectHook{}, fmt.Errorf("get project hook of repository %s: %w", repositoryID, notFound(err))
	}
	return h, nil
}

// ForgetProjectHook deletes a repository's hook record.
func (s *SQL) ForgetProjectHook(ctx context.Context, repositoryID string) (bool, error) {
	res, err := s.q().exec(ctx, `DELETE FROM project_hooks WHERE repository_id = ?`, repositoryID)
	if err != nil {
		return false, fmt.Errorf("forget project hook of repository %s: %w", repositoryID, err)
	}
	return affected(res) > 0, nil
}

// IntegrationProjectHooks lists an integration's hook records.
func (s *SQL) IntegrationProjectHooks(ctx context.Context, integrationID string) ([]ProjectHook, error) {
	rows, err := s.q().query(ctx, `SELECT `+projectHookColumns+` FROM project_hooks WHERE integration_id = ?
ORDER BY created_at, repository_id`, integrationID)
	if err != nil {
		return nil, fmt.Errorf("list project hooks of integration %s: %w", integrationID, err)
	}
	defer rows.Close()
	out := []ProjectHook{}
	for rows.Next() {
		h, err := scanProjectHook(rows)
		if err != nil {
			return nil, fmt.Errorf("list project hooks of integration %s: %w", integrationID, err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list project hooks of integration %s: %w", integrationID, err)
	}
	return out, nil
}

// ForgetIntegrationProjectHooks deletes an integration's hook records.
func (s *SQL) ForgetIntegrationProjectHooks(ctx context.Context, integrationID string) (int64, error) {
	res, err := s.q().exec(ctx, `DELETE FROM project_hooks WHERE integration_id = ?`, integrationID)
	if err != nil {
		return 0, fmt.Errorf("forget project hooks of integration %s: %w", integrationID, err)
	}
	return affected(res), nil
}
