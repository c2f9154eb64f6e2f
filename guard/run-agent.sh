#!/bin/sh
# Runs the agent (the command given) and, after it exits in any way (crash, SIGKILL included),
# switches route_localnet off on every interface the agent switched it on for: a supervisor's
# equivalent of systemd's ExecStopPost= (docs/SECURITY.md, "Layers"). Used by the demo and the
# tests, which start the agent without systemd. Exits with the agent's status.
#   guard/run-agent.sh node services/agent/bundle/main.js
# Run it with the agent's privileges (root, CAP_NET_ADMIN only): the reset runs with the same.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
"$@" &
agent=$!
# A stop request goes to the agent, which stops gracefully; the loop below then sees it exit.
trap 'kill -TERM "$agent" 2>/dev/null' TERM INT HUP
while :; do
  wait "$agent"
  status=$?
  kill -0 "$agent" 2>/dev/null || break
done
"${NODE:-node}" "$here/../services/agent/dist/stopped.js" || [ "$status" -ne 0 ] || status=1
exit "$status"
