-- One Postgres role per service, least privilege. Roles are created NOLOGIN here; `pgw db roles`
-- gives each a login password from the environment. Roles are cluster-wide, grants per database.
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['pgw_api', 'pgw_health', 'pgw_agent', 'pgw_forwarder'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', r);
  END LOOP;
END $$;

-- api: manages users, proxies, mappings and settings; appends to the audit log, never rewrites it.
GRANT SELECT, INSERT, UPDATE, DELETE ON users, proxies, mappings, revoked_tokens TO pgw_api;
GRANT SELECT, UPDATE ON settings TO pgw_api;
GRANT SELECT, INSERT ON audit_log TO pgw_api;
GRANT SELECT ON proxy_checks TO pgw_api;
GRANT USAGE ON SEQUENCE users_id_seq, proxies_id_seq, mappings_id_seq, audit_log_id_seq TO pgw_api;

-- health: reads proxies and settings, writes only the status columns and the check history.
GRANT SELECT ON proxies, settings TO pgw_health;
GRANT UPDATE (status, status_changed_at, latency_ms, exit_ip, last_error, last_checked_at,
              consecutive_successes, consecutive_failures) ON proxies TO pgw_health;
GRANT SELECT, INSERT, DELETE ON proxy_checks TO pgw_health;
GRANT USAGE ON SEQUENCE proxy_checks_id_seq TO pgw_health;

-- agent: read-only, and never the proxy credentials it does not need.
GRANT SELECT ON mappings, settings TO pgw_agent;
GRANT SELECT (id, protocol, host, port, status) ON proxies TO pgw_agent;

-- forwarder: read-only; it needs the credentials to dial.
GRANT SELECT ON mappings, settings TO pgw_forwarder;
GRANT SELECT (id, protocol, host, port, username, password_enc, status) ON proxies TO pgw_forwarder;
