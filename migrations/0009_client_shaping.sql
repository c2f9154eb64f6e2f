-- Per-client bandwidth limits and byte quota (issue 16, docs/SECURITY.md flow 20). NULL: unlimited.
-- The bounds are the domain's (packages/domain/src/shaping.ts): below 64 kbit/s an HTB class cannot
-- hold its rate on a 1500-byte MTU, above 10 Gbit/s no LAN interface of a gateway carries it; a
-- quota under 1 MB would block a client on its first page, one over 1 PB is not a quota.
-- quota_epoch: the operator's reset. The kernel counts a client's bytes under (mapping, epoch);
-- raising the epoch gives the client a fresh count (the agent replaces its quota object), so a
-- reset is one UPDATE and the agent's role stays read-only. The agent already reads every mappings
-- column (0002); the api's full INSERT/UPDATE on mappings covers these columns (its routes come later).
ALTER TABLE mappings
  ADD COLUMN rate_down_kbit integer NULL
    CONSTRAINT mappings_rate_down_kbit_bounds CHECK (rate_down_kbit BETWEEN 64 AND 10000000),
  ADD COLUMN rate_up_kbit integer NULL
    CONSTRAINT mappings_rate_up_kbit_bounds CHECK (rate_up_kbit BETWEEN 64 AND 10000000),
  ADD COLUMN quota_bytes bigint NULL
    CONSTRAINT mappings_quota_bytes_bounds CHECK (quota_bytes BETWEEN 1000000 AND 1000000000000000),
  ADD COLUMN quota_epoch integer NOT NULL DEFAULT 0
    CONSTRAINT mappings_quota_epoch_non_negative CHECK (quota_epoch >= 0);
