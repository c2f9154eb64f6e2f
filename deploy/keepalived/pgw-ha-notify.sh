#!/bin/sh
# keepalived notify hook: appends one line per VRRP transition to the events file given first,
# "<unix time with ms> <instance> <state> <priority>", e.g. "1764590000.123 pgw_lan MASTER 150".
# keepalived adds its own arguments after ours: type ("INSTANCE"), name, state, priority.
#   notify "/usr/local/lib/pgw/pgw-ha-notify.sh /var/lib/pgw/ha-events.log"
set -eu
file=$1
name=$3
state=$4
priority=${5:-}
printf '%s %s %s %s\n' "$(date +%s.%3N)" "$name" "$state" "$priority" >> "$file"
