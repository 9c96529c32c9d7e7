-- Project webhooks the host registered at the provider for a repository
-- (POST /v1/integration-repositories/{id}/{provider}-webhook), so that the
-- next registration updates the same hook and DELETE (or deleting the
-- integration) removes it. No foreign keys: a row outlives its repository
-- and its integration until the host has tried to remove the hook at the
-- provider, which needs the repository's external id and the hook's id.
-- The same table as migrations/sqlite/0003_project_hooks.sql, with
-- PostgreSQL's types.

CREATE TABLE project_hooks (
  repository_id          TEXT PRIMARY KEY,
  integration_id         TEXT NOT NULL,
  provider               TEXT NOT NULL,
  repository_external_id TEXT NOT NULL,
  repository_full_name   TEXT NOT NULL,
  hook_id                TEXT NOT NULL,
  url                    TEXT NOT NULL,
  created_at             BIGINT NOT NULL,
  updated_at             BIGINT NOT NULL
);
CREATE INDEX project_hooks_integration ON project_hooks (integration_id);
