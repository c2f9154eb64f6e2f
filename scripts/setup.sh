#!/usr/bin/env bash
# Idempotent machine setup for a fresh Debian 12 with Node 20, as root: packages, users, npm ci,
# build, Postgres and Redis running, Postgres access for the pgw roles. `--tests` adds test tools,
# `--ha` keepalived (the demo's HA pair).
source "$(dirname "$0")/lib.sh"
require_root
cd "$REPO_ROOT"

# bind9-dnsutils: the demo asks DNS from a TPROXY client with dig (its `dns via proxy` line).
RUN_PACKAGES=(nftables iproute2 util-linux postgresql redis-server dante-server tinyproxy tcpdump iperf3 conntrack curl ca-certificates bind9-dnsutils)
# docker.io, debootstrap, docker-compose: the deploy group (its dockerd runs only inside a lab namespace).
TEST_PACKAGES=(redsocks chromium docker.io debootstrap docker-compose prometheus squid privoxy openssh-server openssh-client keepalived)
# keepalived: `demo.sh up --ha` (the HA pair) needs it too.
HA_PACKAGES=(keepalived)
packages=("${RUN_PACKAGES[@]}")
case "${1:-}" in
  --tests) packages+=("${TEST_PACKAGES[@]}") ;;
  --ha) packages+=("${HA_PACKAGES[@]}") ;;
  "") ;;
  *) die "unknown option '$1' (--tests or --ha)" ;;
esac

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] || die "Node.js 20 or newer is required (found: $(node -v 2>/dev/null || echo none))"

missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  # Keep the packaged daemons (danted, tinyproxy, redsocks, squid, privoxy, sshd, keepalived) from starting on the host: the lab runs its own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    # Removed however apt ends: left behind, it would stop every later package upgrade from restarting its daemon.
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  had_containerd=$(dpkg-query -W -f='${Status}' containerd 2>/dev/null | grep -c 'install ok installed' || true)
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # A Docker Engine in the machine's own namespace would add a bridge and iptables rules there: when
  # this run installed it, its units stay off (the tests start their own dockerd inside a namespace
  # they create). One the machine had before is the operator's (a Compose host's): left as it was.
  if [[ " ${missing[*]} " == *" docker.io "* ]] && command -v systemctl >/dev/null; then
    systemctl disable docker.service docker.socket >/dev/null 2>&1 || true
    # And containerd, when it came with it: a containerd running at its default address is the one
    # every dockerd uses, the tests' own included, whose host-network containers would then run in
    # the machine's namespace (the deploy tests refuse to start then).
    [ "$had_containerd" = 1 ] || systemctl disable --now containerd.service >/dev/null 2>&1 || true
  fi
fi

# keepalived_script: the HA checks' user (deploy/keepalived), for the HA lab and demo.
for user in pgw pgw-health pgw-api keepalived_script; do
  id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
done

if [ ! -f node_modules/.package-lock.json ] || ! cmp -s <(sha256sum package-lock.json) node_modules/.pgw-lock.sha256 2>/dev/null; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  sha256sum package-lock.json > node_modules/.pgw-lock.sha256
fi
bash scripts/build.sh

# Postgres: start the cluster if needed; let root administer it and the service roles log in with passwords.
pg_version=$(ls /etc/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
  say "starting PostgreSQL $pg_version"
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
fi
hba=/etc/postgresql/$pg_version/main/pg_hba.conf
# Service roles, and the per-test logins that are members of them ("+role"), use passwords over the socket.
hba_line='local all pgw_api,pgw_health,pgw_agent,pgw_forwarder,+pgw_api,+pgw_health,+pgw_agent,+pgw_forwarder scram-sha-256'
if ! grep -qxF "$hba_line" "$hba"; then
  say "allowing the pgw service roles to log in over the local socket (pg_hba.conf)"
  sed -i '/pgw-managed/,+1d' "$hba"
  sed -i "0,/^local/s//# pgw-managed: service roles authenticate with passwords over the socket\n$hba_line\n&/" "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main reload
fi
if ! psql -h /var/run/postgresql -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  runuser -u postgres -- createuser --superuser root
fi

# Redis: integration tests use the machine's Redis; the lab starts its own on a Unix socket.
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind '127.0.0.1 -::1' --port 6379 --save '' --appendonly no --dir /var/lib/redis --logfile /var/log/redis/pgw.log
  for _ in $(seq 50); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli ping >/dev/null 2>&1 || die "Redis did not answer on 127.0.0.1:6379 within 5 s (see /var/log/redis/pgw.log)"
fi
say "setup done"
