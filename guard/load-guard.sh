#!/bin/sh
# Loads guard/pgw-guard.nft (table inet pgw_guard) in one nft transaction, then the kernel
# backstop on the LAN interface named in it (docs/SECURITY.md, "Layers"): IPv4 forwarding of
# packets arriving on it off, IPv6 on it off. Both hold with no nft table and no pgw process.
# Safe to run again; route_localnet is left alone (the agent owns it while it runs).
#   guard/load-guard.sh                      in the current network namespace
#   ip netns exec <ns> guard/load-guard.sh   in a namespace (the lab)
# NFT overrides the nft binary (default /usr/sbin/nft).
set -eu
nft=${NFT:-/usr/sbin/nft}
file="$(cd "$(dirname "$0")" && pwd)/pgw-guard.nft"
"$nft" -c -f "$file"
"$nft" -f "$file"

lan=$(sed -n 's/^define PGW_LAN_IF = "\([^"]*\)"$/\1/p' "$file")
case "$lan" in
  '' | all | default | lo | *[!A-Za-z0-9_.-]*) echo "load-guard: PGW_LAN_IF in $file is not a usable interface name: '$lan'" >&2; exit 1 ;;
esac
if [ ! -d "/proc/sys/net/ipv4/conf/$lan" ]; then
  # Not there yet (renamed or created later): the nft table above still drops its forwarding,
  # and pgw-agent sets the backstop when it starts and on every reconcile.
  echo "load-guard: interface $lan does not exist yet; forwarding backstop left to pgw-agent" >&2
  exit 0
fi
echo 0 > "/proc/sys/net/ipv4/conf/$lan/forwarding"
if [ -e "/proc/sys/net/ipv6/conf/$lan/disable_ipv6" ]; then echo 1 > "/proc/sys/net/ipv6/conf/$lan/disable_ipv6"; fi
