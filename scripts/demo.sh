#!/usr/bin/env bash
# The README's run command: sets the machine up, then brings up the demo lab with all services.
#   bash scripts/demo.sh [up [--ha]|down|status]   (--ha: an HA pair, two gateways with keepalived)
source "$(dirname "$0")/lib.sh"
require_root
cd "$REPO_ROOT"
[ "${1:-up}" = up ] && bash scripts/setup.sh
exec node --import tsx scripts/demo/demo.ts "${@:-up}"
