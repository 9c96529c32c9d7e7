-- Jobs: a build's claim on one repository. A runner fetches the repository
-- through the host's checkout proxy with the job's token, for as long as the
-- token lives. Only the token's SHA-256 is kept. A job goes with its
-- integration and its repository. The same table as
-- migrations/sqlite/0002_jobs.sql, with PostgreSQL's types (BIGINT, BYTEA).

CREATE TABLE jobs (
  id                   TEXT PRIMARY KEY,
  runner_id            TEXT NOT NULL,
  token_hash           BYTEA NOT NULL,
  delivery_id          TEXT NOT NULL,
  trigger_id           TEXT NOT NULL,
  integration_id       TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
  repository_id        TEXT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  provider             TEXT NOT NULL,
  repository_full_name TEXT NOT NULL,
  ref                  TEXT NOT NULL DEFAULT '',
  sha                  TEXT NOT NULL,
  created_by           TEXT NOT NULL DEFAULT '',
  expires_at           BIGINT NOT NULL,
  created_at           BIGINT NOT NULL
);
CREATE INDEX jobs_expires ON jobs (expires_at);
