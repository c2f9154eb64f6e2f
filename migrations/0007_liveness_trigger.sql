-- The health service's liveness connection records a proxy's death as a check with trigger
-- 'liveness' (it saw the proxy refuse, reset or go silent, without waiting for the next probe).
ALTER TABLE proxy_checks DROP CONSTRAINT proxy_checks_trigger_check;
ALTER TABLE proxy_checks ADD CONSTRAINT proxy_checks_trigger_check
  CHECK (trigger IN ('periodic', 'on_demand', 'upstream_failure', 'liveness'));
