-- Destination policy (docs/SECURITY.md, Destinations): may LAN clients reach private ranges (RFC 1918,
-- 100.64.0.0/10, fc00::/7) through their proxy? Denied by default; a mapping may override either
-- way (NULL: the global setting). Loopback, link-local, the gateway's own addresses and the LAN
-- prefix are refused regardless and need no column.
ALTER TABLE settings
  ADD COLUMN private_destinations text NOT NULL DEFAULT 'deny' CHECK (private_destinations IN ('deny', 'allow'));
ALTER TABLE mappings
  ADD COLUMN private_destinations text CHECK (private_destinations IN ('deny', 'allow'));
