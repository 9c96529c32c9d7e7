package host

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// syncBatch is how many repositories are written per transaction.
const syncBatch = 500

// syncResult says what a repository sync did.
type syncResult struct {
	seen, removed int64
	// hooks is what became of the project webhooks of dropped repositories
	// (nil when there were none).
	hooks *droppedHooksRemoval
}

// syncInstallationsResponse answers POST /v1/integrations/{id}/installations:
// Oore's SyncInstallationsResponse plus, when the sync found project webhooks
// of repositories it (or an earlier sync) dropped, what it did with them
// (added by the reference host, as the integration delete adds
// project_webhooks; the contract's schema allows more properties).
type syncInstallationsResponse struct {
	installationsResponse
	ProjectWebhooks *droppedHooksRemoval `json:"project_webhooks,omitempty"`
}

// syncRepositories makes the integration's single installation (the account
// it acts as) and streams the plugin's ListRepositories into the store in
// batches; repositories the account no longer sees are removed at the end,
// only when the whole stream was read.
func (h *Host) syncRepositories(ctx context.Context, pr *provider, in store.Integration) (store.Installation, syncResult, error) {
	inst, err := h.store.UpsertInstallation(ctx, store.Installation{
		IntegrationID: in.ID, ExternalID: in.AccountID, AccountName: in.AccountUsername, AccountType: "user",
	})
	if err != nil {
		return store.Installation{}, syncResult{}, internalError("record the installation", err)
	}
	gen, err := h.store.BeginRepositorySync(ctx, in.ID)
	if err != nil {
		return inst, syncResult{}, internalError("start the repository sync", err)
	}
	seen, err := withConnection(ctx, h, pr, in, "ListRepositories", func(ctx context.Context, c scmv1.ProviderServiceClient, conn *scmv1.Connection) (int64, error) {
		stream, err := c.ListRepositories(ctx, &scmv1.ListRepositoriesRequest{Connection: conn})
		if err != nil {
			return 0, err
		}
		var n int64
		batch := make([]store.Repository, 0, syncBatch)
		flush := func() error {
			if err := h.store.UpsertRepositories(ctx, in.ID, inst.ID, gen, batch); err != nil {
				return fmt.Errorf("store repositories of integration %s: %w", in.ID, err)
			}
			n += int64(len(batch))
			batch = batch[:0]
			return nil
		}
		for {
			msg, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return n, err
			}
			for _, r := range msg.GetRepositories() {
				batch = append(batch, repositoryFromProto(r))
				if len(batch) == syncBatch {
					if err := flush(); err != nil {
						return n, err
					}
				}
			}
		}
		return n, flush()
	})
	if err != nil {
		return inst, syncResult{seen: seen}, err
	}
	removed, err := h.store.FinishRepositorySync(ctx, in.ID, gen)
	if err != nil {
		return inst, syncResult{seen: seen}, internalError("finish the repository sync", err)
	}
	h.log.Info("repositories synced", "integration_id", in.ID, "provider", pr.name, "seen", seen, "removed", removed)
	hooks := h.removeDroppedProjectHooks(ctx, pr, in)
	return inst, syncResult{seen: seen, removed: removed, hooks: hooks}, nil
}

func repositoryFromProto(r *scmv1.Repository) store.Repository {
	return store.Repository{
		ExternalID: r.GetExternalId(), FullName: r.GetFullName(), Name: r.GetName(), Namespace: r.GetNamespace(),
		DefaultBranch: r.GetDefaultBranch(), Private: r.GetPrivate(), Visibility: r.GetVisibility(),
		CloneURL: r.GetCloneUrl(), WebURL: r.GetWebUrl(), AvatarURL: r.GetAvatarUrl(), Archived: r.GetArchived(),
		LastActivityAt: r.GetLastActivityAt(),
	}
}

