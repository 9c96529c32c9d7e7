package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

const integrationColumns = `id, provider, host_url, auth_mode, status, display_name, created_by,
  account_id, account_username, scopes, token_expires_at, reconnect_required, status_reason, last_webhook_at, created_at, updated_at`

func scanIntegration(sc interface{ Scan(...any) error }) (Integration, error) {
	var in Integration
	var scopes string
	err := sc.Scan(&in.ID, &in.Provider, &in.HostURL, &in.AuthMode, &in.Status, &in.DisplayName, &in.CreatedBy,
		&in.AccountID, &in.AccountUsername, &scopes, &in.TokenExpiresAt, &in.ReconnectRequired, &in.StatusReason, &in.LastWebhookAt,
		&in.CreatedAt, &in.UpdatedAt)
	in.Scopes = splitScopes(scopes)
	return in, err
}

func splitScopes(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}

func (s *SQL) sealCredentials(id string, c Credentials) ([]byte, error) {
	pt, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode credentials: %w", err)
	}
	return s.kr.Seal(pt, credentialsAAD(id)), nil
}

// CreateIntegration stores a new integration and its sealed credentials.
func (s *SQL) CreateIntegration(ctx context.Context, in Integration, creds Credentials) error {
	now := s.unix()
	if in.CreatedAt == 0 {
		in.CreatedAt = now
	}
	if in.UpdatedAt == 0 {
		in.UpdatedAt = in.CreatedAt
	}
	sealed, err := s.sealCredentials(in.ID, creds)
	if err != nil {
		return fmt.Errorf("create integration %s: %w", in.ID, err)
	}
	_, err = s.q().exec(ctx, `INSERT INTO integrations (id, provider, host_url, auth_mode, status, status_reason, display_name, created_by,
  account_id, account_username, scopes, credentials, credentials_version, token_expires_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)`,
		in.ID, in.Provider, in.HostURL, in.AuthMode, in.Status, in.StatusReason, in.DisplayName, in.CreatedBy,
		in.AccountID, in.AccountUsername, strings.Join(in.Scopes, " "), sealed, in.TokenExpiresAt, in.CreatedAt, in.UpdatedAt)
	if s.d.isConflict(err) {
		return fmt.Errorf("create integration %s: %w", in.ID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create integration %s: %w", in.ID, err)
	}
	return nil
}

// GetIntegration reads one integration.
func (s *SQL) GetIntegration(ctx context.Context, id string) (Integration, error) {
	in, err := scanIntegration(s.q().row(ctx, `SELECT `+integrationColumns+` FROM integrations WHERE id = ?`, id))
	if err != nil {
		return Integration{}, fmt.Errorf("get integration %s: %w", id, notFound(err))
	}
	return in, nil
}

// likePattern turns a search text into a LOWER(..) LIKE pattern with \ as escape.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(q)) + "%"
}

