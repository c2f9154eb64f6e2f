-- The api seals proxy passwords to a public key (format v2) and never reads one back: it does not
-- hold PGW_SECRET_KEY, and from here on it cannot select password_enc either (a second layer: a
-- compromised api cannot copy the sealed passwords out for a key stolen elsewhere). What it shows,
-- whether a proxy has a password, is a column of its own. A new proxies column needs its own
-- SELECT grant for pgw_api here, as for INSERT and UPDATE (0004).
ALTER TABLE proxies ADD COLUMN has_password boolean GENERATED ALWAYS AS (password_enc IS NOT NULL) STORED;
REVOKE SELECT ON proxies FROM pgw_api;
GRANT SELECT (id, name, protocol, host, port, username, has_password, status, status_changed_at, latency_ms,
              exit_ip, last_error, last_checked_at, consecutive_successes, consecutive_failures,
              handshake_mode, handshake_learned, exit_differs, udp_support, udp_checked_at,
              last_probe_started_at, created_at, updated_at) ON proxies TO pgw_api;
