-- The exit-IP history (0014) keeps one row per proxy and address, but a proxy that rotates through a
-- large pool (a residential proxy with a new address per probe) would add a row per probe for ever:
-- the health service keeps each proxy's 1000 most recently seen addresses and deletes the rest.
GRANT DELETE ON proxy_exit_ips TO pgw_health;
