-- The status follows the order probes started in, not the order they finish (probes of one proxy
-- overlap: periodic, on demand, upstream failure and liveness are separate jobs, and a probe that
-- times out records seconds after a later one that answered). last_probe_started_at: when the probe
-- whose result the status holds started, by Postgres' clock (read with the row before the dial);
-- a result of a probe that started earlier goes into the history only.
ALTER TABLE proxies ADD COLUMN last_probe_started_at timestamptz;

-- Only the health service applies probes; it reads the column with its table-wide SELECT.
GRANT UPDATE (last_probe_started_at) ON proxies TO pgw_health;
