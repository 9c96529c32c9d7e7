-- A lease per repository on registering or removing its project webhook
-- (POST/DELETE /v1/integration-repositories/{id}/{provider}-webhook), so that
-- two registrations of one repository at once -- on one host or on several
-- sharing the database -- do not both find no hook and both create one at the
-- provider. A host takes the lease before the plugin call and deletes the row
-- after it; expires_at (Unix seconds) frees the lease of a host that died
-- mid-call. A row, not a transaction held across the call: that would block
-- every SQLite writer for as long as the provider takes.
--
-- No foreign key: the lease guards a repository id, whether or not the
-- repository row still exists (a removal may race its deletion), and rows
-- live only as long as one call.

CREATE TABLE project_hook_leases (
  repository_id TEXT PRIMARY KEY,
  holder        TEXT NOT NULL,
  expires_at    INTEGER NOT NULL
);
