#!/bin/sh
# Loads guard/pgw-guard.nft (table inet pgw_guard) in one nft transaction; safe to run again.
#   guard/load-guard.sh                      in the current network namespace
#   ip netns exec <ns> guard/load-guard.sh   in a namespace (the lab)
# NFT overrides the nft binary (default /usr/sbin/nft).
set -eu
nft=${NFT:-/usr/sbin/nft}
file="$(cd "$(dirname "$0")" && pwd)/pgw-guard.nft"
"$nft" -c -f "$file"
exec "$nft" -f "$file"
