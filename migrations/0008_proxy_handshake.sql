-- Adaptive SOCKS5 handshake (issue 12 point 2). handshake_mode is the operator's setting: auto
-- (default: learned by the health probe), pipelined (greeting, auth and CONNECT in one write) or
-- sequential (each after the previous answer). handshake_learned is what the health probe found
-- in mode auto (NULL: not yet; the forwarder dials sequential until then).
ALTER TABLE proxies
  ADD COLUMN handshake_mode text NOT NULL DEFAULT 'auto' CHECK (handshake_mode IN ('auto', 'pipelined', 'sequential')),
  ADD COLUMN handshake_learned text CHECK (handshake_learned IN ('pipelined', 'sequential'));

-- The operator sets the mode; only the health service writes what it learned; the forwarder reads both.
GRANT INSERT (handshake_mode), UPDATE (handshake_mode) ON proxies TO pgw_api;
GRANT UPDATE (handshake_learned) ON proxies TO pgw_health;
GRANT SELECT (handshake_mode, handshake_learned) ON proxies TO pgw_forwarder;

-- What was learned holds for one endpoint with one set of credentials: a changed endpoint,
-- credentials or mode is learned again (as 0004 resets the status; the api may not write the column).
CREATE FUNCTION proxies_relearn_handshake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.protocol, NEW.host, NEW.port, NEW.username, NEW.password_enc, NEW.handshake_mode)
     IS DISTINCT FROM (OLD.protocol, OLD.host, OLD.port, OLD.username, OLD.password_enc, OLD.handshake_mode) THEN
    NEW.handshake_learned := NULL;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER proxies_relearn_handshake
  BEFORE UPDATE ON proxies FOR EACH ROW EXECUTE FUNCTION proxies_relearn_handshake();
