package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// UpsertInstallation creates or updates an installation.
func (s *SQL) UpsertInstallation(ctx context.Context, in Installation) (Installation, error) {
	if in.ID == "" {
		in.ID = newID()
	}
	if in.CreatedAt == 0 {
		in.CreatedAt = s.unix()
	}
	err := s.q().row(ctx, `INSERT INTO installations (id, integration_id, external_id, account_name, account_type, created_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (integration_id, external_id) DO UPDATE SET account_name = excluded.account_name, account_type = excluded.account_type
RETURNING id, created_at`,
		in.ID, in.IntegrationID, in.ExternalID, in.AccountName, in.AccountType, in.CreatedAt).Scan(&in.ID, &in.CreatedAt)
	if err != nil {
		return Installation{}, fmt.Errorf("upsert installation %s of integration %s: %w", in.ExternalID, in.IntegrationID, err)
	}
	return in, nil
}

// ListInstallations lists an integration's installations, oldest first.
func (s *SQL) ListInstallations(ctx context.Context, integrationID string) ([]Installation, error) {
	rows, err := s.q().query(ctx, `SELECT id, integration_id, external_id, account_name, account_type, created_at
FROM installations WHERE integration_id = ? ORDER BY created_at, id`, integrationID)
	if err != nil {
		return nil, fmt.Errorf("list installations of integration %s: %w", integrationID, err)
	}
	defer rows.Close()
	out := []Installation{}
	for rows.Next() {
		var in Installation
		if err := rows.Scan(&in.ID, &in.IntegrationID, &in.ExternalID, &in.AccountName, &in.AccountType, &in.CreatedAt); err != nil {
			return nil, fmt.Errorf("list installations of integration %s: %w", integrationID, err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list installations of integration %s: %w", integrationID, err)
	}
	return out, nil
}

// BeginRepositorySync starts a sync and returns its generation.
func (s *SQL) BeginRepositorySync(ctx context.Context, integrationID string) (int64, error) {
	var gen int64
	err := s.q().row(ctx, `UPDATE integrations SET sync_generation = sync_generation + 1 WHERE id = ? RETURNING sync_generation`, integrationID).Scan(&gen)
	if err != nil {
		return 0, fmt.Errorf("begin repository sync of integration %s: %w", integrationID, notFound(err))
	}
	return gen, nil
}

// UpsertRepositories writes one batch of a sync.
func (s *SQL) UpsertRepositories(ctx context.Context, integrationID, installationID string, generation int64, repos []Repository) error {
	if len(repos) == 0 {
		return nil
	}
	now := s.unix()
	return s.tx(ctx, func(c q) error {
		var provider string
		if err := c.row(ctx, `SELECT provider FROM integrations WHERE id = ?`, integrationID).Scan(&provider); err != nil {
			return fmt.Errorf("upsert repositories of integration %s: %w", integrationID, notFound(err))
		}
		// Upsert in one order (by external id), so two hosts syncing the
		// same integration at once lock rows in the same order and never
		// deadlock (PostgreSQL row locks; SQLite serialises writers anyway).
		sorted := slices.Clone(repos)
		slices.SortFunc(sorted, func(a, b Repository) int { return strings.Compare(a.ExternalID, b.ExternalID) })
		for _, r := range sorted {
			_, err := c.exec(ctx, `INSERT INTO repositories (id, integration_id, installation_id, provider, external_id, full_name, name,
  namespace, default_branch, is_private, visibility, clone_url, web_url, avatar_url, archived, last_activity_at,
  sync_generation, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (integration_id, external_id) DO UPDATE SET installation_id = excluded.installation_id,
  full_name = excluded.full_name, name = excluded.name, namespace = excluded.namespace,
  default_branch = excluded.default_branch, is_private = excluded.is_private, visibility = excluded.visibility,
  clone_url = excluded.clone_url, web_url = excluded.web_url, avatar_url = excluded.avatar_url,
  archived = excluded.archived, last_activity_at = excluded.last_activity_at,
  sync_generation = CASE WHEN repositories.sync_generation > excluded.sync_generation
    THEN repositories.sync_generation ELSE excluded.sync_generation END,
  updated_at = excluded.updated_at`,
				newID(), integrationID, installationID, provider, r.ExternalID, r.FullName, r.Name,
				r.Namespace, r.DefaultBranch, r.Private, r.Visibility, r.CloneURL, r.WebURL, r.AvatarURL, r.Archived, r.LastActivityAt,
				generation, now, now)
			if err != nil {
				return fmt.Errorf("upsert repository %s of integration %s: %w", r.ExternalID, integrationID, err)
			}
		}
		return nil
	})
}

// FinishRepositorySync removes repositories the sync did not see.
func (s *SQL) FinishRepositorySync(ctx context.Context, integrationID string, generation int64) (int64, error) {
	res, err := s.q().exec(ctx, `DELETE FROM repositories WHERE integration_id = ? AND sync_generation < ?`, integrationID, generation)
	if err != nil {
		return 0, fmt.Errorf("finish repository sync of integration %s: %w", integrationID, err)
	}
	return affected(res), nil
}

const repositoryColumns = `r.id, r.integration_id, r.installation_id, r.provider, i.host_url, r.external_id, r.full_name, r.name,
  r.namespace, r.default_branch, r.is_private, r.visibility, r.clone_url, r.web_url, r.avatar_url, r.archived,
  r.last_activity_at, r.webhook_secret IS NOT NULL, r.webhook_secret_rotated_at, r.created_at, r.updated_at`

func scanRepository(sc interface{ Scan(...any) error }, extra ...any) (Repository, error) {
	var r Repository
	dest := []any{&r.ID, &r.IntegrationID, &r.InstallationID, &r.Provider, &r.HostURL, &r.ExternalID, &r.FullName, &r.Name,
		&r.Namespace, &r.DefaultBranch, &r.Private, &r.Visibility, &r.CloneURL, &r.WebURL, &r.AvatarURL, &r.Archived,
		&r.LastActivityAt, &r.HasWebhookSecret, &r.WebhookSecretRotatedAt, &r.CreatedAt, &r.UpdatedAt}
	err := sc.Scan(append(dest, extra...)...)
	return r, err
}

// ListRepositories pages through repositories by full name.
func (s *SQL) ListRepositories(ctx context.Context, rq RepositoryQuery) ([]Repository, int64, error) {
	var where []string
	var args []any
	if rq.IntegrationID != "" {
		where = append(where, `r.integration_id = ?`)
		args = append(args, rq.IntegrationID)
	}
	if rq.Q != "" {
		where = append(where, `LOWER(r.full_name) LIKE ? ESCAPE '\'`)
		args = append(args, likePattern(rq.Q))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int64
	if err := s.q().row(ctx, `SELECT COUNT(*) FROM repositories r`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count repositories: %w", err)
	}
	rows, err := s.q().query(ctx, `SELECT `+repositoryColumns+` FROM repositories r JOIN integrations i ON i.id = r.integration_id`+
		cond+` ORDER BY r.full_name, r.id LIMIT ? OFFSET ?`, append(args, rq.Limit, rq.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list repositories: %w", err)
	}
	defer rows.Close()
	out := []Repository{}
	for rows.Next() {
		r, err := scanRepository(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list repositories: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list repositories: %w", err)
	}
	return out, total, nil
}

// GetRepository reads one repository.
func (s *SQL) GetRepository(ctx context.Context, id string) (Repository, error) {
	r, err := scanRepository(s.q().row(ctx, `SELECT `+repositoryColumns+` FROM repositories r JOIN integrations i ON i.id = r.integration_id WHERE r.id = ?`, id))
	if err != nil {
		return Repository{}, fmt.Errorf("get repository %s: %w", id, notFound(err))
	}
	return r, nil
}

// SetWebhookSecret stores a repository's new webhook secret, sealed.
func (s *SQL) SetWebhookSecret(ctx context.Context, repositoryID, secret string, rotatedAt int64) error {
	sealed := s.kr.Seal([]byte(secret), webhookSecretAAD(repositoryID))
	res, err := s.q().exec(ctx, `UPDATE repositories SET webhook_secret = ?, webhook_secret_rotated_at = ?, updated_at = ? WHERE id = ?`,
		sealed, rotatedAt, s.unix(), repositoryID)
	if err != nil {
		return fmt.Errorf("set webhook secret of repository %s: %w", repositoryID, err)
	}
	if affected(res) == 0 {
		return fmt.Errorf("set webhook secret of repository %s: %w", repositoryID, ErrNotFound)
	}
	return nil
}

// WebhookTargets finds the repositories with that external id that have a secret.
func (s *SQL) WebhookTargets(ctx context.Context, provider, externalID string) ([]WebhookTarget, error) {
	rows, err := s.q().query(ctx, `SELECT `+repositoryColumns+`, r.webhook_secret, `+prefixed("i.", integrationColumns)+`
FROM repositories r JOIN integrations i ON i.id = r.integration_id
WHERE r.provider = ? AND r.external_id = ? AND r.webhook_secret IS NOT NULL
ORDER BY r.created_at, r.id`, provider, externalID)
	if err != nil {
		return nil, fmt.Errorf("find webhook targets for %s repository %s: %w", provider, externalID, err)
	}
	defer rows.Close()
	var out []WebhookTarget
	for rows.Next() {
		var sealed []byte
		var in Integration
		var scopes string
		r, err := scanRepository(rows, &sealed, &in.ID, &in.Provider, &in.HostURL, &in.AuthMode, &in.Status, &in.DisplayName, &in.CreatedBy,
			&in.AccountID, &in.AccountUsername, &scopes, &in.TokenExpiresAt, &in.ReconnectRequired, &in.StatusReason, &in.LastWebhookAt,
			&in.CreatedAt, &in.UpdatedAt)
		if err != nil {
			return nil, fmt.Errorf("find webhook targets for %s repository %s: %w", provider, externalID, err)
		}
		in.Scopes = splitScopes(scopes)
		secret, err := s.kr.Open(sealed, webhookSecretAAD(r.ID))
		if err != nil {
			return nil, fmt.Errorf("open webhook secret of repository %s: %w", r.ID, err)
		}
		out = append(out, WebhookTarget{Repository: r, Integration: in, Secret: string(secret)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find webhook targets for %s repository %s: %w", provider, externalID, err)
	}
	return out, nil
}

// prefixed qualifies a comma-separated column list with a table alias.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
