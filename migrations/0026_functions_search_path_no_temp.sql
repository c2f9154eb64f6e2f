-- Tables are looked up in pg_temp first: a service session that made a temporary table named like
-- one of ours (CREATE TEMP TABLE mappings (backup_proxy_ids integer[])) had the trigger functions
-- read it instead, and a proxy listed as a backup could be deleted, or an unknown one listed. No
-- service needs temporary tables: the right goes (the database's owner runs the migrations), and
-- every function of the schema looks its tables up in pg_catalog and public first, pg_temp last.
DO $$
BEGIN
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END $$;
ALTER FUNCTION proxies_reset_status_on_endpoint_change() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION proxies_relearn_handshake() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION proxies_relearn_udp_support() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION mappings_backup_proxies_exist() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION proxies_refuse_delete_of_backup() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION mapping_tags_valid(text[]) SET search_path = pg_catalog, public, pg_temp;
