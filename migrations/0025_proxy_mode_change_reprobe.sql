-- A SOCKS5 handshake mode forced to pipelined or early-data is a way to dial the proxy that the
-- probes have not seen, as a changed endpoint or credentials are: the forwarder dials in it at once.
-- Forcing early-data on a proxy that drops early bytes left it up until the next period (up to an
-- hour) while its clients' first bytes were lost. Back to unknown (fail closed) until a probe in the
-- new mode, which the health service runs at once for an unknown proxy; its clients wait for it and
-- their live connections end, as on an endpoint edit. A change to sequential or auto keeps the
-- status: the forwarder then dials sequentially (auto: until the next probe learns), which every
-- server that answered a probe accepts.
CREATE OR REPLACE FUNCTION proxies_reset_status_on_endpoint_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.protocol, NEW.host, NEW.port, NEW.username, NEW.password_enc)
     IS DISTINCT FROM (OLD.protocol, OLD.host, OLD.port, OLD.username, OLD.password_enc)
     OR (NEW.handshake_mode IS DISTINCT FROM OLD.handshake_mode AND NEW.handshake_mode IN ('pipelined', 'early-data')) THEN
    NEW.status := 'unknown';
    NEW.status_changed_at := now();
    NEW.consecutive_successes := 0;
    NEW.consecutive_failures := 0;
  END IF;
  RETURN NEW;
END $$;
