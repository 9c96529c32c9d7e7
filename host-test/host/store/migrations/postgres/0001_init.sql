-- The reference host's schema on PostgreSQL: the same tables, columns,
-- constraints and indexes as migrations/sqlite/0001_init.sql, with
-- PostgreSQL's names for the types (BIGINT for Unix seconds and counters,
-- BYTEA for sealed secrets and hashes). The store's conformance tests compare
-- the two schemas column by column. Times are Unix seconds; ids are UUIDv7
-- text. Secrets are sealed (AES-256-GCM); API tokens are SHA-256 hashes.

CREATE TABLE api_tokens (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  role       TEXT NOT NULL,
  token_hash BYTEA NOT NULL UNIQUE,
  created_at BIGINT NOT NULL
);

CREATE TABLE integrations (
  id                  TEXT PRIMARY KEY,
  provider            TEXT NOT NULL,
  host_url            TEXT NOT NULL,
  auth_mode           TEXT NOT NULL,
  status              TEXT NOT NULL,
  display_name        TEXT NOT NULL DEFAULT '',
  created_by          TEXT NOT NULL,
  account_id          TEXT NOT NULL DEFAULT '',
  account_username    TEXT NOT NULL DEFAULT '',
  scopes              TEXT NOT NULL DEFAULT '',
  credentials         BYTEA,
  credentials_version BIGINT NOT NULL DEFAULT 0,
  token_expires_at    BIGINT NOT NULL DEFAULT 0,
  reconnect_required  BOOLEAN NOT NULL DEFAULT FALSE,
  status_reason       TEXT NOT NULL DEFAULT '',
  sync_generation     BIGINT NOT NULL DEFAULT 0,
  last_webhook_at     BIGINT NOT NULL DEFAULT 0,
  created_at          BIGINT NOT NULL,
  updated_at          BIGINT NOT NULL
);
CREATE INDEX integrations_provider ON integrations (provider, created_at);

CREATE TABLE installations (
  id             TEXT PRIMARY KEY,
  integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
  external_id    TEXT NOT NULL,
  account_name   TEXT NOT NULL,
  account_type   TEXT NOT NULL DEFAULT '',
  created_at     BIGINT NOT NULL,
  UNIQUE (integration_id, external_id)
);

CREATE TABLE repositories (
  id                        TEXT PRIMARY KEY,
  integration_id            TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
  installation_id           TEXT NOT NULL REFERENCES installations (id) ON DELETE CASCADE,
  provider                  TEXT NOT NULL,
  external_id               TEXT NOT NULL,
  full_name                 TEXT NOT NULL,
  name                      TEXT NOT NULL DEFAULT '',
  namespace                 TEXT NOT NULL DEFAULT '',
  default_branch            TEXT NOT NULL DEFAULT '',
  is_private                BOOLEAN NOT NULL DEFAULT FALSE,
  visibility                TEXT NOT NULL DEFAULT '',
  clone_url                 TEXT NOT NULL DEFAULT '',
  web_url                   TEXT NOT NULL DEFAULT '',
  avatar_url                TEXT NOT NULL DEFAULT '',
  archived                  BOOLEAN NOT NULL DEFAULT FALSE,
  last_activity_at          BIGINT NOT NULL DEFAULT 0,
  webhook_secret            BYTEA,
  webhook_secret_rotated_at BIGINT NOT NULL DEFAULT 0,
  sync_generation           BIGINT NOT NULL DEFAULT 0,
  created_at                BIGINT NOT NULL,
  updated_at                BIGINT NOT NULL,
  UNIQUE (integration_id, external_id)
);
CREATE INDEX repositories_external ON repositories (provider, external_id);
CREATE INDEX repositories_full_name ON repositories (integration_id, full_name);

CREATE TABLE oauth_states (
  id             TEXT PRIMARY KEY,
  integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
  redirect_url   TEXT NOT NULL,
  verifier       BYTEA NOT NULL,
  expires_at     BIGINT NOT NULL,
  created_at     BIGINT NOT NULL
);

CREATE TABLE refresh_locks (
  integration_id TEXT PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
  holder         TEXT NOT NULL,
  expires_at     BIGINT NOT NULL
);

-- Deliveries outlive their integration (history); no foreign key.
CREATE TABLE webhook_deliveries (
  id                   TEXT PRIMARY KEY,
  provider             TEXT NOT NULL,
  delivery_id          TEXT NOT NULL,
  integration_id       TEXT NOT NULL,
  repository_id        TEXT NOT NULL,
  repository_full_name TEXT NOT NULL,
  event_kind           TEXT NOT NULL,
  event_name           TEXT NOT NULL DEFAULT '',
  triggered            BOOLEAN NOT NULL,
  ignored_reason       TEXT NOT NULL DEFAULT '',
  events               TEXT NOT NULL DEFAULT '',
  received_at          BIGINT NOT NULL,
  UNIQUE (integration_id, delivery_id)
);
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_at, id);

CREATE TABLE build_triggers (
  id                   TEXT PRIMARY KEY,
  delivery_id          TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  integration_id       TEXT NOT NULL,
  repository_id        TEXT NOT NULL,
  kind                 TEXT NOT NULL,
  ref                  TEXT NOT NULL DEFAULT '',
  branch               TEXT NOT NULL DEFAULT '',
  sha                  TEXT NOT NULL DEFAULT '',
  merge_request_number BIGINT NOT NULL DEFAULT 0,
  status               TEXT NOT NULL,
  created_at           BIGINT NOT NULL
);
CREATE INDEX build_triggers_delivery ON build_triggers (delivery_id);
CREATE INDEX build_triggers_integration_status ON build_triggers (integration_id, status);

CREATE TABLE audit_events (
  id             TEXT PRIMARY KEY,
  at             BIGINT NOT NULL,
  actor          TEXT NOT NULL,
  action         TEXT NOT NULL,
  integration_id TEXT NOT NULL DEFAULT '',
  detail         TEXT NOT NULL DEFAULT ''
);
