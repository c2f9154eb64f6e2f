#!/bin/sh
# Loads guard/pgw-guard.nft (table inet pgw_guard) in one nft transaction, then the kernel
# backstop on the LAN interface named in it (docs/SECURITY.md, "Layers"): the policy routing rules
# that refuse LAN -> 127.0.0.0/8 without pgw's mark, IPv4 forwarding of packets arriving on it off,
# IPv6 on it off. All hold with no nft table and no pgw process.
# Safe to run again; route_localnet is left alone (the agent owns it while it runs).
#   guard/load-guard.sh                      in the current network namespace
#   ip netns exec <ns> guard/load-guard.sh   in a namespace (the lab)
# NFT overrides the nft binary (default /usr/sbin/nft), IP the ip binary (default /usr/sbin/ip).
set -eu
nft=${NFT:-/usr/sbin/nft}
ip=${IP:-/usr/sbin/ip}
file="$(cd "$(dirname "$0")" && pwd)/pgw-guard.nft"
"$nft" -c -f "$file"
"$nft" -f "$file"

lan=$(sed -n 's/^define PGW_LAN_IF = "\([^"]*\)"$/\1/p' "$file")
case "$lan" in
  '' | all | default | lo | *[!A-Za-z0-9_.-]*) echo "load-guard: PGW_LAN_IF in $file is not a usable interface name: '$lan'" >&2; exit 1 ;;
esac
# The route_localnet closure by policy routing (services/agent/src/lan/lan-routing.ts, same values):
# a LAN packet to 127.0.0.0/8 is delivered only with the mark table inet pgw sets on the flows it
# DNAT-ed, otherwise blackholed, even with every nft table flushed. The default local rule (pref 0)
# moves after ours: ours are added first, so local delivery never lacks a rule. iif matches by
# name, so the rules hold for an interface created later.
add_rule() {
  out=$("$ip" rule add "$@" 2>&1) || case "$out" in
    *'File exists'*) ;;
    *) echo "load-guard: ip rule add $*: $out" >&2; exit 1 ;;
  esac
}
add_rule pref 100 iif "$lan" to 127.0.0.0/8 fwmark 0x1000000/0x1000000 lookup local protocol 242
add_rule pref 101 iif "$lan" to 127.0.0.0/8 blackhole protocol 242
add_rule pref 102 lookup local protocol 242
"$ip" rule del pref 0 table local 2>/dev/null || true

if [ ! -d "/proc/sys/net/ipv4/conf/$lan" ]; then
  # Not there yet (renamed or created later): the nft table above still drops its forwarding,
  # and pgw-agent sets the backstop when it starts and on every reconcile.
  echo "load-guard: interface $lan does not exist yet; forwarding backstop left to pgw-agent" >&2
  exit 0
fi
echo 0 > "/proc/sys/net/ipv4/conf/$lan/forwarding"
if [ -e "/proc/sys/net/ipv6/conf/$lan/disable_ipv6" ]; then echo 1 > "/proc/sys/net/ipv6/conf/$lan/disable_ipv6"; fi
