#!/usr/bin/env bash
# Installs pgw, built at /opt/pgw (`npm ci && npm run build`), on a Debian 12 host with systemd,
# Debian's postgresql and redis-server, nftables and conntrack: the steps of docs/DEPLOYMENT.md,
# "systemd", in that order and nothing else, so that test/deploy/systemd.test.ts (which runs this
# script in a booted systemd machine) proves the documented steps. Safe to run again: every step
# checks first. Ends with `systemctl enable --now pgw-guard.service pgw.target`.
#   sudo bash /opt/pgw/scripts/deploy/install-systemd.sh
# PGW_HOME (default /opt/pgw), PGW_ETC (default /etc/pgw).
set -Eeuo pipefail
# set -e ends the run at a failed step, often without a word from it: say where.
trap 'echo "install-systemd: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
home=${PGW_HOME:-/opt/pgw}
etc=${PGW_ETC:-/etc/pgw}
say() { printf 'install-systemd: %s\n' "$*"; }
[ "$(id -u)" = 0 ] || { echo "install-systemd: run as root" >&2; exit 1; }
[ -f "$home/services/agent/bundle/main.js" ] || { echo "install-systemd: no built pgw at $home (npm ci && npm run build)" >&2; exit 1; }
# Root runs the agent, its ExecStopPost and the guard's nft file from $home: whoever may change a
# file there (its owner, or its group or everyone by its mode), what a symlink there points at, or
# a directory above it would be root with the firewall.
sh "$home/scripts/deploy/check-root-tree.sh" "$home"

say "users pgw, pgw-api, pgw-health"
for user in pgw pgw-api pgw-health; do
  id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
done

say "env files in $etc"
[ -e "$etc/api.env" ] || sh "$home/docker/generate-env.sh" "$etc" >/dev/null
if grep -q '^PGW_SECRET_KEY=' "$etc/api.env"; then
  # An api.env from before 1.2: the api now seals proxy passwords to the public key and refuses the
  # secret one, which opens them all. The key comes from health.env (the one that opens them), through
  # a pipe, never an argument; the file is replaced whole, 0600.
  say "api.env: PGW_SECRET_KEY replaced by its public key PGW_SECRET_PUBLIC_KEY (the api seals proxy passwords and cannot open them)"
  public_key=$(sed -n 's/^PGW_SECRET_KEY=//p' "$etc/health.env" | sh "$home/docker/secret-public-key.sh")
  (umask 077; { grep -v -e '^PGW_SECRET_KEY=' -e '^PGW_SECRET_PUBLIC_KEY=' "$etc/api.env"; printf 'PGW_SECRET_PUBLIC_KEY=%s\n' "$public_key"; } > "$etc/api.env.new")
  mv "$etc/api.env.new" "$etc/api.env"
fi

say "PostgreSQL: role pgw_owner, database pgw, password logins for the pgw roles over the socket"
pg_version=$(ls /etc/postgresql | sort -n | tail -1)
hba=/etc/postgresql/$pg_version/main/pg_hba.conf
hba_line='local pgw pgw_owner,pgw_api,pgw_health,pgw_agent,pgw_forwarder scram-sha-256'
if ! grep -qxF "$hba_line" "$hba"; then
  # Before Debian's `local all all peer`: the first matching line decides.
  sed -i "0,/^local/s//$hba_line\n&/" "$hba"
fi
systemctl start postgresql.service
systemctl reload "postgresql@$pg_version-main.service"
owner_pw=$(sed -n 's/^POSTGRES_PASSWORD=//p' "$etc/postgres.env")
psql_admin() { runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qAt "$@"; }
if [ "$(psql_admin -c "select 1 from pg_roles where rolname = 'pgw_owner'")" != 1 ]; then
  # Its SCRAM verifier, not the password, in the statement (the server may log DDL), computed by
  # @pgw/crypto from the password on stdin, never in an argument (any local user can read argv: ps).
  verifier=$(printf '%s' "$owner_pw" | node --input-type=module -e "import { readFileSync } from 'node:fs'; import { scramSha256Verifier } from '$home/packages/crypto/dist/index.js'; process.stdout.write(scramSha256Verifier(readFileSync(0, 'utf8')))")
  printf "\\set pw '%s'\nCREATE ROLE pgw_owner LOGIN PASSWORD :'pw';\n" "$verifier" | psql_admin
fi
[ "$(psql_admin -c "select 1 from pg_database where datname = 'pgw'")" = 1 ] || runuser -u postgres -- createdb -O pgw_owner pgw

say "Redis: socket /run/redis/redis.sock (group redis, 0770), ACL users from $etc/redis-users.acl"
# $etc/redis-users.acl is the source (an HA pair's peer lines are appended there, DEPLOYMENT.md): the
# installed copy follows it, and Redis restarts only when the copy or the config changed (a restart
# drops every client's connection; a second run changes nothing).
redis_state() { { cat /etc/redis/pgw-users.acl 2>/dev/null || true; cat /etc/redis/redis.conf; } | sha256sum; }
redis_before=$(redis_state)
cmp -s "$etc/redis-users.acl" /etc/redis/pgw-users.acl || install -m 0640 -g redis "$etc/redis-users.acl" /etc/redis/pgw-users.acl
conf=/etc/redis/redis.conf
set_redis() { # $1 directive, $2 value: replaces the directive (commented or not) or appends it
  grep -qxF "$1 $2" "$conf" && return
  if grep -qE "^#? ?$1 " "$conf"; then sed -i -E "s|^#? ?$1 .*|$1 $2|" "$conf"; else echo "$1 $2" >> "$conf"; fi
}
set_redis unixsocket /run/redis/redis.sock
set_redis unixsocketperm 770
set_redis aclfile /etc/redis/pgw-users.acl
if [ "$(redis_state)" != "$redis_before" ] || ! systemctl is-active --quiet redis-server.service; then
  systemctl restart redis-server.service
fi

say "units in /etc/systemd/system, each Node service in group redis (the socket's group)"
install -m 0644 "$home"/systemd/pgw*.service "$home"/systemd/pgw*.socket "$home"/systemd/pgw.target /etc/systemd/system/
for unit in pgw-agent pgw-forwarder pgw-health pgw-api; do
  mkdir -p "/etc/systemd/system/$unit.service.d"
  printf '[Service]\nSupplementaryGroups=redis\n' > "/etc/systemd/system/$unit.service.d/redis.conf"
done

say "schema and service roles (pgw migrate, pgw db roles), CREATEROLE lent to pgw_owner for these steps only"
# The owner creates the service roles (migration 0002) and sets their passwords. On PostgreSQL 15 a
# CREATEROLE role may grant itself pg_execute_server_program (COPY ... PROGRAM: commands as the
# postgres user), so it holds CREATEROLE only while these run, and never afterwards, failed or not
# (an owner created with it by an earlier install loses it here too).
psql_admin -c 'ALTER ROLE pgw_owner CREATEROLE'
trap "psql_admin -c 'ALTER ROLE pgw_owner NOCREATEROLE'" EXIT
(set -a; . "$etc/migrate.env"; set +a; cd "$home" && node packages/cli/dist/main.js migrate >/dev/null && node packages/cli/dist/main.js db roles >/dev/null)
psql_admin -c 'ALTER ROLE pgw_owner NOCREATEROLE'
trap - EXIT

say "systemctl enable --now pgw-guard.service pgw.target"
systemctl daemon-reload
systemctl enable --now pgw-guard.service pgw.target
# An upgrade: an active guard keeps the previous file's table until reloaded (enable --now leaves
# an active oneshot alone); loading it again is one transaction, never a moment without it.
systemctl reload pgw-guard.service
