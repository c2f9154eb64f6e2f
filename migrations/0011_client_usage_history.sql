-- Per-client traffic accounting history (issue 16, docs/ARCHITECTURE.md "Client accounting"). The
-- agents publish cumulative kernel counters per client (Redis hash pgw:usage); the api takes the
-- differences between a node's consecutive samples and adds them to three tables at once, in one
-- statement per sample: minutes (kept usage_minute_retention_hours, default 24 h), hours (30 days),
-- days (1 year). Buckets are UTC. Only clients with traffic in a sample get a row written.
-- Keyed by client IP: the history of an address survives its mapping being deleted or re-created;
-- mapping_id is the mapping that address had when last written (no foreign key, for that reason).
CREATE TABLE usage_minute (
  client_ip inet NOT NULL,
  bucket timestamptz NOT NULL,
  mapping_id integer NOT NULL,
  bytes_up bigint NOT NULL CONSTRAINT usage_minute_bytes_up_non_negative CHECK (bytes_up >= 0),
  bytes_down bigint NOT NULL CONSTRAINT usage_minute_bytes_down_non_negative CHECK (bytes_down >= 0),
  connections bigint NOT NULL CONSTRAINT usage_minute_connections_non_negative CHECK (connections >= 0),
  PRIMARY KEY (client_ip, bucket)
);
CREATE TABLE usage_hour (LIKE usage_minute INCLUDING ALL);
CREATE TABLE usage_day (LIKE usage_minute INCLUDING ALL);
-- Top talkers and the retention prune read by time across all clients.
CREATE INDEX usage_minute_bucket ON usage_minute (bucket);
CREATE INDEX usage_hour_bucket ON usage_hour (bucket);
CREATE INDEX usage_day_bucket ON usage_day (bucket);

-- Each node's last sample taken into the history: its time (a sample not newer is skipped, so two
-- api processes, or a restarted one, never add the same sample twice: the row is locked while a
-- sample is written) and its counters (ip -> [up, down, connections]), the base of the next difference.
CREATE TABLE usage_cursor (
  node text PRIMARY KEY,
  sampled_at timestamptz NOT NULL,
  counters_since timestamptz NOT NULL,
  counters jsonb NOT NULL
);

ALTER TABLE settings
  ADD COLUMN usage_minute_retention_hours integer NOT NULL DEFAULT 24
    CONSTRAINT settings_usage_minute_retention_bounds CHECK (usage_minute_retention_hours BETWEEN 1 AND 168),
  ADD COLUMN usage_hour_retention_days integer NOT NULL DEFAULT 30
    CONSTRAINT settings_usage_hour_retention_bounds CHECK (usage_hour_retention_days BETWEEN 1 AND 366),
  ADD COLUMN usage_day_retention_days integer NOT NULL DEFAULT 365
    CONSTRAINT settings_usage_day_retention_bounds CHECK (usage_day_retention_days BETWEEN 1 AND 3650);

-- The api writes the history (it already reads pgw:usage for the quota progress; docs/ARCHITECTURE.md
-- says why not the health service) and prunes it; no other service reads or writes it.
GRANT SELECT, INSERT, UPDATE, DELETE ON usage_minute, usage_hour, usage_day, usage_cursor TO pgw_api;
