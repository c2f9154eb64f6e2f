-- "Proxy does not proxy" by the proxy's own address (issue 17). A proxy whose clients should leave
-- from another address than the one they dial (a pool or rotating gateway, a chain, a load balancer
-- in front of exits) sets exit_differs; a successful probe whose exit IP is the address the probe
-- dialed then raises the `proxy_address` alarm. Off by default: a plain proxy on a server (dante,
-- squid, 3proxy on a VPS) exits from its own address, so an alarm there would be false by design.
ALTER TABLE proxies ADD COLUMN exit_differs boolean NOT NULL DEFAULT false;

-- The operator's setting (0004: pgw_api writes only the columns it is granted); health reads it
-- with its table-wide SELECT.
GRANT INSERT (exit_differs), UPDATE (exit_differs) ON proxies TO pgw_api;