// Project webhooks of dropped repositories. When a sync no longer sees a
// repository (the project was deleted or transferred, the account lost
// access or its role, the project was archived), FinishRepositorySync
// deletes its row, and with it its webhook secret: a hook the host
// registered in that project would go on delivering pushes the host refuses
// (401, no repository) until GitLab disables it. So after each complete sync
// the host removes, best effort, the hooks of repositories that are gone.
//
// What remembers a hook still to remove is its project_hooks record, which
// already outlives its repository (no foreign key: it keeps the project's
// external id and the hook id, all the removal needs). A record whose
// repository row is gone is "a hook to remove"; it is forgotten once the
// hook is removed or cannot ever be, and kept after a transient failure, so
// the next sync tries again. The other way, keeping the repository row
// marked removed until its hook is gone, was not taken: every reader of
// repositories (lists, counts, checkouts, statuses, webhook intake, which
// would go on accepting the hook's deliveries with the row's secret) would
// have to skip the mark, and it takes a schema change; the record needs
// neither.
//
// Each removal runs under the repository's lease (projecthooklease.go), as
// DELETE …/{provider}-webhook does, so two hosts syncing the same
// integration at once remove a hook once: the second finds no record.

// droppedHooksRemoval is what a sync did with the project webhooks the host
// had registered on repositories that are gone (the sync's project_webhooks).
type droppedHooksRemoval struct {
	// Removed hooks were deleted at the provider.
	Removed int `json:"removed"`
	// Forgotten hooks were not deleted and the host stopped tracking them:
	// the provider has no such project or hook any more (404), the account
	// may no longer manage the project's hooks (403), or the hook now
	// belongs to a repository the host still serves.
	Forgotten int `json:"forgotten"`
	// Failed hooks could not be removed now (provider unreachable, rate
	// limited, 5xx, credentials refused); they are kept and the next sync
	// tries again.
	Failed []projectHookFailure `json:"failed"`
}

// droppedHookOutcome is what became of one dropped repository's hook.
type droppedHookOutcome int

const (
	// droppedHookHandled: its record was gone (another sync removed it).
	droppedHookHandled droppedHookOutcome = iota
	droppedHookRemoved
	droppedHookForgotten
)

// removeDroppedProjectHooks removes the project webhooks of the
// integration's repositories that are no longer in the store, within
// projectHookCleanupTimeout. Failures are logged and reported, never the
// sync's error; nil when there was no such hook.
func (h *Host) removeDroppedProjectHooks(ctx context.Context, pr *provider, in store.Integration) *droppedHooksRemoval {
	ps := h.projectHooks()
	if ps == nil {
		return nil
	}
	hooks, err := ps.IntegrationProjectHooks(ctx, in.ID)
	if err != nil {
		h.log.Error("project webhooks of dropped repositories not listed; the next sync tries again", "integration_id", in.ID, "error", err)
		return nil
	}
	var dropped []store.ProjectHook
	for _, hk := range hooks {
		_, err := h.store.GetRepository(ctx, hk.RepositoryID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			dropped = append(dropped, hk)
		case err != nil:
			h.log.Error("repository of a project webhook not read; the next sync tries again", "integration_id", in.ID,
				"repository_id", hk.RepositoryID, "error", err)
		}
	}
	if len(dropped) == 0 {
		return nil
	}
	out := &droppedHooksRemoval{Failed: []projectHookFailure{}}
	fail := func(hk store.ProjectHook, ae *apiError) {
		out.Failed = append(out.Failed, projectHookFailure{RepositoryFullName: hk.RepositoryFullName, HookID: hk.HookID, Error: ae.Message})
		args := []any{"integration_id", in.ID, "repository_id", hk.RepositoryID, "repository", hk.RepositoryFullName, "hook_id", hk.HookID, "error", ae.Message}
		if ae.Code == codeInternal {
			args = append(args, "cause", ae.cause) // the message says "see the host's log"
		}
		h.log.Warn("project webhook of a dropped repository not removed; the next sync tries again", args...)
	}
	ctx, cancel := context.WithTimeout(ctx, projectHookCleanupTimeout)
	defer cancel()
	for i, hk := range dropped {
		outcome, err := h.removeDroppedProjectHook(ctx, ps, pr, in, hk)
		if err != nil {
			ae := asAPIError("remove the project webhook of a dropped repository", err)
			fail(hk, ae)
			// A 5xx is about that project; anything else (GitLab unreachable
			// or rate limiting, credentials refused, the plugin or the
			// database down, out of time) would fail the rest the same way:
			// they wait for the next sync instead of hammering GitLab.
			if ae.Code != pr.name+suffixAPIError || ctx.Err() != nil {
				for _, rest := range dropped[i+1:] {
					fail(rest, &apiError{Code: ae.Code, Message: "not tried after an earlier failure: " + ae.Message, cause: ae.cause})
				}
				break
			}
			continue
		}
		switch outcome {
		case droppedHookRemoved:
			out.Removed++
		case droppedHookForgotten:
			out.Forgotten++
		}
	}
	h.log.Info("project webhooks of dropped repositories handled", "integration_id", in.ID, "removed", out.Removed,
		"forgotten", out.Forgotten, "failed", len(out.Failed))
	return out
}

