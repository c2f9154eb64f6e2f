#!/bin/sh
# keepalived track script (deploy/keepalived/keepalived-config.ts): exits 0 only while the local
# pgw service on the given metrics port answers its /healthz. A node whose agent or forwarder is
# unhealthy thus enters FAULT and gives up the virtual IP (docs/DEPLOYMENT.md, "HA pair").
#   pgw-ha-check.sh 9101
set -eu
port=$1
case "$port" in '' | *[!0-9]*) echo "pgw-ha-check: port must be a number, got '$port'" >&2; exit 2 ;; esac
exec /usr/bin/curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/healthz"
