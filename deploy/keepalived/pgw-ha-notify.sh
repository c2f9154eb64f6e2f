#!/bin/sh
# keepalived's vrrp_notify_fifo_script (deploy/keepalived/keepalived-config.ts). keepalived starts
# it once, appends the FIFO's name to our arguments, and writes one line per event to the FIFO in
# the order the events happened: 'INSTANCE "pgw_lan" MASTER 150'. For every transition this
# replaces the state file given first with one line, and appends the same line to the events file
# given second: "<unix time with ms> <instance> <state> <priority> <keepalived pid>", e.g.
# "1764590000.123 pgw_lan MASTER 150 4242". The node's agent reads the state file
# (PGW_HA_STATE_FILE; services/agent/src/ha/ha-state.ts) and reports the state; the pid lets it see
# a keepalived that died without a transition.
#   vrrp_notify_fifo_script "/usr/local/lib/pgw/pgw-ha-notify.sh /var/lib/pgw/ha-state /var/lib/pgw/ha-events.log"
# Why a FIFO and not keepalived's `notify`: keepalived forks a notify script per transition and does
# not wait for it, so two quick transitions (MASTER, then FAULT when a service dies right after a
# takeover) ran two hooks at once and either could write last: the file said MASTER in FAULT.
#
# No `set -e`: one failed write (a full disk) must not end the loop and lose every later event.
# keepalived sends a script's stdout and stderr to /dev/null: a failure also goes to syslog (the
# journal under systemd), else the agent would go on reporting the last state written, unseen.
set -u
complain() {
  echo "pgw-ha-notify: $1" >&2
  logger -t pgw-ha-notify -p daemon.err -- "$1" 2>/dev/null || :
}
state_file=$1
events_file=$2
fifo=${3:-}
# Run by a keepalived.conf of before the FIFO (`notify`: our two arguments, then INSTANCE ...).
[ -p "$fifo" ] || { echo "pgw-ha-notify: '$fifo' is not a FIFO: render keepalived.conf again (deploy/keepalived/render.ts)" >&2; exit 2; }
# keepalived runs this script directly (no shell in between): the parent is its VRRP process, whose
# life keepalived's own is.
keepalived=$PPID
# keepalived starts it with SIGTERM as its parent-death signal: taken as EOF instead, so that the
# transitions still in the FIFO (STOP on shutdown) are written first. EOF comes once keepalived,
# which holds the FIFO's other end, is gone (or reloads and starts a new hook on a new FIFO).
trap '' HUP INT TERM PIPE
# The events file is history for people: past this size it becomes <file>.1 (the one before is
# dropped), so a pair that flaps for months cannot fill the disk (1 MiB is ~25000 transitions).
events_max=${PGW_HA_EVENTS_MAX_BYTES:-1048576}
case "$events_max" in '' | *[!0-9]*) complain "PGW_HA_EVENTS_MAX_BYTES='$events_max' is not a byte count: using 1048576"; events_max=1048576 ;; esac
# Each hook its own temporary file: after a reload the old one may still be writing.
tmp="$state_file.tmp.$$"
while read -r type name state priority; do
  [ "$type" = INSTANCE ] || continue
  # Only states: MASTER_RX_LOWER_PRI and the priority-change events are not transitions.
  case "$state" in MASTER | BACKUP | FAULT | STOP) ;; *) continue ;; esac
  name=${name#\"}
  name=${name%\"}
  line="$(date +%s.%3N) $name $state $priority $keepalived"
  # Written beside it and renamed: the agent never reads half a line.
  if printf '%s\n' "$line" > "$tmp" && mv -f "$tmp" "$state_file"; then :; else
    complain "cannot write $state_file (the agent reports the state before this one): $line"
  fi
  size=$(wc -c < "$events_file" 2>/dev/null) || size=0
  if [ "${size:-0}" -ge "$events_max" ]; then
    mv -f "$events_file" "$events_file.1" || complain "cannot rotate $events_file to $events_file.1 (it keeps growing)"
  fi
  printf '%s\n' "$line" >> "$events_file" || complain "cannot append to $events_file: $line"
done < "$fifo"
