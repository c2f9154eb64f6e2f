-- Exit-IP intelligence (issue 17): every address a proxy's traffic was seen leaving from, with when
-- it was first and last seen. Written by the health service in the transaction that records the
-- probe (one row per proxy and address, so a rotating proxy grows it by its pool, not by its probes);
-- read by the api. proxy_checks keeps the per-probe detail for history_retention_days only; this
-- keeps every address until the proxy is deleted.
CREATE TABLE proxy_exit_ips (
  proxy_id   integer NOT NULL REFERENCES proxies (id) ON DELETE CASCADE,
  exit_ip    inet NOT NULL CHECK (masklen(exit_ip) = CASE family(exit_ip) WHEN 4 THEN 32 ELSE 128 END),
  first_seen timestamptz NOT NULL,
  last_seen  timestamptz NOT NULL,
  seen_count integer NOT NULL DEFAULT 1 CHECK (seen_count >= 1),
  PRIMARY KEY (proxy_id, exit_ip),
  CHECK (first_seen <= last_seen)
);
-- "Which proxies share this exit IP" (an alarm) reads by address.
CREATE INDEX proxy_exit_ips_exit_ip ON proxy_exit_ips (exit_ip);

GRANT SELECT, INSERT, UPDATE ON proxy_exit_ips TO pgw_health;
GRANT SELECT ON proxy_exit_ips TO pgw_api;
