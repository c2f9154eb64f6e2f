#!/bin/sh
# Entry point of the Debian-package Postgres image (docker/stores.Dockerfile): at the first start
# (empty PGDATA) creates the cluster with POSTGRES_USER as its superuser, POSTGRES_PASSWORD,
# POSTGRES_INITDB_ARGS and the database POSTGRES_DB, as the public image does; then runs the command.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_USER:?}" "${POSTGRES_PASSWORD:?}" "${POSTGRES_DB:?}"
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  # shellcheck disable=SC2086
  initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 ${POSTGRES_INITDB_ARGS:-} >/dev/null
  rm -f "$pwfile"
  # Single-user mode: no listener, no authentication, before the server is ever reachable.
  printf 'CREATE DATABASE "%s" OWNER "%s";\n' "$POSTGRES_DB" "$POSTGRES_USER" | postgres --single -D "$PGDATA" -c listen_addresses= postgres >/dev/null
  echo "pgw-postgres-init: created the cluster, owner $POSTGRES_USER, database $POSTGRES_DB"
fi
exec "$@"
