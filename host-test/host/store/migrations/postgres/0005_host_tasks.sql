-- The host's periodic tasks (the daily credentials check), run once between
-- every host sharing the database. The same tables as
-- migrations/sqlite/0005_host_tasks.sql, with PostgreSQL's types: a lease
-- per task name for one round, and when each task last finished a round.

CREATE TABLE host_task_leases (
  name       TEXT PRIMARY KEY,
  holder     TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);

CREATE TABLE host_task_runs (
  name        TEXT PRIMARY KEY,
  last_run_at BIGINT NOT NULL
);
