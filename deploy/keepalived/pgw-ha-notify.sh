#!/bin/sh
# keepalived notify hook (deploy/keepalived/keepalived-config.ts). On every VRRP transition it
# replaces the state file given first with one line, and appends the same line to the events file
# given second: "<unix time with ms> <instance> <state> <priority> <keepalived pid>", e.g.
# "1764590000.123 pgw_lan MASTER 150 4242". The node's agent reads the state file
# (PGW_HA_STATE_FILE; services/agent/src/ha/ha-state.ts) and reports the state; the pid lets it see a
# keepalived that died without a transition. keepalived adds its own arguments after ours: type
# ("INSTANCE"), name, state, priority.
#   notify "/usr/local/lib/pgw/pgw-ha-notify.sh /var/lib/pgw/ha-state /var/lib/pgw/ha-events.log"
set -eu
state_file=$1
events_file=$2
name=$4
state=$5
priority=${6:-0}
# keepalived runs this script directly (no shell in between): the parent is its VRRP process.
line="$(date +%s.%3N) $name $state $priority $PPID"
# Written beside it and renamed: the agent never reads half a line.
printf '%s\n' "$line" > "$state_file.tmp"
mv -f "$state_file.tmp" "$state_file"
printf '%s\n' "$line" >> "$events_file"
