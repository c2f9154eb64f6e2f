#!/bin/sh
# Installs the Debian packages named, unless the base image has every one of them already: the
# local bases (scripts/deploy/base-images.sh) do, because their build runs without network.
#   pgw-apt-install PACKAGE...
set -eu
missing=
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
[ -n "$missing" ] || exit 0
apt-get update
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
rm -rf /var/lib/apt/lists/*
