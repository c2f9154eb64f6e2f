-- Tags on mappings (issue 17, groups and bulk actions): an operator groups clients ("floor-2",
-- "kiosk") and acts on a group at once. The spelling is @pgw/domain's MAPPING_TAG (lower case,
-- digits, '.', '_', '-', 1-32 characters, starting with a letter or digit), at most 16 per mapping
-- (MAX_MAPPING_TAGS), no NULL, no repeat. The agent and the forwarder read every mappings column
-- (0002) and ignore this one; the api's full INSERT/UPDATE covers it.
-- A function, because a CHECK cannot look at each element of an array itself (a pattern over the
-- joined elements would take a tag holding the separator for two).
CREATE FUNCTION mapping_tags_valid(tags text[]) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT cardinality(tags) <= 16
     AND count(DISTINCT t) = cardinality(tags)
     AND coalesce(bool_and(t IS NOT NULL AND t ~ '^[a-z0-9][a-z0-9._-]{0,31}$'), true)
  FROM unnest(tags) AS t
$$;

ALTER TABLE mappings
  ADD COLUMN tags text[] NOT NULL DEFAULT '{}'
    CONSTRAINT mappings_tags_valid CHECK (mapping_tags_valid(tags));

-- "every mapping tagged X" (select by tag) without a scan of every row.
CREATE INDEX mappings_tags_idx ON mappings USING gin (tags);
