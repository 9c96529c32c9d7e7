package store

import (
	"context"
	"fmt"
)

// RecordAudit appends an audit event.
func (s *SQL) RecordAudit(ctx context.Context, e AuditEvent) error {
	if e.ID == "" {
		e.ID = newID()
	}
	if e.At == 0 {
		e.At = s.unix()
	}
	_, err := s.q().exec(ctx, `INSERT INTO audit_events (id, at, actor, action, integration_id, detail) VALUES (?, ?, ?, ?, ?, ?)`,
		e.ID, e.At, e.Actor, e.Action, e.IntegrationID, e.Detail)
	if err != nil {
		return fmt.Errorf("record audit event %s: %w", e.Action, err)
	}
	return nil
}
