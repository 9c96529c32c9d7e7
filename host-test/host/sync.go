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
	return inst, syncResult{seen: seen, removed: removed}, nil
}

func repositoryFromProto(r *scmv1.Repository) store.Repository {
	return store.Repository{
		ExternalID: r.GetExternalId(), FullName: r.GetFullName(), Name: r.GetName(), Namespace: r.GetNamespace(),
		DefaultBranch: r.GetDefaultBranch(), Private: r.GetPrivate(), Visibility: r.GetVisibility(),
		CloneURL: r.GetCloneUrl(), WebURL: r.GetWebUrl(), AvatarURL: r.GetAvatarUrl(), Archived: r.GetArchived(),
		LastActivityAt: r.GetLastActivityAt(),
	}
}