// ListIntegrations pages through integrations.
func (s *SQL) ListIntegrations(ctx context.Context, iq IntegrationQuery) (IntegrationPage, error) {
	var where []string
	var args []any
	if iq.Provider != "" {
		where = append(where, `provider = ?`)
		args = append(args, iq.Provider)
	}
	if iq.Q != "" {
		p := likePattern(iq.Q)
		where = append(where, `(LOWER(display_name) LIKE ? ESCAPE '\' OR LOWER(host_url) LIKE ? ESCAPE '\' OR LOWER(account_username) LIKE ? ESCAPE '\')`)
		args = append(args, p, p, p)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var page IntegrationPage
	err := s.q().row(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'active' THEN 1 ELSE 0 END), 0) FROM integrations`+cond, args...).
		Scan(&page.Total, &page.ActiveTotal)
	if err != nil {
		return IntegrationPage{}, fmt.Errorf("count integrations: %w", err)
	}
	col := map[string]string{"": "created_at", "created_at": "created_at", "updated_at": "updated_at", "display_name": "display_name", "host_url": "host_url"}[iq.Sort]
	if col == "" {
		return IntegrationPage{}, fmt.Errorf("list integrations: unknown sort %q", iq.Sort)
	}
	dir := "ASC"
	if iq.Desc {
		dir = "DESC"
	}
	rows, err := s.q().query(ctx, `SELECT `+integrationColumns+` FROM integrations`+cond+
		` ORDER BY `+col+` `+dir+`, id `+dir+` LIMIT ? OFFSET ?`, append(args, iq.Limit, iq.Offset)...)
	if err != nil {
		return IntegrationPage{}, fmt.Errorf("list integrations: %w", err)
	}
	defer rows.Close()
	page.Integrations = []Integration{}
	for rows.Next() {
		in, err := scanIntegration(rows)
		if err != nil {
			return IntegrationPage{}, fmt.Errorf("list integrations: %w", err)
		}
		page.Integrations = append(page.Integrations, in)
	}
	if err := rows.Err(); err != nil {
		return IntegrationPage{}, fmt.Errorf("list integrations: %w", err)
	}
	return page, nil
}

// IntegrationCounts counts an integration's installations and repositories.
func (s *SQL) IntegrationCounts(ctx context.Context, id string) (installations, repositories int64, err error) {
	err = s.q().row(ctx, `SELECT
  (SELECT COUNT(*) FROM installations WHERE integration_id = ?),
  (SELECT COUNT(*) FROM repositories WHERE integration_id = ?)`, id, id).Scan(&installations, &repositories)
	if err != nil {
		return 0, 0, fmt.Errorf("count installations and repositories of integration %s: %w", id, err)
	}
	return installations, repositories, nil
}

// ConnectIntegration records the account and credentials and turns the
// integration active.
func (s *SQL) ConnectIntegration(ctx context.Context, id string, c Connection) error {
	sealed, err := s.sealCredentials(id, c.Credentials)
	if err != nil {
		return fmt.Errorf("connect integration %s: %w", id, err)
	}
	res, err := s.q().exec(ctx, `UPDATE integrations SET host_url = ?, display_name = ?, account_id = ?, account_username = ?,
  scopes = ?, credentials = ?, credentials_version = credentials_version + 1, token_expires_at = ?,
  reconnect_required = FALSE, status_reason = '', status = ?, updated_at = ?
WHERE id = ?`,
		c.HostURL, c.DisplayName, c.AccountID, c.AccountUsername, strings.Join(c.Scopes, " "), sealed,
		c.Credentials.ExpiresAt, StatusActive, s.unix(), id)
	if err != nil {
		return fmt.Errorf("connect integration %s: %w", id, err)
	}
	if affected(res) == 0 {
		return fmt.Errorf("connect integration %s: %w", id, ErrNotFound)
	}
	return nil
}

// SetIntegrationStatus changes an integration's status and says why.
func (s *SQL) SetIntegrationStatus(ctx context.Context, id, status, reason string) error {
	res, err := s.q().exec(ctx, `UPDATE integrations SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?`, status, reason, s.unix(), id)
	if err != nil {
		return fmt.Errorf("set status of integration %s: %w", id, err)
	}
	if affected(res) == 0 {
		return fmt.Errorf("set status of integration %s: %w", id, ErrNotFound)
	}
	return nil
}

// SetTokenExpiresAt records when the integration's access token expires,
// as a credentials check found it.
func (s *SQL) SetTokenExpiresAt(ctx context.Context, id string, expiresAt int64) error {
	res, err := s.q().exec(ctx, `UPDATE integrations SET token_expires_at = ?, updated_at = ? WHERE id = ?`, expiresAt, s.unix(), id)
	if err != nil {
		return fmt.Errorf("set the token expiry of integration %s: %w", id, err)
	}
	if affected(res) == 0 {
		return fmt.Errorf("set the token expiry of integration %s: %w", id, ErrNotFound)
	}
	return nil
}

// LoadCredentials decrypts an integration's credentials.
func (s *SQL) LoadCredentials(ctx context.Context, id string) (Credentials, int64, error) {
	var sealed []byte
	var version int64
	err := s.q().row(ctx, `SELECT credentials, credentials_version FROM integrations WHERE id = ?`, id).Scan(&sealed, &version)
	if err != nil {
		return Credentials{}, 0, fmt.Errorf("load credentials of integration %s: %w", id, notFound(err))
	}
	if len(sealed) == 0 {
		return Credentials{}, version, nil
	}
	pt, err := s.kr.Open(sealed, credentialsAAD(id))
	if err != nil {
		return Credentials{}, 0, fmt.Errorf("load credentials of integration %s: %w", id, err)
	}
	var c Credentials
	if err := json.Unmarshal(pt, &c); err != nil {
		return Credentials{}, 0, fmt.Errorf("load credentials of integration %s: decode: %w", id, err)
	}
	return c, version, nil
}

// DeleteIntegration removes an integration and everything that belongs to it.
func (s *SQL) DeleteIntegration(ctx context.Context, id string) error {
	return s.tx(ctx, func(c q) error {
		// Lock the integration's row first (a portable SELECT ... FOR
		// UPDATE): a delivery another host is recording for it either
		// commits before this reads the builds, or finds it gone.
		res, err := c.exec(ctx, `UPDATE integrations SET updated_at = ? WHERE id = ?`, s.unix(), id)
		if err != nil {
			return fmt.Errorf("delete integration %s: %w", id, err)
		}
		if affected(res) == 0 {
			return fmt.Errorf("delete integration %s: %w", id, ErrNotFound)
		}
		var running int64
		if err := c.row(ctx, `SELECT COUNT(*) FROM build_triggers WHERE integration_id = ? AND status = ?`, id, TriggerRunning).Scan(&running); err != nil {
			return fmt.Errorf("delete integration %s: count running builds: %w", id, err)
		}
		if running > 0 {
			return fmt.Errorf("delete integration %s: %d running: %w", id, running, ErrActiveBuilds)
		}
		for _, stmt := range []string{
			`DELETE FROM refresh_locks WHERE integration_id = ?`,
			`DELETE FROM oauth_states WHERE integration_id = ?`,
			`DELETE FROM repositories WHERE integration_id = ?`,
			`DELETE FROM installations WHERE integration_id = ?`,
		} {
			if _, err := c.exec(ctx, stmt, id); err != nil {
				return fmt.Errorf("delete integration %s: %w", id, err)
			}
		}
		if _, err := c.exec(ctx, `UPDATE build_triggers SET status = ? WHERE integration_id = ? AND status = ?`, TriggerCanceled, id, TriggerQueued); err != nil {
			return fmt.Errorf("delete integration %s: cancel queued builds: %w", id, err)
		}
		res, err = c.exec(ctx, `DELETE FROM integrations WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete integration %s: %w", id, err)
		}
		if affected(res) == 0 {
			return fmt.Errorf("delete integration %s: %w", id, ErrNotFound)
		}
		return nil
	})
}
