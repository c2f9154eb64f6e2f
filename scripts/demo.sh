#!/usr/bin/env bash
# The README's run command: sets the machine up, then brings up the demo lab with all services.
#   bash scripts/demo.sh [up [--ha]|down|status]   (--ha: an HA pair, two gateways with keepalived)
source "$(dirname "$0")/lib.sh"
require_root
cd "$REPO_ROOT"
# The HA pair needs keepalived, which only `--ha` (or `--tests`) installs.
if [ "${1:-up}" = up ]; then
  if [ "${2:-}" = --ha ]; then bash scripts/setup.sh --ha; else bash scripts/setup.sh; fi
fi
exec node --import tsx scripts/demo/demo.ts "${@:-up}"
