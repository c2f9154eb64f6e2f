#!/bin/sh
# keepalived track script (deploy/keepalived/keepalived-config.ts): exits 0 only while the local
# pgw service on the given metrics port answers its /readyz with 200, and that port is held by the
# service's own user. A node whose agent or forwarder is down, or up with nothing to enforce or
# relay yet (a first boot with Postgres away: /readyz 503), thus enters FAULT and gives up the
# virtual IP (docs/DEPLOYMENT.md, "HA pair"). The owner is checked because any local user can
# bind a loopback port while the service restarts, and answer in its place.
#   pgw-ha-check.sh 9101 root
set -eu
port=${1:-}
user=${2:-}
case "$port" in '' | *[!0-9]*) echo "pgw-ha-check: port must be a number, got '$port'" >&2; exit 2 ;; esac
[ -n "$user" ] || { echo "pgw-ha-check: the service's user is missing (pgw-ha-check.sh <port> <user>)" >&2; exit 2; }
uid=$(id -u "$user") || { echo "pgw-ha-check: no user '$user'" >&2; exit 2; }
# Fields by position: state, queues, local and peer address, then uid:<n> (absent for root's
# sockets: ino:<n> comes first). Never by pattern: ss ends the line with the socket's cgroup path,
# which any user can name in a cgroup subtree delegated to them (".../x uid:0").
owner=$(/usr/bin/ss -Hltne "sport = :$port" | awk -v local="127.0.0.1:$port" '
  $4 != local { next }
  { n++ }
  $6 ~ /^uid:[0-9]+$/ { owner = substr($6, 5); next }
  $6 ~ /^ino:[0-9]+$/ { owner = 0; next }
  { owner = "unknown" }
  END { if (n == 1) print owner; else if (n > 1) print "several" }')
[ -n "$owner" ] || { echo "pgw-ha-check: nothing listens on 127.0.0.1:$port" >&2; exit 1; }
[ "$owner" = "$uid" ] || { echo "pgw-ha-check: 127.0.0.1:$port is held by uid $owner, not by $user (uid $uid)" >&2; exit 1; }
# A 503's body names why the service is not ready: printed for whoever runs the check by hand.
answer=$(/usr/bin/curl -s --max-time 2 -w ' HTTP %{http_code}' "http://127.0.0.1:$port/readyz") || { echo "pgw-ha-check: no answer from 127.0.0.1:$port/readyz" >&2; exit 1; }
case "$answer" in
*' HTTP 200') exit 0 ;;
# A service from before /readyz (an upgrade that installed this script first): its /healthz.
*' HTTP 404') exec /usr/bin/curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/healthz" ;;
*) echo "pgw-ha-check: 127.0.0.1:$port not ready: $(printf '%s' "$answer" | tr '\n' ' ')" >&2; exit 1 ;;
esac
