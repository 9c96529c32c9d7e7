-- The host's periodic tasks (the daily credentials check, host.go's
-- credentialcheck.go), run once between every host sharing the database.
--
-- host_task_leases: a lease per task name, taken for one round and renewed
-- while it runs (the same lease SQL as refresh_locks and
-- project_hook_leases); expires_at (Unix seconds) frees the lease of a host
-- that died mid-round. Rows live only as long as one round.
--
-- host_task_runs: when each task last finished a round (Unix seconds), so
-- that another host, or this one after a restart, does not run it again
-- before its interval has passed. Kept apart from the lease, which is
-- deleted when the round ends.

CREATE TABLE host_task_leases (
  name       TEXT PRIMARY KEY,
  holder     TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);

CREATE TABLE host_task_runs (
  name        TEXT PRIMARY KEY,
  last_run_at INTEGER NOT NULL
);
