package store

import (
	"context"
	"fmt"
)

// JobRetention is how long an expired job is kept, so that the checkout
// proxy can still tell a runner that its token expired (rather than that it
// is unknown). Creating a job drops jobs expired longer ago than this.
const JobRetention int64 = 24 * 60 * 60

// Job is a build's claim on one repository: a runner fetches the repository
// at SHA through the host's checkout proxy with the job's token until
// ExpiresAt. The store keeps the SHA-256 of the token, never the token.
type Job struct {
	ID       string
	RunnerID string
	// TokenHash is the SHA-256 of the job token.
	TokenHash []byte
	// DeliveryID is the host's id of the webhook delivery (the "id" that
	// /v1/webhook-deliveries shows, not the provider's delivery id).
	DeliveryID    string
	TriggerID     string
	IntegrationID string
	RepositoryID  string
	// Provider and RepositoryFullName are the one repository the job may
	// fetch, as the store knew it when the job was created.
	Provider           string
	RepositoryFullName string
	// RepositoryExternalID is the provider's id of the repository (filled by
	// reads from the repository's current row).
	RepositoryExternalID string
	Ref                  string
	SHA                  string
	// CreatedBy is the API token id that asked for the job.
	CreatedBy string
	ExpiresAt int64
	CreatedAt int64
}

// JobStore keeps jobs and finds the build triggers they are made for. *SQL
// is one. It is separate from Store so that stores without jobs still serve
// the rest of the API; the host finds it on its Store with a type assertion.
type JobStore interface {
	// DeliveryTriggers returns the build triggers of a delivery, oldest
	// first (none for a delivery that triggered nothing). ErrNotFound when
	// the host has no delivery with that id.
	DeliveryTriggers(ctx context.Context, deliveryID string) ([]BuildTrigger, error)
	// CreateJob stores a job for one build trigger of a delivery; the
	// repository, ref and SHA are the trigger's, read in the same
	// transaction. It returns the stored job. ErrNotFound when the trigger is
	// not one of the delivery's, or its repository or integration is gone.
	// It drops jobs that expired more than JobRetention ago.
	CreateJob(ctx context.Context, j Job) (Job, error)
	// GetJob reads one job with its repository's current external id.
	// ErrNotFound when unknown (or gone with its integration or repository).
	GetJob(ctx context.Context, id string) (Job, error)
}

var _ JobStore = (*SQL)(nil)

// DeliveryTriggers returns a delivery's build triggers.
func (s *SQL) DeliveryTriggers(ctx context.Context, deliveryID string) ([]BuildTrigger, error) {
	var n int64
	if err := s.q().row(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE id = ?`, deliveryID).Scan(&n); err != nil {
		return nil, fmt.Errorf("read delivery %s: %w", deliveryID, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("read delivery %s: %w", deliveryID, ErrNotFound)
	}
	rows, err := s.q().query(ctx, `SELECT id, delivery_id, integration_id, repository_id, kind, ref, branch, sha,
  merge_request_number, status, created_at FROM build_triggers WHERE delivery_id = ? ORDER BY created_at, id`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("read build triggers of delivery %s: %w", deliveryID, err)
	}
	defer rows.Close()
	out := []BuildTrigger{}
	for rows.Next() {
		var t BuildTrigger
		if err := rows.Scan(&t.ID, &t.DeliveryID, &t.IntegrationID, &t.RepositoryID, &t.Kind, &t.Ref, &t.Branch, &t.SHA,
			&t.MergeRequestNumber, &t.Status, &t.CreatedAt); err != nil {
			return nil, fmt.Errorf("read build triggers of delivery %s: %w", deliveryID, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read build triggers of delivery %s: %w", deliveryID, err)
	}
	return out, nil
}

// CreateJob stores a job for a build trigger of a delivery.
func (s *SQL) CreateJob(ctx context.Context, j Job) (Job, error) {
	if j.ID == "" {
		j.ID = newID()
	}
	now := s.unix()
	if j.CreatedAt == 0 {
		j.CreatedAt = now
	}
	err := s.tx(ctx, func(c q) error {
		if _, err := c.exec(ctx, `DELETE FROM jobs WHERE expires_at < ?`, now-JobRetention); err != nil {
			return fmt.Errorf("create job: drop expired jobs: %w", err)
		}
		err := c.row(ctx, `SELECT t.integration_id, t.repository_id, r.provider, r.full_name, r.external_id, t.ref, t.sha
FROM build_triggers t
JOIN repositories r ON r.id = t.repository_id AND r.integration_id = t.integration_id
JOIN integrations i ON i.id = t.integration_id
WHERE t.id = ? AND t.delivery_id = ?`, j.TriggerID, j.DeliveryID).
			Scan(&j.IntegrationID, &j.RepositoryID, &j.Provider, &j.RepositoryFullName, &j.RepositoryExternalID, &j.Ref, &j.SHA)
		if err != nil {
			return fmt.Errorf("create job for build trigger %s of delivery %s: %w", j.TriggerID, j.DeliveryID, notFound(err))
		}
		_, err = c.exec(ctx, `INSERT INTO jobs (id, runner_id, token_hash, delivery_id, trigger_id, integration_id, repository_id,
  provider, repository_full_name, ref, sha, created_by, expires_at, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			j.ID, j.RunnerID, j.TokenHash, j.DeliveryID, j.TriggerID, j.IntegrationID, j.RepositoryID,
			j.Provider, j.RepositoryFullName, j.Ref, j.SHA, j.CreatedBy, j.ExpiresAt, j.CreatedAt)
		if err != nil {
			return fmt.Errorf("create job for build trigger %s: %w", j.TriggerID, err)
		}
		return nil
	})
	if err != nil {
		return Job{}, err
	}
	return j, nil
}

// GetJob reads one job.
func (s *SQL) GetJob(ctx context.Context, id string) (Job, error) {
	var j Job
	err := s.q().row(ctx, `SELECT j.id, j.runner_id, j.token_hash, j.delivery_id, j.trigger_id, j.integration_id, j.repository_id,
  j.provider, j.repository_full_name, r.external_id, j.ref, j.sha, j.created_by, j.expires_at, j.created_at
FROM jobs j JOIN repositories r ON r.id = j.repository_id WHERE j.id = ?`, id).
		Scan(&j.ID, &j.RunnerID, &j.TokenHash, &j.DeliveryID, &j.TriggerID, &j.IntegrationID, &j.RepositoryID,
			&j.Provider, &j.RepositoryFullName, &j.RepositoryExternalID, &j.Ref, &j.SHA, &j.CreatedBy, &j.ExpiresAt, &j.CreatedAt)
	if err != nil {
		return Job{}, fmt.Errorf("get job %s: %w", id, notFound(err))
	}
	return j, nil
}
