-- A mapping's listen port stays unique, checked when the transaction commits rather than at each
-- statement: an import that swaps two mappings' ports (or moves them along a chain) writes its rows
-- one at a time, and the first update met the other row's old port. The api allocates ports under
-- its listen-port lock and checks a chosen one there, so no write relies on the statement-time check.
ALTER TABLE mappings DROP CONSTRAINT mappings_listen_port_key;
ALTER TABLE mappings ADD CONSTRAINT mappings_listen_port_key UNIQUE (listen_port) DEFERRABLE INITIALLY DEFERRED;
