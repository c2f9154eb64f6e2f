#!/bin/sh
# Writes one env file per service into DIR (default /etc/pgw), mode 0600, with fresh random secrets,
# so that the passwords agree across files (each service role's password in migrate.env and in that
# service's database URL; one PGW_SECRET_KEY for api, health and forwarder). Used by both the Compose
# and the systemd deployment. Never overwrites a file: rotating a secret is a deliberate, manual step.
#   sh docker/generate-env.sh [DIR]
# Optional: PGW_REDIS_URL (default /run/redis/redis.sock), PGW_PG_SOCKET_DIR (default /var/run/postgresql).
set -eu
dir=${1:-/etc/pgw}
redis_url=${PGW_REDIS_URL:-/run/redis/redis.sock}
pg_socket=${PGW_PG_SOCKET_DIR:-/var/run/postgresql}
command -v openssl >/dev/null || { echo "generate-env: openssl is required" >&2; exit 1; }
for f in postgres migrate api health agent forwarder; do
  if [ -e "$dir/$f.env" ]; then echo "generate-env: $dir/$f.env exists, nothing written" >&2; exit 1; fi
done
umask 077
mkdir -p "$dir"
secret() { openssl rand -hex "$1"; }
db_url() { printf 'postgres://%s:%s@/pgw?host=%s' "$1" "$2" "$pg_socket"; }

owner_pw=$(secret 24); api_pw=$(secret 24); health_pw=$(secret 24); agent_pw=$(secret 24); forwarder_pw=$(secret 24)
secret_key=$(secret 32)

cat > "$dir/postgres.env" <<END
# Compose only: the official postgres image creates this owner role and database at first start.
POSTGRES_USER=pgw_owner
POSTGRES_PASSWORD=$owner_pw
POSTGRES_DB=pgw
POSTGRES_INITDB_ARGS=--auth-local=scram-sha-256 --auth-host=scram-sha-256
END
cat > "$dir/migrate.env" <<END
PGW_DATABASE_URL=$(db_url pgw_owner "$owner_pw")
PGW_DB_PASSWORD_API=$api_pw
PGW_DB_PASSWORD_HEALTH=$health_pw
PGW_DB_PASSWORD_AGENT=$agent_pw
PGW_DB_PASSWORD_FORWARDER=$forwarder_pw
END
cat > "$dir/api.env" <<END
PGW_LOG_LEVEL=info
PGW_DATABASE_URL=$(db_url pgw_api "$api_pw")
PGW_REDIS_URL=$redis_url
PGW_SECRET_KEY=$secret_key
PGW_JWT_SECRET=$(secret 32)
PGW_CSRF_SECRET=$(secret 32)
PGW_ADMIN_USERNAME=admin
PGW_ADMIN_PASSWORD=$(secret 12)
END
cat > "$dir/health.env" <<END
PGW_LOG_LEVEL=info
PGW_DATABASE_URL=$(db_url pgw_health "$health_pw")
PGW_REDIS_URL=$redis_url
PGW_SECRET_KEY=$secret_key
END
cat > "$dir/agent.env" <<END
PGW_LOG_LEVEL=info
PGW_DATABASE_URL=$(db_url pgw_agent "$agent_pw")
PGW_REDIS_URL=$redis_url
END
cat > "$dir/forwarder.env" <<END
PGW_LOG_LEVEL=info
PGW_DATABASE_URL=$(db_url pgw_forwarder "$forwarder_pw")
PGW_REDIS_URL=$redis_url
PGW_SECRET_KEY=$secret_key
END
echo "generate-env: wrote postgres, migrate, api, health, agent, forwarder .env files to $dir (mode 0600)"
echo "generate-env: the first admin's password is PGW_ADMIN_PASSWORD in $dir/api.env"
