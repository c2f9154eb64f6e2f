#!/bin/sh
# Writes one env file per service into DIR (default /etc/pgw), mode 0600, with fresh random secrets,
# so that the passwords agree across files (each service role's password in migrate.env and in that
# service's database URL; one PGW_SECRET_KEY for health and forwarder, which open the proxy passwords,
# and its public key PGW_SECRET_PUBLIC_KEY for the api, which only seals them). Used by both the Compose
# and the systemd deployment. Never overwrites a file: rotating a secret is a deliberate, manual step.
# Redis: each service gets its own ACL user and password in its PGW_REDIS_URL, and redis-users.acl
# (for redis-server's aclfile) holds those users with only the SHA-256 of each password, so it is
# 0644 for the redis user to read. Its rules come from docker/redis-users.acl.in, which is rendered
# from packages/events/src/redis-acl.ts. The Postgres owner's password goes only to postgres.env and
# migrate.env: no long-running service gets it.
#   sh docker/generate-env.sh [DIR]
# Optional: PGW_REDIS_URL (default /run/redis/redis.sock), PGW_PG_SOCKET_DIR (default /var/run/postgresql).
# PGW_NODE_NAME (a node of an HA pair, issue 18): agent and forwarder get that node's own Redis users
# (pgw-agent-<node>, pgw-forwarder-<node>, from docker/redis-node-users.acl.in), granted only the node's
# keys, instead of the shared ones; redis-users-<node>.acl holds just those two lines for the aclfile
# of the pair's shared Redis (append the other node's file there too).
# PGW_SHARED_ENV=<the first node's DIR, copied over> (the second node of a pair, with PGW_NODE_NAME):
# every shared secret is taken from there (PGW_SECRET_KEY from health.env, the database role and owner passwords, the
# api's JWT/CSRF secrets, the api's and health's Redis users; no first admin: the shared database
# holds it), only this node's agent
# and forwarder Redis users are new. Both nodes use one Postgres and one Redis: fresh values there
# locked the other node out (and a proxy password sealed by one api was unreadable to the other).
set -eu
dir=${1:-/etc/pgw}
redis_url=${PGW_REDIS_URL:-/run/redis/redis.sock}
pg_socket=${PGW_PG_SOCKET_DIR:-/var/run/postgresql}
command -v openssl >/dev/null || { echo "generate-env: openssl is required" >&2; exit 1; }
acl_template="$(dirname "$0")/redis-users.acl.in"
[ -r "$acl_template" ] || { echo "generate-env: $acl_template is missing" >&2; exit 1; }
case $redis_url in
  /*|redis://*|rediss://*) ;;
  *) echo "generate-env: PGW_REDIS_URL must be a socket path or a redis:// URL without credentials" >&2; exit 1 ;;
esac
case $redis_url in *@*|*\?*) echo "generate-env: PGW_REDIS_URL must not carry credentials; each service gets its own" >&2; exit 1 ;; esac
node=${PGW_NODE_NAME:-}
node_template="$(dirname "$0")/redis-node-users.acl.in"
if [ -n "$node" ]; then
  # As nodeNameSchema (@pgw/events): the name ends key patterns, so no glob character may pass.
  case $node in [A-Za-z0-9]*) ;; *) echo "generate-env: PGW_NODE_NAME must start with a letter or digit, got '$node'" >&2; exit 1 ;; esac
  case $node in *[!A-Za-z0-9._-]*) echo "generate-env: PGW_NODE_NAME may hold only letters, digits, . _ -, got '$node'" >&2; exit 1 ;; esac
  [ ${#node} -le 63 ] || { echo "generate-env: PGW_NODE_NAME is longer than 63 characters" >&2; exit 1; }
  [ -r "$node_template" ] || { echo "generate-env: $node_template is missing" >&2; exit 1; }
fi
shared=${PGW_SHARED_ENV:-}
if [ -n "$shared" ]; then
  [ -n "$node" ] || { echo "generate-env: PGW_SHARED_ENV is for the second node of a pair: give its PGW_NODE_NAME too" >&2; exit 1; }
  for f in migrate.env api.env health.env; do
    [ -r "$shared/$f" ] || { echo "generate-env: PGW_SHARED_ENV: $shared/$f is missing or unreadable" >&2; exit 1; }
  done
fi
# A value of the shared files (every generated secret is hex): `file key`, or `file key url`, the
# password in a URL value. sed reads it from the file; no secret is ever in a command's arguments.
shared_value() {
  if [ $# -eq 2 ]; then
    v=$(sed -n "s/^$2=\([0-9a-f]*\)\$/\1/p" "$shared/$1")
  else
    v=$(sed -n -e "s/^$2=.*[?&]password=\([0-9a-f]*\).*/\1/p" -e "s|^$2=[a-z]*://[^:/]*:\([0-9a-f]*\)@.*|\1|p" "$shared/$1")
  fi
  [ -n "$v" ] || { echo "generate-env: PGW_SHARED_ENV: no $2 in $shared/$1" >&2; exit 1; }
  printf '%s' "$v"
}
# The agent's and forwarder's Redis user suffix: the service, or the service of this node.
own() { if [ -n "$node" ]; then printf '%s-%s' "$1" "$node"; else printf '%s' "$1"; fi; }
node_line() { [ -z "$node" ] || printf 'PGW_NODE_NAME=%s\n' "$node"; }
for f in postgres.env migrate.env api.env health.env agent.env forwarder.env redis-users.acl; do
  if [ -e "$dir/$f" ]; then echo "generate-env: $dir/$f exists, nothing written" >&2; exit 1; fi
