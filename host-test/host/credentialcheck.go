package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// The periodic credentials check. A personal token revoked at GitLab, one
// that lost a scope, or one about to expire shows nowhere until a build or
// a sync fails with it. Once per Config.CredentialCheckInterval the host
// checks every connected integration exactly as the manual check
// (POST .../{provider}-token/check) does, with the same function
// (checkAndRecordCredentials), so the integration's status, status_reason
// and token_expires_at say what the plugin found. OAuth integrations are
// checked too, through the credential source like every call (refreshed
// first when due); those marked reconnect_required are skipped: nothing
// but a new authorization changes them.
//
// Every host sharing the database runs the loop, and one round runs between
// them: a round takes the "credential-check" lease (store.HostTaskStore,
// the lease SQL of refresh locks and project-hook leases), renews it while
// it runs, and records when it ran; a host runs a round only when
// now - last run >= interval, read again once it holds the lease, so
// neither a second host nor a restarted one runs it early.
//
// A round checks one integration at a time, each bounded by
// credentialCheckTimeout, and stops when the host closes or loses the
// lease. A provider that does not answer (UNKNOWN, or a failed call) leaves
// the integration's health as it was: it says nothing about the token.

const (
	// credentialCheckTask names the round's lease and last-run record.
	credentialCheckTask = "credential-check"
	// credentialCheckLease is how long the round's lease lasts without
	// renewal: how long a host that died mid-round delays the next round.
	credentialCheckLease = 2 * time.Minute
	// credentialCheckLeaseRenew is how often the round extends its lease
	// (a third of it: two renewals may fail in a row).
	credentialCheckLeaseRenew = credentialCheckLease / 3
	// credentialCheckTimeout bounds one integration's check (a refresh and
	// the plugin's call, with its retries).
	credentialCheckTimeout = time.Minute
	// credentialCheckPollMax bounds how long the loop sleeps between looks
	// at whether a round is due (another host may have run one, or the
	// interval passed while this one slept).
	credentialCheckPollMax = 10 * time.Minute
	// credentialCheckPageSize is how many integrations a round reads at once.
	credentialCheckPageSize = 200
)

// DefaultCredentialCheckInterval is oore-host serve's
// --credential-check-interval.
const DefaultCredentialCheckInterval = 24 * time.Hour

// credentialCheckRound is what one round did.
type credentialCheckRound struct {
	// ran: this host ran the round (it was due and the lease was free).
	ran bool
	// checked, changed and failed count integrations: connected ones the
	// round asked the plugin about, those whose stored health changed, and
	// those whose check got no answer (health left as it was).
	checked, changed, failed int
}

// startBackground starts the host's periodic tasks; Close stops them.
func (h *Host) startBackground() {
	h.bgCtx, h.bgStop = context.WithCancel(context.Background())
	if h.cfg.CredentialCheckInterval <= 0 {
		return
	}
	if _, ok := h.store.(store.HostTaskStore); !ok {
		h.log.Warn("the store keeps no host task leases; the periodic credentials check is off")
		return
	}
	h.bg.Go(h.credentialCheckLoop)
}

// stopBackground stops the periodic tasks and waits for them: a round in
// progress ends at its next integration (its plugin call is canceled).
func (h *Host) stopBackground() {
	h.bgStop()
	h.bg.Wait()
}

