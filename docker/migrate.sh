#!/bin/sh
# One-shot: apply pending migrations, then give the service roles their login passwords.
# Runs as the database owner (PGW_DATABASE_URL and PGW_DB_PASSWORD_* from migrate.env).
set -eu
node packages/cli/dist/main.js migrate
node packages/cli/dist/main.js db roles
