-- A username is unique whatever its case: `admin` and `Admin` were two accounts that read alike in
-- the console and the audit log. Logins look the name up by lower(username), which this index
-- serves. A database that already holds such a pair cannot take the index: the migration stops and
-- names them (delete all but one of each in the console, or rename them with psql, then migrate again).
DO $$
DECLARE
  twins text;
BEGIN
  SELECT string_agg(names, '; ') INTO twins FROM (
    SELECT string_agg(username, ', ' ORDER BY username COLLATE "C") AS names FROM users GROUP BY lower(username) HAVING count(*) > 1
  ) AS pairs;
  IF twins IS NOT NULL THEN
    RAISE EXCEPTION 'usernames that differ only in case: %; delete all but one of each (console) or rename them (psql), then migrate again', twins;
  END IF;
END $$;

CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
