#!/bin/sh
# Loads the kernel backstop on the LAN interface named in guard/pgw-guard.nft (docs/SECURITY.md,
# "Layers": IPv4 forwarding of packets arriving on it off, IPv6 on it off), then the file (table inet
# pgw_guard) in one nft transaction, then the policy routing rules that refuse LAN -> 127.0.0.0/8
# without pgw's mark. All hold with no pgw process; the backstop holds with no nft table at all.
# The backstop comes first: it is one write the kernel applies at once, needs no parser and no
# table, and so covers the time nft takes (a starved box at boot) and any moment a table is listed
# and not yet in force (two CI boots forwarded a client's connection in that moment).
# Safe to run again; route_localnet is left alone (the agent owns it while it runs).
#   guard/load-guard.sh                      in the current network namespace
#   ip netns exec <ns> guard/load-guard.sh   in a namespace (the lab)
# NFT overrides the nft binary (default /usr/sbin/nft), IP the ip binary (default /usr/sbin/ip).
set -eu
nft=${NFT:-/usr/sbin/nft}
ip=${IP:-/usr/sbin/ip}
file="$(cd "$(dirname "$0")" && pwd)/pgw-guard.nft"

# Whatever fails below, the rest is still done (each layer holds alone), and the exit is 1.
rc=0
lan=$(sed -n 's/^define PGW_LAN_IF = "\([^"]*\)"$/\1/p' "$file")
case "$lan" in
  '' | all | default | lo | *[!A-Za-z0-9_.-]*)
    # nft may well take the line (a comment after it, other spacing): the table still loads below.
    echo "load-guard: PGW_LAN_IF in $file is not a usable interface name: '$lan' (write it as: define PGW_LAN_IF = \"ens19\")" >&2
    lan=
    rc=1
    ;;
esac
# Even when the nft file below is refused: forwarding off on the LAN is pgw's state at every moment
# (the agent asserts it on every run), never a change an operator would have to undo.
if [ -z "$lan" ]; then
  :
elif [ -d "/proc/sys/net/ipv4/conf/$lan" ]; then
  echo 0 > "/proc/sys/net/ipv4/conf/$lan/forwarding" || { echo "load-guard: cannot switch IPv4 forwarding off on $lan" >&2; rc=1; }
  if [ -e "/proc/sys/net/ipv6/conf/$lan/disable_ipv6" ]; then
    echo 1 > "/proc/sys/net/ipv6/conf/$lan/disable_ipv6" || { echo "load-guard: cannot switch IPv6 off on $lan" >&2; rc=1; }
  fi
else
  # Not there yet (renamed or created later): the nft table below still drops its forwarding,
  # and pgw-agent sets the backstop when it starts and on every reconcile.
  echo "load-guard: interface $lan does not exist yet; forwarding backstop left to pgw-agent" >&2
fi

# The kernel ORs all's route_localnet with the LAN's: at 1 the LAN is open to 127.0.0.0/8 whatever
# pgw writes on it. Another tool's setting, said and left (the agent reports it while it runs).
if [ "$(cat /proc/sys/net/ipv4/conf/all/route_localnet 2>/dev/null)" = 1 ]; then
  echo "load-guard: net.ipv4.conf.all.route_localnet is 1, so every interface, the LAN included, accepts packets to 127.0.0.0/8; set it to 0" >&2
fi

# A file nft refuses (a typo in an edit) loads nothing, all or nothing: the routing rules below
# still go in (with route_localnet on at boot, as Compose hosts have it, they alone keep the LAN
# off 127.0.0.0/8).
if ! out=$("$nft" -c -f "$file" 2>&1 && "$nft" -f "$file" 2>&1); then
  echo "load-guard: nft refused $file, table inet pgw_guard not loaded: $out" >&2
  rc=1
fi
[ -n "$lan" ] || exit 1

# The route_localnet closure by policy routing (services/agent/src/lan/lan-routing.ts, same values):
# a LAN packet to 127.0.0.0/8 is delivered only with the mark table inet pgw sets on the flows it
# DNAT-ed, otherwise blackholed, even with every nft table flushed. The default local rule (pref 0)
# moves after ours: ours are added first, so local delivery never lacks a rule. iif matches by
# name, so the rules hold for an interface created later.
# One refused rule does not stop the next: the blackhole (101) holds without the marked pass (100).
add_rule() {
  out=$("$ip" rule add "$@" 2>&1) || case "$out" in
    *'File exists'*) ;;
    *) echo "load-guard: ip rule add $*: $out" >&2; rc=1; return 1 ;;
  esac
}
add_rule pref 100 iif "$lan" to 127.0.0.0/8 fwmark 0x1000000/0x1000000 lookup local protocol 242 || :
add_rule pref 101 iif "$lan" to 127.0.0.0/8 blackhole protocol 242 || :
# The kernel's pref 0 goes only once local delivery has pgw's rule: the box's own loopback needs one.
# Made with the kernel's protocol, as pref 0 was: a network manager that deletes the rules it did
# not make but the kernel's (systemd-networkd by default) leaves it (lan-routing.ts says more).
if add_rule pref 102 lookup local protocol kernel; then
  "$ip" rule del pref 0 table local 2>/dev/null || true
fi
exit "$rc"
