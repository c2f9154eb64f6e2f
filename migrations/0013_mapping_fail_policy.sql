-- Fail policy per mapping (issue 17, docs/SECURITY.md flow 21). closed (default): the client is
-- blocked while its proxy is down, as before. backup: it uses the first healthy proxy of
-- backup_proxy_ids (in order); never a direct route. The choice itself is @pgw/domain
-- chooseUpstream, from each proxy's status and status_changed_at (the hold-down).
-- An array rather than a join table: the agent and the forwarder read one mappings row per client
-- (one fingerprint, one snapshot) and the api writes the list with the mapping in one UPDATE.
-- Arrays cannot hold foreign keys, so the triggers below give the same guarantees: every id is a
-- proxy, and a proxy listed as a backup cannot be deleted (23503 like the proxy_id foreign key).
ALTER TABLE mappings
  ADD COLUMN fail_policy text NOT NULL DEFAULT 'closed'
    CONSTRAINT mappings_fail_policy_known CHECK (fail_policy IN ('closed', 'backup')),
  ADD COLUMN backup_proxy_ids integer[] NOT NULL DEFAULT '{}'
    -- @pgw/domain MAX_BACKUP_PROXIES; no NULL, never the mapping's own proxy (repeats: the trigger).
    CONSTRAINT mappings_backup_proxy_ids_valid CHECK (
      cardinality(backup_proxy_ids) <= 8
      AND array_position(backup_proxy_ids, NULL) IS NULL
      AND NOT (proxy_id = ANY (backup_proxy_ids))
    );

-- Seconds a recovered primary must be up before its clients move back (no flapping).
ALTER TABLE settings
  ADD COLUMN backup_hold_down_s integer NOT NULL DEFAULT 30
    CONSTRAINT settings_backup_hold_down_bounds CHECK (backup_hold_down_s BETWEEN 0 AND 3600);

CREATE FUNCTION mappings_backup_proxies_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE found integer;
BEGIN
  IF cardinality(NEW.backup_proxy_ids) <> (SELECT count(DISTINCT b.pid) FROM unnest(NEW.backup_proxy_ids) AS b(pid)) THEN
    RAISE EXCEPTION 'a backup proxy is listed twice' USING ERRCODE = 'check_violation', CONSTRAINT = 'mappings_backup_proxy_ids_valid';
  END IF;
  -- KEY SHARE: a proxy being deleted meanwhile is waited for, then seen gone (as a foreign key does).
  PERFORM 1 FROM proxies p WHERE p.id = ANY (NEW.backup_proxy_ids) FOR KEY SHARE;
  SELECT count(*) INTO found FROM proxies p WHERE p.id = ANY (NEW.backup_proxy_ids);
  IF found <> cardinality(NEW.backup_proxy_ids) THEN
    RAISE EXCEPTION 'a backup proxy does not exist' USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'mappings_backup_proxy_ids_fkey';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER mappings_backup_proxies_exist
  BEFORE INSERT OR UPDATE OF backup_proxy_ids ON mappings FOR EACH ROW
  -- A list the CHECK refuses anyway (NULLs, too long) is left to it, with its own message.
  WHEN (cardinality(NEW.backup_proxy_ids) BETWEEN 1 AND 8 AND array_position(NEW.backup_proxy_ids, NULL) IS NULL) EXECUTE FUNCTION mappings_backup_proxies_exist();

CREATE FUNCTION proxies_refuse_delete_of_backup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM mappings WHERE OLD.id = ANY (backup_proxy_ids)) THEN
    RAISE EXCEPTION 'proxy % is a backup of a mapping', OLD.id USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'mappings_backup_proxy_ids_fkey';
  END IF;
  RETURN OLD;
END $$;
CREATE TRIGGER proxies_refuse_delete_of_backup
  BEFORE DELETE ON proxies FOR EACH ROW EXECUTE FUNCTION proxies_refuse_delete_of_backup();
CREATE INDEX mappings_backup_proxy_ids ON mappings USING gin (backup_proxy_ids);

-- The agent and the forwarder decide the hold-down from the status' age: they read status_changed_at.
-- The new mappings and settings columns are covered by their table-wide SELECT (0002).
GRANT SELECT (status_changed_at) ON proxies TO pgw_agent, pgw_forwarder;
