-- Least privilege for the api (issue 10 point 7): what a proxy's probes found (status, latency,
-- exit IP, errors, counters) is the health service's to write. pgw_api keeps INSERT and UPDATE on
-- the columns an operator edits only; a new proxies column needs its own grant here.
REVOKE INSERT, UPDATE ON proxies FROM pgw_api;
GRANT INSERT (name, protocol, host, port, username, password_enc) ON proxies TO pgw_api;
GRANT UPDATE (name, protocol, host, port, username, password_enc, updated_at) ON proxies TO pgw_api;

-- A changed endpoint invalidates what the probes knew: back to unknown (fail closed) until it is
-- probed again. Done here rather than by the api, which may no longer write the status columns
-- (a trigger's changes to NEW are not checked against the caller's column privileges).
CREATE FUNCTION proxies_reset_status_on_endpoint_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.protocol, NEW.host, NEW.port, NEW.username, NEW.password_enc)
     IS DISTINCT FROM (OLD.protocol, OLD.host, OLD.port, OLD.username, OLD.password_enc) THEN
    NEW.status := 'unknown';
    NEW.status_changed_at := now();
    NEW.consecutive_successes := 0;
    NEW.consecutive_failures := 0;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER proxies_reset_status_on_endpoint_change
  BEFORE UPDATE ON proxies FOR EACH ROW EXECUTE FUNCTION proxies_reset_status_on_endpoint_change();
