#!/bin/sh
# Refuses (exit 1, naming the path and the fix) a tree root runs code or rules from when anyone but
# root could change what root reads there: a file or directory in it, a directory above it or above
# any link on the way to it (whoever owns /home/dev may repoint /home/dev/current or swap
# /home/dev/pgw), a symlink in it that leads out of it (its target's directories are another's
# to change, or it dangles into a place another user may fill later), or another filesystem
# mounted in it (find -xdev did not look inside).
#   sh scripts/deploy/check-root-tree.sh /opt/pgw
set -eu
given=${1:?usage: check-root-tree.sh DIR}
tree=$(readlink -e -- "$given") || { echo "check-root-tree: $given does not resolve to an existing directory" >&2; exit 1; }
refuse() {
  name=$1
  [ ! -L "$1" ] || name="$1 -> $(readlink -m -- "$1")"
  echo "check-root-tree: $name is not root's alone ($(stat -L -c '%U:%G %A' -- "$1" 2>/dev/null || echo 'dangling')): root runs pgw from $given; $2" >&2
  exit 1
}
root_only() { [ "$(stat -L -c '%u' -- "$1")" = 0 ] && [ -z "$(find -H "$1" -maxdepth 0 -perm /022)" ]; }
# Every directory above $1, as written and as resolved.
check_above() {
  for start in "$(dirname -- "$1")" "$(dirname -- "$(readlink -m -- "$1")")"; do
    dir=$start
    while :; do
      root_only "$dir" || refuse "$dir" "make every directory above it root's and not writable by others, or install elsewhere"
      [ "$dir" = / ] && break
      dir=$(dirname -- "$dir")
    done
  done
}
# The way to the tree: each link on it, and what is above each.
path=$given
hops=0
while [ -L "$path" ]; do
  check_above "$path"
  target=$(readlink -- "$path")
  case $target in /*) path=$target ;; *) path=$(dirname -- "$path")/$target ;; esac
  hops=$((hops + 1))
  [ $hops -le 40 ] || { echo "check-root-tree: $given: too many levels of symbolic links" >&2; exit 1; }
done
check_above "$tree"
mounted=$(findmnt -rn -o TARGET | while IFS= read -r target; do case $target in "$tree"/*) printf '%s\n' "$target" ;; esac; done | head -n 1)
[ -z "$mounted" ] || refuse "$mounted" "another filesystem is mounted in the tree: unmount it, or install the tree on one filesystem"
links=$(find "$tree" -xdev -type l -print | while IFS= read -r link; do
  case $(readlink -m -- "$link") in "$tree"/*) ;; *) printf '%s\n' "$link" ;; esac
done | head -n 1)
[ -z "$links" ] || refuse "$links" "a symlink in the tree leads out of it: replace it by what it points at"
foreign=$(find "$tree" -xdev ! -type l \( ! -user root -o -perm /022 \) -print -quit)
[ -z "$foreign" ] || refuse "$foreign" "chown -R root:root $tree && chmod -R go-w $tree"