// removeDroppedProjectHook removes one dropped repository's hook under the
// repository's lease and forgets its record, unless the failure is
// transient (the error; the record is kept).
func (h *Host) removeDroppedProjectHook(ctx context.Context, ps store.ProjectHookStore, pr *provider, in store.Integration, hk store.ProjectHook) (droppedHookOutcome, error) {
	outcome := droppedHookHandled
	err := h.withProjectHookLease(ctx, ps, hk.RepositoryID, func(string) error {
		cur, err := ps.GetProjectHook(ctx, hk.RepositoryID)
		if errors.Is(err, store.ErrNotFound) {
			return nil // another sync removed it while this one waited
		}
		if err != nil {
			return internalError("load the dropped repository's webhook", err)
		}
		forget := func(o droppedHookOutcome, msg string) error {
			if _, err := ps.ForgetProjectHook(ctx, cur.RepositoryID); err != nil {
				return internalError("forget the dropped repository's webhook", err)
			}
			outcome = o
			h.log.Info(msg, "integration_id", in.ID, "repository_id", cur.RepositoryID, "repository", cur.RepositoryFullName, "hook_id", cur.HookID)
			return nil
		}
		inUse, err := h.projectHookInUse(ctx, pr, in, cur)
		if err != nil {
			return err
		}
		if inUse {
			return forget(droppedHookForgotten, "project webhook of a dropped repository forgotten, not deleted: a repository the host serves registered the same hook since")
		}
		resp, err := h.deleteProjectHookAt(ctx, pr, in, cur.RepositoryExternalID, cur.HookID)
		switch {
		case err == nil && resp.GetDeleted():
			return forget(droppedHookRemoved, "project webhook of a dropped repository removed")
		case err == nil:
			return forget(droppedHookForgotten, "project webhook of a dropped repository forgotten: the provider has no such project or hook any more")
		case accessLost(pr.name, err):
			return forget(droppedHookForgotten, "project webhook of a dropped repository forgotten: the account may no longer manage the project's webhooks; it stays at the provider")
		}
		return err
	})
	return outcome, err
}

// accessLost reports whether the provider refused to delete a hook because
// the account may no longer manage the project's hooks (GitLab's 403, the
// plugin's role_missing) or the project is not found: the host can do
// nothing about either. A missing scope is not: reconnecting with it fixes
// that, so the hook is kept for a later sync.
func accessLost(providerName string, err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && (ae.Code == providerName+suffixRoleMissing || ae.Code == providerName+suffixNotFound)
}

// projectHookInUse reports whether another repository record of the same
// provider instance now names the hook: the project came back (under a new
// repository id) and its registration adopted the hook at the provider (the
// plugin updates a hook with the host's URL in place). Deleting it would
// silence the live repository.
func (h *Host) projectHookInUse(ctx context.Context, pr *provider, in store.Integration, hk store.ProjectHook) (bool, error) {
	targets, err := h.store.WebhookTargets(ctx, pr.name, hk.RepositoryExternalID)
	if err != nil {
		return false, internalError("find the repositories of the dropped repository's project", err)
	}
	for _, t := range targets {
		if t.Repository.ID == hk.RepositoryID || t.Integration.HostURL != in.HostURL {
			continue
		}
		other, err := h.projectHooks().GetProjectHook(ctx, t.Repository.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			continue
		case err != nil:
			return false, internalError("load the webhook of the dropped repository's project", err)
		}
		if other.HookID == hk.HookID {
			return true, nil
		}
	}
	return false, nil
}
