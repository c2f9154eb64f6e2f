-- A stored password goes only to the endpoint it was saved for: a move (another protocol, host or
-- port) must give it again or remove it. The api refused such an edit (refuseCredentialMove), but
-- pgw_api may write protocol, host and port: code running as the api could move a proxy to a host
-- of its own and have the health probe and the forwarder hand that host the stored credentials,
-- which it cannot read (0027). Postgres now refuses it, whoever asks.
CREATE FUNCTION proxies_credentials_stay_with_endpoint() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  IF OLD.password_enc IS NOT NULL
     AND NEW.password_enc IS NOT DISTINCT FROM OLD.password_enc
     AND (NEW.protocol, NEW.host, NEW.port) IS DISTINCT FROM (OLD.protocol, OLD.host, OLD.port) THEN
    RAISE EXCEPTION 'a proxy with a stored password moves only with its password given again or removed (proxy %)', OLD.id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER proxies_credentials_stay_with_endpoint BEFORE UPDATE OF protocol, host, port ON proxies
  FOR EACH ROW EXECUTE FUNCTION proxies_credentials_stay_with_endpoint();
