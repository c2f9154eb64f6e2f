#!/usr/bin/env bash
# Builds the images a deployment test runs, with no container registry and no network during the
# build (`docker build --network none`), into the daemon at DOCKER_HOST. Layout compose (default):
#   pgw, pgw-agent, pgw-guard    docker/Dockerfile (runtime, agent, guard) on the local bases
#   pgw-postgres, pgw-redis      docker/stores.Dockerfile (Debian's postgresql-15 and redis-server)
# layout systemd: pgw (runtime) and
#   pgw-machine                  docker/systemd.Dockerfile: a Debian host booting systemd, with pgw at /opt/pgw
# all tagged ${PGW_VERSION:-1.1.0-dev}. The local bases come from scripts/deploy/base-images.sh;
# npm packages come from an npm cache that `npm ci` on this machine fills (PGW_DEPLOY_CACHE/npm), copied into the
# build context: the only step that needs the npm registry (or PGW's npm mirror), once per lock file. Then: PGW_POSTGRES_IMAGE=pgw-postgres:<version> PGW_REDIS_IMAGE=pgw-redis:<version>
# docker-compose up -d --no-build (docs/DEPLOYMENT.md, "Offline site").
#   DOCKER_HOST=unix:///path/docker.sock bash scripts/deploy/build-images.sh [compose|systemd]...
source "$(dirname "$0")/../lib.sh"
require_root
: "${DOCKER_HOST:?DOCKER_HOST must name the daemon to build in}"
cd "$REPO_ROOT"
version=${PGW_VERSION:-1.1.0-dev}
docker=${DOCKER:-/usr/bin/docker}
cache=${PGW_DEPLOY_CACHE:-/var/cache/pgw-deploy}
npm_cache=$cache/npm

layouts=("$@")
[ ${#layouts[@]} -gt 0 ] || layouts=(compose)
bases=(local/pgw-node:bookworm local/pgw-build:bookworm)
for layout in "${layouts[@]}"; do
  case $layout in
    compose) bases+=(local/pgw-nft:bookworm local/pgw-postgres:bookworm local/pgw-redis:bookworm) ;;
    systemd) bases+=(local/pgw-systemd:bookworm) ;;
    *) die "unknown layout '$layout' (compose or systemd)" ;;
  esac
done
bash scripts/deploy/base-images.sh "${bases[@]}"

# The context: the checkout's files (tracked and new, as git sees them; .dockerignore still applies),
# or with PGW_DEPLOY_SOURCE=<commit> that commit's, and the npm cache, which the build stage's
# `npm ci --prefer-offline` reads.
context=$cache/context
rm -rf "$context"
mkdir -p "$context"
if [ -n "${PGW_DEPLOY_SOURCE:-}" ]; then
  git archive --format=tar "$PGW_DEPLOY_SOURCE" | tar -C "$context" -xf -
else
  git ls-files -z --cached --others --exclude-standard \
    | xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done; true' _ \
    | tar --null -T - -cf - | tar -C "$context" -xf -
fi
# Every package and registry answer the build stage's `npm ci` asks for, fetched by this machine's
# npm (the same version the build image runs, so the cached answers match its requests).
# Keyed by the lock file being built (PGW_DEPLOY_SOURCE's, not the checkout's).
primed="$npm_cache/primed-$(sha256sum "$context/package-lock.json" | cut -c1-16)"
if [ ! -e "$primed" ]; then
  say "filling the npm cache for the offline build (npm ci --ignore-scripts)"
  (cd "$context" && npm ci --prefer-offline --ignore-scripts --no-audit --no-fund --loglevel=error --cache "$npm_cache" >/dev/null)
  find "$context" -name node_modules -prune -exec rm -rf {} +
  rm -f "$npm_cache"/primed-*
  touch "$primed"
fi
cp -a "$npm_cache" "$context/.npm-cache"

build() { # $1 tag, $2 Dockerfile, $3 target, build args...
  local tag=$1 file=$2 target=$3 started=$SECONDS; shift 3
  say "building $tag ($file, target $target)"
  # -f inside the context: a Dockerfile from outside it is added to the context under a random name,
  # which changed the `COPY . .` cache key on every build (npm ci and the whole build stage redone
  # for each target, 130-200 s each), and would be the checkout's file rather than PGW_DEPLOY_SOURCE's.
  "$docker" build --quiet --network none -f "$context/$file" --target "$target" -t "$tag" "$@" "$context" >/dev/null
  say "built $tag in $((SECONDS - started)) s"
}
local_bases=(--build-arg NODE_IMAGE=local/pgw-node:bookworm --build-arg BUILD_IMAGE=local/pgw-build:bookworm --build-arg DEBIAN_IMAGE=local/pgw-nft:bookworm)
build "pgw:$version" docker/Dockerfile runtime "${local_bases[@]}"
tags=("pgw:$version")
for layout in "${layouts[@]}"; do
  case $layout in
    compose)
      build "pgw-agent:$version" docker/Dockerfile agent "${local_bases[@]}"
      build "pgw-guard:$version" docker/Dockerfile guard "${local_bases[@]}"
      # The engine's builder builds every stage before the target too: both bases for both targets.
      store_bases=(--build-arg POSTGRES_BASE=local/pgw-postgres:bookworm --build-arg REDIS_BASE=local/pgw-redis:bookworm)
      build "pgw-postgres:$version" docker/stores.Dockerfile postgres "${store_bases[@]}"
      build "pgw-redis:$version" docker/stores.Dockerfile redis "${store_bases[@]}"
      tags+=("pgw-agent:$version" "pgw-guard:$version" "pgw-postgres:$version" "pgw-redis:$version") ;;
    systemd)
      build "pgw-machine:$version" docker/systemd.Dockerfile machine --build-arg MACHINE_IMAGE=local/pgw-systemd:bookworm --build-arg "RUNTIME_IMAGE=pgw:$version"
      tags+=("pgw-machine:$version") ;;
  esac
done
for tag in "${tags[@]}"; do
  say "image $tag $("$docker" image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d MB", $1 / 1000000}')"
done
