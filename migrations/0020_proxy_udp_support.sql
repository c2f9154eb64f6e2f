-- UDP through the proxy, learned per proxy (issue 15): whether a SOCKS5 proxy accepts UDP
-- ASSOCIATE, as the health probe found it. 'supported': it answered with a relay address;
-- 'unsupported': it refused the command, or the proxy speaks HTTP CONNECT (which carries no UDP);
-- NULL: not known yet. udp_checked_at: when the probe last asked (learned again after a while, so a
-- proxy that gains or loses UDP is noticed). In TPROXY mode a client of an 'unsupported' proxy has
-- its UDP dropped (the forwarder reports that per mapping); never sent directly.
ALTER TABLE proxies
  ADD COLUMN udp_support text CHECK (udp_support IN ('supported', 'unsupported')),
  ADD COLUMN udp_checked_at timestamptz;

-- Only the health service writes what it learned; it reads them with its table-wide SELECT, the
-- api with its own.
GRANT UPDATE (udp_support, udp_checked_at) ON proxies TO pgw_health;

-- What was learned holds for one endpoint with one set of credentials (as handshake_learned, 0008):
-- a changed protocol, address or credentials is asked again at the next probe.
CREATE FUNCTION proxies_relearn_udp_support() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.protocol, NEW.host, NEW.port, NEW.username, NEW.password_enc)
     IS DISTINCT FROM (OLD.protocol, OLD.host, OLD.port, OLD.username, OLD.password_enc) THEN
    NEW.udp_support := NULL;
    NEW.udp_checked_at := NULL;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER proxies_relearn_udp_support
  BEFORE UPDATE ON proxies FOR EACH ROW EXECUTE FUNCTION proxies_relearn_udp_support();
