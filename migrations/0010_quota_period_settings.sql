-- Quota periods and per-client metrics (issue 16). A byte quota restarts by itself at the start of
-- each day or month in quota_reset_timezone (an IANA name; @pgw/domain timeZoneSchema checks that
-- the runtime knows it, the CHECK here only its shape), besides an operator's reset (quota_epoch,
-- 0009). per_client_metrics: the agent's Prometheus endpoint shows a byte counter per client and
-- direction only when set (4096 clients are 8192 series). The agent already reads every settings
-- column (0002) and the api may update them.
ALTER TABLE settings
  ADD COLUMN quota_period text NOT NULL DEFAULT 'monthly'
    CONSTRAINT settings_quota_period_known CHECK (quota_period IN ('daily', 'monthly')),
  ADD COLUMN quota_reset_timezone text NOT NULL DEFAULT 'UTC'
    CONSTRAINT settings_quota_reset_timezone_shape CHECK (quota_reset_timezone ~ '^[A-Za-z][A-Za-z0-9_+/-]{0,63}$'),
  ADD COLUMN per_client_metrics boolean NOT NULL DEFAULT false;