// credentialCheckLoop runs a round whenever one is due, until Close.
func (h *Host) credentialCheckLoop() {
	poll := min(h.cfg.CredentialCheckInterval, credentialCheckPollMax)
	for {
		if _, err := h.runCredentialCheck(h.bgCtx); err != nil && h.bgCtx.Err() == nil {
			h.log.Warn("credentials check round failed; trying again later", "retry_in", poll, "error", err)
		}
		t := time.NewTimer(poll)
		select {
		case <-h.bgCtx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// runCredentialCheck runs one round of the credentials check if it is due
// (by the host's clock) and no other host is running one. It returns when
// the round is done, ctx ends or the host closes.
func (h *Host) runCredentialCheck(ctx context.Context) (credentialCheckRound, error) {
	var out credentialCheckRound
	interval := h.cfg.CredentialCheckInterval
	ts, ok := h.store.(store.HostTaskStore)
	if interval <= 0 || !ok {
		return out, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(h.bgCtx, cancel)() // Close ends the round
	due := func() (bool, error) {
		last, err := ts.HostTaskLastRun(ctx, credentialCheckTask)
		return h.now().Unix()-last >= int64(interval/time.Second), err
	}
	// Look before taking the lease: a round that is not due writes nothing.
	if ok, err := due(); err != nil || !ok {
		return out, err
	}
	holder := secrets.RandomToken("credcheck-", 12)
	ttl := int64(credentialCheckLease / time.Second)
	got, err := ts.AcquireHostTaskLease(ctx, credentialCheckTask, holder, ttl)
	if err != nil || !got {
		return out, err // another host runs the round
	}
	lost := make(chan struct{})
	var renewals sync.WaitGroup
	renewals.Go(func() { h.renewCredentialCheckLease(ctx, ts, holder, ttl, lost, cancel) })
	defer func() {
		cancel()
		renewals.Wait()
		if err := ts.ReleaseHostTaskLease(context.WithoutCancel(ctx), credentialCheckTask, holder); err != nil {
			h.log.Warn("credentials check lease not released; it expires on its own", "expires_in", credentialCheckLease, "error", err)
		}
	}()
	// Another host may have finished a round between the look and the lease.
	if ok, err := due(); err != nil || !ok {
		return out, err
	}
	out.ran = true
	start := time.Now()
	startedAt := h.now().Unix()
	err = h.credentialCheckAll(ctx, &out)
	select {
	case <-lost:
		err = errors.New("the credentials check lease was lost (this host stalled past it); the host that took it runs the round")
	default:
	}
	if err == nil {
		err = ts.RecordHostTaskRun(ctx, credentialCheckTask, holder, startedAt)
	}
	msg := "credentials check round done"
	if err != nil {
		msg = "credentials check round stopped"
	}
	h.log.Info(msg, "checked", out.checked, "changed", out.changed, "failed", out.failed, "duration", time.Since(start).Round(time.Millisecond))
	return out, err
}

// renewCredentialCheckLease extends the round's lease until ctx ends; when
// another host has taken it, it closes lost and cancels the round.
func (h *Host) renewCredentialCheckLease(ctx context.Context, ts store.HostTaskStore, holder string, ttl int64, lost chan<- struct{}, cancel func()) {
	tick := time.NewTicker(credentialCheckLeaseRenew)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ok, err := ts.AcquireHostTaskLease(ctx, credentialCheckTask, holder, ttl)
		switch {
		case err != nil && ctx.Err() == nil:
			h.log.Warn("credentials check lease not renewed; retrying", "error", err)
		case err == nil && !ok:
			close(lost)
			cancel()
			return
		}
	}
}

// credentialCheckAll checks every connected integration, one at a time.
func (h *Host) credentialCheckAll(ctx context.Context, out *credentialCheckRound) error {
	var ids []string
	for offset := int64(0); ; offset += credentialCheckPageSize {
		page, err := h.store.ListIntegrations(ctx, store.IntegrationQuery{Sort: "created_at", Limit: credentialCheckPageSize, Offset: offset})
		if err != nil {
			return err
		}
		for _, in := range page.Integrations {
			ids = append(ids, in.ID)
		}
		if int64(len(page.Integrations)) < credentialCheckPageSize {
			break
		}
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		h.credentialCheckOne(ctx, id, out)
	}
	return ctx.Err()
}

// credentialCheckOne checks one integration, read afresh (a manual check,
// a token replacement or a deletion may have happened since the list).
func (h *Host) credentialCheckOne(ctx context.Context, id string, out *credentialCheckRound) {
	ctx, cancel := context.WithTimeout(ctx, credentialCheckTimeout)
	defer cancel()
	in, err := h.store.GetIntegration(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return
	}
	if err != nil {
		out.failed++
		h.log.Warn("credentials check: integration not read", "integration_id", id, "error", err)
		return
	}
	if in.ReconnectRequired || in.AccountID == "" || authMode(in) == scmv1.AuthMode_AUTH_MODE_UNSPECIFIED {
		return // not connected: nothing to check until it is (again)
	}
	pr, aerr := h.provider(in.Provider)
	if aerr != nil {
		out.failed++
		h.log.Warn("credentials check: no plugin serves the integration's provider", "integration_id", id, "provider", in.Provider)
		return
	}
	out.checked++
	c, err := h.checkAndRecordCredentials(ctx, pr, in)
	if err != nil {
		if ctx.Err() != nil && h.bgCtx.Err() != nil {
			return // the host is closing: not the integration's failure
		}
		out.failed++
		// The credential source may have found the OAuth grant gone and
		// marked the integration for reconnection: that is a change of health.
		if now, gerr := h.store.GetIntegration(context.WithoutCancel(ctx), id); gerr == nil && now.ReconnectRequired {
			out.changed++
			h.log.Info("integration credentials changed", "integration_id", id, "provider", in.Provider,
				"status", now.Status, "was", in.Status, "reconnect_required", true, "reason", now.StatusReason)
			return
		}
		h.log.Warn("credentials check failed; the integration's health is left as it was", "integration_id", id, "provider", in.Provider,
			"error", err)
		return
	}
	if c.resp.GetStatus() == scmv1.CredentialStatus_CREDENTIAL_STATUS_UNKNOWN {
		out.failed++
		h.log.Warn(fmt.Sprintf("%s did not answer the credentials check; the integration's health is left as it was", in.Provider),
			"integration_id", id, "detail", c.resp.GetDetail())
		return
	}
	if c.changed {
		out.changed++
		h.log.Info("integration credentials changed", "integration_id", id, "provider", in.Provider,
			"credential_status", credentialStatusName(c.resp.GetStatus()), "status", c.status, "was", in.Status,
			"reason", c.reason, "token_expires_at", c.tokenExpiresAt, "was_token_expires_at", in.TokenExpiresAt)
	}
}
