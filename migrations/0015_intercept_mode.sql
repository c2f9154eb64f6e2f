-- How the kernel hands a client's TCP to the forwarder (issue 15, docs/ARCHITECTURE.md "TPROXY
-- mode"): 'dnat' to 127.0.0.1:<port> (route_localnet on the LAN interface), or 'tproxy' (nft
-- tproxy with policy routing, route_localnet stays 0). Existing gateways keep DNAT.
-- The api's UPDATE on settings and the agent's SELECT cover every column (0002).
ALTER TABLE settings
  ADD COLUMN intercept_mode text NOT NULL DEFAULT 'dnat'
    CONSTRAINT settings_intercept_mode_known CHECK (intercept_mode IN ('dnat', 'tproxy'));
