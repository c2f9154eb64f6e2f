-- Authentication events (logins and failed logins, logouts, password changes) are audited with the
-- client's User-Agent beside its source address. Older rows keep NULL. pgw_api's table-wide
-- SELECT, INSERT on audit_log (0002) covers the new column.
ALTER TABLE audit_log ADD COLUMN user_agent text;