done
umask 077
mkdir -p "$dir"
# Written into a directory of its own, moved into DIR at the end: a run that dies halfway leaves
# nothing behind, so the next one (which refuses to overwrite) can run.
work=$(mktemp -d "$dir/.generate-env.XXXXXX")
trap 'rm -rf "$work"' EXIT
secret() { openssl rand -hex "$1"; }
db_url() { printf 'postgres://%s:%s@/pgw?host=%s' "$1" "$2" "$pg_socket"; }
# A service's Redis URL: its ACL user pgw-<service> and password (hex, so no escaping is needed),
# put together by the shell alone: a command's arguments are readable by every local user (ps).
redis_for() {
  case $redis_url in
    /*) printf '%s?username=pgw-%s&password=%s' "$redis_url" "$1" "$2" ;;
    *) printf '%s://pgw-%s:%s@%s' "${redis_url%%://*}" "$1" "$2" "${redis_url#*://}" ;;
  esac
}
sha256() { printf '%s' "$1" | openssl dgst -sha256 -r | cut -d' ' -f1; }

if [ -n "$shared" ]; then
  owner_pw=$(shared_value migrate.env PGW_DATABASE_URL url)
  api_pw=$(shared_value migrate.env PGW_DB_PASSWORD_API); health_pw=$(shared_value migrate.env PGW_DB_PASSWORD_HEALTH)
  agent_pw=$(shared_value migrate.env PGW_DB_PASSWORD_AGENT); forwarder_pw=$(shared_value migrate.env PGW_DB_PASSWORD_FORWARDER)
  secret_key=$(shared_value health.env PGW_SECRET_KEY)
  jwt_secret=$(shared_value api.env PGW_JWT_SECRET); csrf_secret=$(shared_value api.env PGW_CSRF_SECRET)
  # No first admin: it is in the shared database already, and its password stays out of this node's
  # files (DEPLOYMENT.md has it removed from the first node's after its first start).
  admin_pw=
  redis_api=$(shared_value api.env PGW_REDIS_URL url); redis_health=$(shared_value health.env PGW_REDIS_URL url)
else
  owner_pw=$(secret 24); api_pw=$(secret 24); health_pw=$(secret 24); agent_pw=$(secret 24); forwarder_pw=$(secret 24)
  secret_key=$(secret 32); jwt_secret=$(secret 32); csrf_secret=$(secret 32); admin_pw=$(secret 12)
  redis_api=$(secret 32); redis_health=$(secret 32)
fi
redis_agent=$(secret 32); redis_forwarder=$(secret 32)
# The api's key seals the proxy passwords and opens none (the secret goes through a pipe).
secret_public_key=$(printf '%s\n' "$secret_key" | sh "$(dirname "$0")/secret-public-key.sh")

cat > "$work/postgres.env" <<END
# Compose only: the official postgres image creates this owner role and database at first start.
POSTGRES_USER=pgw_owner
POSTGRES_PASSWORD=$owner_pw
POSTGRES_DB=pgw
POSTGRES_INITDB_ARGS=--auth-local=scram-sha-256 --auth-host=scram-sha-256
END
cat > "$work/migrate.env" <<END
PGW_DATABASE_URL=$(db_url pgw_owner "$owner_pw")
PGW_DB_PASSWORD_API=$api_pw
PGW_DB_PASSWORD_HEALTH=$health_pw
PGW_DB_PASSWORD_AGENT=$agent_pw
PGW_DB_PASSWORD_FORWARDER=$forwarder_pw
END
cat > "$work/api.env" <<END
PGW_LOG_LEVEL=info
PGW_DATABASE_URL=$(db_url pgw_api "$api_pw")
PGW_REDIS_URL=$(redis_for api "$redis_api")
PGW_SECRET_PUBLIC_KEY=$secret_public_key
PGW_JWT_SECRET=$jwt_secret
PGW_CSRF_SECRET=$csrf_secret
$([ -z "$admin_pw" ] || printf 'PGW_ADMIN_USERNAME=admin\nPGW_ADMIN_PASSWORD=%s\n' "$admin_pw")
END
cat > "$work/health.env" <<END
PGW_LOG_LEVEL=info
PGW_DATABASE_URL=$(db_url pgw_health "$health_pw")
PGW_REDIS_URL=$(redis_for health "$redis_health")
PGW_SECRET_KEY=$secret_key
END
cat > "$work/agent.env" <<END
PGW_LOG_LEVEL=info
PGW_DATABASE_URL=$(db_url pgw_agent "$agent_pw")
PGW_REDIS_URL=$(redis_for "$(own agent)" "$redis_agent")
$(node_line)
END
cat > "$work/forwarder.env" <<END
PGW_LOG_LEVEL=info
PGW_DATABASE_URL=$(db_url pgw_forwarder "$forwarder_pw")
PGW_REDIS_URL=$(redis_for "$(own forwarder)" "$redis_forwarder")
PGW_SECRET_KEY=$secret_key
$(node_line)
END
sed -e "s/@PGW_REDIS_HASH_API@/$(sha256 "$redis_api")/" \
    -e "s/@PGW_REDIS_HASH_HEALTH@/$(sha256 "$redis_health")/" \
    -e "s/@PGW_REDIS_HASH_AGENT@/$(sha256 "$redis_agent")/" \
    -e "s/@PGW_REDIS_HASH_FORWARDER@/$(sha256 "$redis_forwarder")/" "$acl_template" > "$work/redis-users.acl"
if [ -n "$node" ]; then
  sed -e "s|@PGW_NODE_NAME@|$node|g" -e "s/@PGW_REDIS_HASH_AGENT@/$(sha256 "$redis_agent")/" \
      -e "s/@PGW_REDIS_HASH_FORWARDER@/$(sha256 "$redis_forwarder")/" "$node_template" > "$work/redis-users-$node.acl"
  # The pair has no shared agent or forwarder user: only this node's (and the peer's, appended by the operator).
  grep -v -e '^user pgw-agent ' -e '^user pgw-forwarder ' "$work/redis-users.acl" > "$work/redis-users.acl.tmp"
  cat "$work/redis-users-$node.acl" >> "$work/redis-users.acl.tmp"
  mv "$work/redis-users.acl.tmp" "$work/redis-users.acl"
  chmod 0644 "$work/redis-users-$node.acl"
fi
chmod 0644 "$work/redis-users.acl"
for f in "$work"/*; do mv "$f" "$dir/"; done
echo "generate-env: wrote postgres, migrate, api, health, agent, forwarder .env files to $dir (mode 0600)"
echo "generate-env: wrote $dir/redis-users.acl (password hashes only, 0644): redis-server's aclfile"
[ -z "$node" ] || echo "generate-env: node $node: its agent and forwarder users are also in $dir/redis-users-$node.acl; append that file to the aclfile of the pair's Redis, and the other node's too"
if [ -n "$admin_pw" ]; then echo "generate-env: the first admin's password is PGW_ADMIN_PASSWORD in $dir/api.env"
else echo "generate-env: no first admin written: the shared database has the first node's"; fi
