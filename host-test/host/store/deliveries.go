package store

import (
	"context"
	"fmt"
	"strings"
)

// LastWebhookStaleness bounds how far an integration's last_webhook_at may
// lag its newest delivery, in seconds. RecordDelivery moves last_webhook_at
// only when a delivery arrives at least this long after it, so a delivery
// writes the integrations row once in this many seconds per integration, not
// every time: deliveries of one integration recorded at the same time by
// one host or several then do not queue behind each other on that row (see
// RecordDelivery). Ten seconds is well below the minute the UI shows the
// time in, and at the rates where deliveries of one integration overlap
// (hundreds a second) only one in a few thousand writes the row. That one
// still takes the row's write lock, as every delivery did before: the
// deliveries that arrive while it commits wait for it, once in ten seconds.
const LastWebhookStaleness = 10

// RecordDelivery stores a delivery and its triggers unless it is a duplicate.
//
// The integration must exist until the delivery commits: a delivery for an
// integration deleted before or while it is recorded stores nothing and
// fails with ErrNotFound. DeleteIntegration's first statement write-locks the
// integration's row; the delivery's last statement locks it too, so whichever
// comes second waits for the other to commit: the delete then sees (and
// cancels) the delivery's builds, or the delivery finds the row gone. The
// delivery's lock is the write of last_webhook_at when that is
// LastWebhookStaleness old, and otherwise a shared one (SELECT ... FOR SHARE
// on PostgreSQL), which other deliveries' shared locks do not wait for. Not
// FOR KEY SHARE (what a foreign key check takes): DeleteIntegration's lock is
// an UPDATE of a column no key holds, FOR NO KEY UPDATE, which FOR KEY SHARE
// does not conflict with. On SQLite every write transaction holds the
// database's write lock from its start, so a plain read is enough there.
//
// Each transaction takes that one row lock, last: a delivery holding it
// waits for nothing else, so deliveries cannot deadlock on it.
func (s *SQL) RecordDelivery(ctx context.Context, d Delivery, triggers []BuildTrigger) (bool, error) {
	if d.ID == "" {
		d.ID = newID()
	}
	if d.ReceivedAt == 0 {
		d.ReceivedAt = s.unix()
	}
	d.Triggered = len(triggers) > 0
	duplicate := false
	err := s.tx(ctx, func(c q) error {
		res, err := c.exec(ctx, `INSERT INTO webhook_deliveries (id, provider, delivery_id, integration_id, repository_id,
  repository_full_name, event_kind, event_name, triggered, ignored_reason, events, received_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (integration_id, delivery_id) DO NOTHING`,
			d.ID, d.Provider, d.DeliveryID, d.IntegrationID, d.RepositoryID, d.RepositoryFullName, d.EventKind, d.EventName,
			d.Triggered, d.IgnoredReason, d.Events, d.ReceivedAt)
		if err != nil {
			return fmt.Errorf("record delivery %s: %w", d.DeliveryID, err)
		}
		if affected(res) == 0 {
			duplicate = true
			return nil
		}
		for _, t := range triggers {
			if t.ID == "" {
				t.ID = newID()
			}
			if t.Status == "" {
				t.Status = TriggerQueued
			}
			_, err := c.exec(ctx, `INSERT INTO build_triggers (id, delivery_id, integration_id, repository_id, kind, ref, branch, sha,
  merge_request_number, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				t.ID, d.ID, d.IntegrationID, d.RepositoryID, t.Kind, t.Ref, t.Branch, t.SHA, t.MergeRequestNumber, t.Status, d.ReceivedAt)
			if err != nil {
				return fmt.Errorf("record build trigger of delivery %s: %w", d.DeliveryID, err)
			}
		}
		// An UPDATE locks only the rows its WHERE clause selects: when
		// last_webhook_at is recent, this one locks nothing and waits for
		// nobody.
		res, err = c.exec(ctx, `UPDATE integrations SET last_webhook_at = ? WHERE id = ? AND last_webhook_at <= ?`,
			d.ReceivedAt, d.IntegrationID, d.ReceivedAt-LastWebhookStaleness)
		if err != nil {
			return fmt.Errorf("record delivery %s: %w", d.DeliveryID, err)
		}
		if affected(res) == 1 {
			return nil
		}
		var one int
		err = c.row(ctx, `SELECT 1 FROM integrations WHERE id = ?`+s.forShare(), d.IntegrationID).Scan(&one)
		if err != nil { // sql.ErrNoRows: deleted meanwhile: store nothing
			return fmt.Errorf("record delivery %s: integration %s: %w", d.DeliveryID, d.IntegrationID, notFound(err))
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return duplicate, nil
}

// forShare is the clause that makes a SELECT take a shared lock on the rows
// it reads (PostgreSQL's FOR SHARE: it conflicts with an UPDATE or DELETE of
// the row, not with another FOR SHARE); empty on SQLite, whose write
// transactions exclude each other whole.
func (s *SQL) forShare() string {
	if s.d.name == postgresDialect.name {
		return " FOR SHARE"
	}
	return ""
}

// ListDeliveries pages through deliveries, newest first, with their triggers.
func (s *SQL) ListDeliveries(ctx context.Context, dq DeliveryQuery) ([]Delivery, int64, error) {
	cond, args := "", []any{}
	if dq.IntegrationID != "" {
		cond, args = " WHERE integration_id = ?", append(args, dq.IntegrationID)
	}
	var total int64
	if err := s.q().row(ctx, `SELECT COUNT(*) FROM webhook_deliveries`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count deliveries: %w", err)
	}
	rows, err := s.q().query(ctx, `SELECT id, provider, delivery_id, integration_id, repository_id, repository_full_name,
  event_kind, event_name, triggered, ignored_reason, events, received_at
FROM webhook_deliveries`+cond+` ORDER BY received_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, dq.Limit, dq.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list deliveries: %w", err)
	}
	out := []Delivery{}
	index := map[string]int{}
	for rows.Next() {
		var d Delivery
		if err := rows.Scan(&d.ID, &d.Provider, &d.DeliveryID, &d.IntegrationID, &d.RepositoryID, &d.RepositoryFullName,
			&d.EventKind, &d.EventName, &d.Triggered, &d.IgnoredReason, &d.Events, &d.ReceivedAt); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("list deliveries: %w", err)
		}
		d.Triggers = []BuildTrigger{}
		index[d.ID] = len(out)
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list deliveries: %w", err)
	}
	if len(out) == 0 {
		return out, total, nil
	}
	ids := make([]any, 0, len(out))
	for _, d := range out {
		ids = append(ids, d.ID)
	}
	trows, err := s.q().query(ctx, `SELECT id, delivery_id, integration_id, repository_id, kind, ref, branch, sha,
  merge_request_number, status, created_at FROM build_triggers
WHERE delivery_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY id`, ids...)
	if err != nil {
		return nil, 0, fmt.Errorf("list build triggers: %w", err)
	}
	defer trows.Close()
	for trows.Next() {
		var t BuildTrigger
		if err := trows.Scan(&t.ID, &t.DeliveryID, &t.IntegrationID, &t.RepositoryID, &t.Kind, &t.Ref, &t.Branch, &t.SHA,
			&t.MergeRequestNumber, &t.Status, &t.CreatedAt); err != nil {
			return nil, 0, fmt.Errorf("list build triggers: %w", err)
		}
		i := index[t.DeliveryID]
		out[i].Triggers = append(out[i].Triggers, t)
	}
	if err := trows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list build triggers: %w", err)
	}
	return out, total, nil
}

// CountDeliveries counts stored deliveries.
func (s *SQL) CountDeliveries(ctx context.Context) (int64, error) {
	var n int64
	if err := s.q().row(ctx, `SELECT COUNT(*) FROM webhook_deliveries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count deliveries: %w", err)
	}
	return n, nil
}

// SetBuildTriggerStatus changes a trigger's status.
func (s *SQL) SetBuildTriggerStatus(ctx context.Context, id, status string) error {
	res, err := s.q().exec(ctx, `UPDATE build_triggers SET status = ? WHERE id = ?`, status, id)
	if err != nil {
		return fmt.Errorf("set status of build trigger %s: %w", id, err)
	}
	if affected(res) == 0 {
		return fmt.Errorf("set status of build trigger %s: %w", id, ErrNotFound)
	}
	return nil
}
