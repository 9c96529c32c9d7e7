package host

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// Registering or removing a repository's project webhook is a
// read-call-write: read the hook registered before, ask the plugin to
// create or update it (a provider round trip or several), store the hook id
// and the secret. Two of them for one repository at once (two admins, a
// double click, two hosts behind a load balancer) would both read "no
// hook", both create one at the provider, and the database would keep one
// secret: the other hook's deliveries refused for ever.
//
// They are serialized by a lease row per repository in the database
// (store.ProjectHookStore's lease), not by a mutex (hosts share only the
// database) nor by a transaction held across the plugin call (it would hold
// SQLite's single writer for as long as the provider takes, stalling every
// webhook intake). The holder renews its short lease while its call runs,
// so a slow provider keeps it and a host that died frees it within
// projectHookLease; a waiter polls, bounded by projectHookLeaseWait, and
// then sees the hook the first one made and updates it in place. The save
// checks the lease in its transaction, so a holder that lost its lease (its
// host stalled past it) cannot overwrite the secret of the one that took
// over.

const (
	// projectHookLease is how long a lease lasts without renewal: how long
	// a host that died mid-call blocks the repository's registrations.
	projectHookLease = 30 * time.Second
	// projectHookLeaseRenew is how often the holder extends its lease while
	// the plugin call runs (a third of it: two renewals may fail in a row).
	projectHookLeaseRenew = projectHookLease / 3
	// projectHookLeaseWait bounds the wait for another registration of the
	// same repository: as long as one plugin call may take.
	projectHookLeaseWait = pluginCallTimeout
	// projectHookLeasePollMin and projectHookLeasePollMax bound the wait
	// between attempts to take a held lease.
	projectHookLeasePollMin = 5 * time.Millisecond
	projectHookLeasePollMax = 200 * time.Millisecond
)

// codeProjectWebhookBusy answers a registration or removal that could not
// take (or lost) the repository's lease (added by the reference host).
const codeProjectWebhookBusy = "project_webhook_busy"

// projectWebhookBusyError is the answer when another registration or
// removal of the repository's webhook kept the lease too long.
func projectWebhookBusyError(repositoryID string) *apiError {
	e := newError(http.StatusConflict, codeProjectWebhookBusy,
		fmt.Sprintf("another registration or removal of the webhook of repository %s is still running (on this host or another one sharing its database); try again in a minute", repositoryID))
	e.RetryAfter = projectHookLease
	return e
}

// withProjectHookLease runs fn while holding the repository's project
// webhook lease: it waits (up to projectHookLeaseWait, or until ctx ends)
// while another holder has it, renews it while fn runs, and releases it
// after. fn gets the holder, which SaveProjectHook checks.
func (h *Host) withProjectHookLease(ctx context.Context, ps store.ProjectHookStore, repositoryID string, fn func(holder string) error) error {
	holder := secrets.RandomToken("hooklease-", 12)
	ttl := int64(projectHookLease / time.Second)
	deadline := time.NewTimer(projectHookLeaseWait)
	defer deadline.Stop()
	wait := projectHookLeasePollMin
	for waited := false; ; waited = true {
		ok, err := ps.AcquireProjectHookLease(ctx, repositoryID, holder, ttl)
		if err != nil {
			return internalError("take the repository's webhook lease", err)
		}
		if ok {
			if waited {
				h.log.Debug("waited for another registration of the repository's webhook", "repository_id", repositoryID)
			}
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for the webhook lease of repository %s: %w", repositoryID, ctx.Err())
		case <-deadline.C:
			t.Stop()
			h.log.Warn("repository's webhook lease still held by another registration; gave up waiting", "repository_id", repositoryID,
				"waited", projectHookLeaseWait)
			return projectWebhookBusyError(repositoryID)
		case <-t.C:
		}
		wait = min(wait*2, projectHookLeasePollMax)
	}

	// Renew until fn returns; stop the renewals before releasing, or a late
	// renewal would take the lease again after the release.
	stop := make(chan struct{})
	var renewals sync.WaitGroup
	renewals.Go(func() {
		tick := time.NewTicker(projectHookLeaseRenew)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			ok, err := ps.AcquireProjectHookLease(context.WithoutCancel(ctx), repositoryID, holder, ttl)
			switch {
			case err != nil:
				h.log.Warn("repository's webhook lease not renewed; retrying", "repository_id", repositoryID, "error", err)
			case !ok:
				h.log.Warn("repository's webhook lease expired and was taken by another registration; this one will not store its secret",
					"repository_id", repositoryID)
				return
			}
		}
	})
	defer func() {
		close(stop)
		renewals.Wait()
		// Release even when ctx ended: the lease must not outlive fn needlessly.
		if err := ps.ReleaseProjectHookLease(context.WithoutCancel(ctx), repositoryID, holder); err != nil {
			h.log.Warn("repository's webhook lease not released; it expires on its own", "repository_id", repositoryID,
				"expires_in", projectHookLease, "error", err)
		}
	}()
	err := fn(holder)
	if errors.Is(err, store.ErrLeaseNotHeld) {
		h.log.Warn("repository's webhook lease was lost during the provider call; the registration that took it stored its secret",
			"repository_id", repositoryID)
		return projectWebhookBusyError(repositoryID)
	}
	return err
}
