#!/usr/bin/env bash
# Runs every benchmark in turn (each prints a table and ends with one JSON line of its figures).
source "$(dirname "$0")/lib.sh"
require_root
cd "$REPO_ROOT"
bash scripts/setup.sh --tests
for bench in reconcile forwarder idle-connector rtt footprint killswitch health-scale api reboot restart selfheal chaos shaping accounting udp failover; do
  say "bench:$bench"
  npm run --silent "bench:$bench"
done
