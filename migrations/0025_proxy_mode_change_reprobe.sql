-- A changed SOCKS5 handshake mode is a changed way to dial the proxy, as a changed endpoint or
-- credentials are: what the probes knew was about the old mode, and the forwarder dials in the new
-- one at once. Forcing early-data on a proxy that drops early bytes left it up until the next
-- period (up to an hour) while its clients' first bytes were lost. Back to unknown (fail closed)
-- until a probe in the new mode, which the health service runs at once for an unknown proxy.
CREATE OR REPLACE FUNCTION proxies_reset_status_on_endpoint_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.protocol, NEW.host, NEW.port, NEW.username, NEW.password_enc, NEW.handshake_mode)
     IS DISTINCT FROM (OLD.protocol, OLD.host, OLD.port, OLD.username, OLD.password_enc, OLD.handshake_mode) THEN
    NEW.status := 'unknown';
    NEW.status_changed_at := now();
    NEW.consecutive_successes := 0;
    NEW.consecutive_failures := 0;
  END IF;
  RETURN NEW;
END $$;
