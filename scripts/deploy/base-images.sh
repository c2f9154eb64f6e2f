#!/usr/bin/env bash
# Local base images from Debian packages, for a site without a container registry: a root
# filesystem from `debootstrap --variant=minbase bookworm` (Debian's mirror, or the one in
# PGW_DEBIAN_MIRROR), plus the Debian packages each image needs and, where Node is needed, this
# machine's own Node 20 installation (Debian 12 has no Node 20: docs/DEPLOYMENT.md says why it is
# copied). Each root filesystem is cached as a tar under PGW_DEPLOY_CACHE (default
# /var/cache/pgw-deploy/base), named by a hash of everything that goes into it, and rebuilt only
# when that changes; an image already in the daemon with that hash is not imported again.
#   DOCKER_HOST=unix:///path/docker.sock bash scripts/deploy/base-images.sh [IMAGE...]
# Images (default: all): local/debian:bookworm  minbase only
#   local/pgw-node:bookworm     runtime and agent base: node (no npm), nftables, conntrack, iproute2
#   local/pgw-nft:bookworm      guard base: nftables
#   local/pgw-build:bookworm    build stage: node with npm and headers, python3, make, g++
#   local/pgw-postgres:bookworm postgresql (user postgres, uid 999 like the public image)
#   local/pgw-redis:bookworm    redis-server (user redis, uid 999 like the public image)
#   local/pgw-systemd:bookworm  systemd as PID 1 with what the systemd layout needs (DEPLOYMENT.md)
source "$(dirname "$0")/../lib.sh"
require_root
: "${DOCKER_HOST:?DOCKER_HOST must name the daemon to load the images into}"
cache=${PGW_DEPLOY_CACHE:-/var/cache/pgw-deploy}/base
mirror=${PGW_DEBIAN_MIRROR:-http://deb.debian.org/debian}
docker=${DOCKER:-/usr/bin/docker}
node_bin=$(readlink -f "$(command -v node)")
mkdir -p "$cache"

declare -A PACKAGES=(
  [local/debian:bookworm]=""
  [local/pgw-node:bookworm]="nftables conntrack iproute2"
  [local/pgw-nft:bookworm]="nftables"
  [local/pgw-build:bookworm]="python3 make g++"
  [local/pgw-postgres:bookworm]="postgresql-15"
  [local/pgw-redis:bookworm]="redis-server"
  [local/pgw-systemd:bookworm]="systemd systemd-sysv dbus nftables conntrack iproute2 postgresql-15 redis-server openssl procps"
)
# Where this machine's Node goes: nowhere, the binary alone, or the whole installation (npm, headers).
declare -A NODE=(
  [local/debian:bookworm]=none [local/pgw-nft:bookworm]=none [local/pgw-postgres:bookworm]=none [local/pgw-redis:bookworm]=none
  [local/pgw-node:bookworm]=binary [local/pgw-build:bookworm]=full [local/pgw-systemd:bookworm]=system
)
# Users created before the packages, so that the packages' own users get the public images' uids.
declare -A USERS=([local/pgw-postgres:bookworm]=postgres [local/pgw-redis:bookworm]=redis)

# Bump when the way an image is made changes (part of every image's hash, beside its packages and Node).
FORMAT=1
hash_of() {
  { echo "$FORMAT $1 ${PACKAGES[$1]} ${NODE[$1]} ${USERS[$1]:-} $mirror"; [ "${NODE[$1]}" = none ] || sha256sum "$node_bin"; } | sha256sum | cut -c1-16
}

minbase() { # the debootstrap root filesystem every image starts from
  local key tar
  key=$(echo "$FORMAT minbase bookworm $mirror" | sha256sum | cut -c1-16)
  tar="$cache/minbase-$key.tar"
  if [ ! -s "$tar" ]; then
    say "debootstrap --variant=minbase bookworm ($mirror)" >&2
    local dir; dir=$(mktemp -d "$cache/rootfs.XXXXXX")
    debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.log" 2>&1 || { cat "$dir.log" >&2; rm -rf "$dir"; die "debootstrap failed"; }
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir.log"
    tar -C "$dir" --numeric-owner -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
    rm -rf "$dir"
  fi
  echo "$tar"
}

copy_node() { # $1 rootfs, $2 binary | full | system
  case $2 in
    binary) install -D -m 0755 "$node_bin" "$1/usr/local/bin/node" ;;
    full)
      # The layout of the public node images (/usr/local), which docker/Dockerfile's build stage expects.
      install -D -m 0755 "$node_bin" "$1/usr/local/bin/node"
      mkdir -p "$1/usr/local/lib/node_modules" "$1/usr/local/include"
      cp -a /usr/lib/node_modules/npm "$1/usr/local/lib/node_modules/"
      cp -a /usr/include/node "$1/usr/local/include/"
      ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"
      ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx" ;;
    system) install -D -m 0755 "$node_bin" "$1/usr/bin/node" ;; # where the systemd units run it
  esac
}

