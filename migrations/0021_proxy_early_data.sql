-- SOCKS5 early data (issue 12 point 4): handshake early-data sends the client's first bytes with
-- the pipelined greeting, auth and CONNECT, for a proxy that relays bytes sent before its reply.
-- A mode the operator may force, and the most the health probe may learn in mode auto.
ALTER TABLE proxies DROP CONSTRAINT proxies_handshake_mode_check;
ALTER TABLE proxies DROP CONSTRAINT proxies_handshake_learned_check;
ALTER TABLE proxies
  ADD CONSTRAINT proxies_handshake_mode_check CHECK (handshake_mode IN ('auto', 'pipelined', 'sequential', 'early-data')),
  ADD CONSTRAINT proxies_handshake_learned_check CHECK (handshake_learned IN ('pipelined', 'sequential', 'early-data'));

-- pipelined was the most a probe could learn before: learned again, early data tried first (the
-- forwarder dials sequential until the next probe, one probe interval).
UPDATE proxies SET handshake_learned = NULL WHERE handshake_learned = 'pipelined';
