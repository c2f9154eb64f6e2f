#!/bin/sh
# Refuses (exit 1, naming the path and the fix) a tree root runs code or rules from when anyone but
# root could change it: a file or directory in it, a file a symlink in it points at, or a directory
# above it not root's alone (whoever owns /home/dev may swap /home/dev/pgw). The tree's own path is
# resolved first: a symlinked /opt/pgw was judged as the link alone.
#   sh scripts/deploy/check-root-tree.sh /opt/pgw
set -eu
given=${1:?usage: check-root-tree.sh DIR}
tree=$(readlink -f -- "$given") || { echo "check-root-tree: $given does not resolve" >&2; exit 1; }
refuse() {
  name=$1
  [ ! -L "$1" ] || name="$1 -> $(readlink -f -- "$1")"
  echo "check-root-tree: $name is not root's alone ($(stat -L -c '%U:%G %A' -- "$1")): root runs pgw from $given; $2" >&2
  exit 1
}
dir=$(dirname -- "$tree")
while :; do
  [ "$(stat -c '%u' -- "$dir")" = 0 ] && [ -z "$(find "$dir" -maxdepth 0 -perm /022)" ] || refuse "$dir" "make every directory above it root's and not writable by others, or install elsewhere"
  [ "$dir" = / ] && break
  dir=$(dirname -- "$dir")
done
# -L: a symlink is judged by what it points at (root reads the target; a dangling one points at
# nothing); -xdev as before. A find that fails (a loop) ends the run, naming why.
foreign=$(find -L "$tree" -xdev ! -type l \( ! -user root -o -perm /022 \) -print -quit)
[ -z "$foreign" ] || refuse "$foreign" "chown -R root:root $tree && chmod -R go-w $tree (and the target of any symlink in it)"