build_rootfs() { # $1 image, $2 output tar
  local image=$1 out=$2 dir
  dir=$(mktemp -d "$cache/rootfs.XXXXXX")
  # EXIT, not RETURN: each build runs in its own subshell, and a failure there (die, set -e) exits it
  # without returning, which would leave /proc mounted and the half-made root filesystem behind.
  # The path is expanded now: by the time the subshell exits, the local $dir is gone.
  # shellcheck disable=SC2064
  trap "umount '$dir/proc' 2>/dev/null || true; rm -rf '$dir' '$dir.apt.log'" EXIT
  tar -C "$dir" -xf "$(minbase)"
  for user in ${USERS[$image]:-}; do
    chroot "$dir" groupadd --system --gid 999 "$user"
    chroot "$dir" useradd --system --uid 999 --gid "$user" --home-dir "/var/lib/$user" --shell /usr/sbin/nologin "$user"
  done
  if [ -n "${PACKAGES[$image]}" ]; then
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' > "$dir/usr/sbin/policy-rc.d"; chmod +x "$dir/usr/sbin/policy-rc.d"
    mount -t proc proc "$dir/proc"
    chroot "$dir" apt-get -o APT::Sandbox::User=root update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get -o APT::Sandbox::User=root install -y -qq --no-install-recommends ${PACKAGES[$image]} >/dev/null 2>"$dir.apt.log" || { cat "$dir.apt.log" >&2; die "apt-get install in $image failed"; }
    umount "$dir/proc"
    chroot "$dir" apt-get clean
    rm -rf "$dir"/var/lib/apt/lists/* "$dir/usr/sbin/policy-rc.d"
    : > "$dir/etc/resolv.conf"
  fi
  [ "${NODE[$image]}" = none ] || copy_node "$dir" "${NODE[$image]}"
  tar -C "$dir" --numeric-owner -cf "$out.tmp" . && mv "$out.tmp" "$out"
}

images=("$@")
[ ${#images[@]} -gt 0 ] || images=("${!PACKAGES[@]}")
# Root filesystems not cached yet are built side by side (each its own chroot, apt and downloads: the
# time goes to the mirror and to dpkg, not to one core), at most MAX_JOBS at a time.
MAX_JOBS=${PGW_BASE_JOBS:-3}
to_import=()
declare -A building=()
for image in "${images[@]}"; do
  [ -n "${NODE[$image]:-}" ] || die "unknown base image $image (known: ${!PACKAGES[*]})"
  hash=$(hash_of "$image")
  if [ "$("$docker" image inspect -f '{{index .Config.Labels "pgw.base-hash"}}' "$image" 2>/dev/null)" = "$hash" ]; then
    continue
  fi
  tar="$cache/$(echo "$image" | tr '/:' '__')-$hash.tar"
  to_import+=("$image $hash $tar")
  if [ ! -s "$tar" ]; then
    minbase >/dev/null # once, before the builds that start from it
    while [ "$(jobs -rp | wc -l)" -ge "$MAX_JOBS" ]; do wait -n || true; done
    say "building base image $image (${PACKAGES[$image]:-minbase}${NODE[$image]/none/}) from Debian packages"
    ( started=$SECONDS; build_rootfs "$image" "$tar"; echo "built in $((SECONDS - started)) s" ) >"$tar.log" 2>&1 &
    building[$image]="$! $tar"
  fi
done
failed=0
for image in "${!building[@]}"; do
  read -r pid tar <<<"${building[$image]}"
  if wait "$pid"; then say "base image $image: $(tail -1 "$tar.log")"; else cat "$tar.log" >&2; say "building base image $image failed"; failed=1; fi
  rm -f "$tar.log"
done
[ "$failed" = 0 ] || die "base images not built (the errors above)"
for entry in "${to_import[@]}"; do
  read -r image hash tar <<<"$entry"
  find "$cache" -maxdepth 1 -name "$(echo "$image" | tr '/:' '__')-*.tar" ! -name "${tar##*/}" -delete # older versions
  say "importing $image ($hash)"
  "$docker" import --change "LABEL pgw.base-hash=$hash" --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' "$tar" "$image" >/dev/null
done
