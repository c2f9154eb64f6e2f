#!/usr/bin/env bash
# The README's test command: sets the machine up, builds, then runs every test.
#   bash scripts/test.sh            unit + integration + e2e + deploy
#   bash scripts/test.sh unit       only one group (unit | integration | e2e | deploy)
# deploy builds the images without a registry (cached in /var/cache/pgw-deploy) and runs the Compose
# stack, and the systemd units under systemd as PID 1 in a container, on a private Docker Engine
# inside a lab namespace, against the leak battery.
# Two runs: unit and e2e alone, then deploy beside integration (see below).
source "$(dirname "$0")/lib.sh"
require_root
cd "$REPO_ROOT"
group=${1:-all}
case $group in all | unit | integration | e2e | deploy) ;; *) die "unknown group '$group' (unit, integration, e2e or deploy)" ;; esac
bash scripts/setup.sh --tests

# unit: test/unit/all-specs.test.ts runs every *.spec.ts (beside its code) in one process.
files_of() { # the test files of the groups given that this run includes
  for g in "$@"; do
    if [ "$group" = all ] || [ "$group" = "$g" ]; then find "test/$g" -name '*.test.ts' 2>/dev/null | sort; fi
  done
}
mapfile -t alone < <(files_of unit e2e)
mapfile -t deploy < <(files_of deploy)
mapfile -t beside < <(files_of integration)
[ $((${#alone[@]} + ${#deploy[@]} + ${#beside[@]})) -gt 0 ] || die "no test files found for group '$group'"

say "type-checking tests, benchmarks, scripts and the console"
npx tsc --noEmit -p test/tsconfig.json
npm run --silent typecheck -w @pgw/ui
# Namespaces, processes and containers a killed earlier run left behind.
node --conditions=pgw-source --import tsx -e "import('./lab/cleanup.ts').then((m) => m.cleanupStaleLabs())" || true

work=$(mktemp -d)
integration=
# A run stopped early (Ctrl-C, a CI timeout) takes the integration run beside the deploy one with it.
trap '[ -z "$integration" ] || kill $(pgrep -P "$integration") "$integration" 2>/dev/null; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
run_files() { # $1 a name for its TAP file, then the files: one node:test run, one file at a time
  local name=$1; shift
  node --conditions=pgw-source --import tsx --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$work/$name.tap" \
    --test-reporter=./test/reporters/file-times.mjs --test-reporter-destination=stdout "$@"
}
status=0
set +e
# Lab tests measure latencies on 2 cores: the unit and e2e files run alone, one at a time.
if [ ${#alone[@]} -gt 0 ]; then
  say "running ${#alone[@]} test files, one at a time"
  run_files alone "${alone[@]}" || status=1
fi
# The deploy tests spend most of their time building images and waiting for containers, and the
# integration tests use the machine's own Postgres and Redis, not a lab: they run side by side (each
# one file at a time), which takes CI ~5 minutes less. The integration report follows the deploy one.
if [ ${#beside[@]} -gt 0 ] && [ ${#deploy[@]} -gt 0 ]; then
  say "running ${#deploy[@]} deploy test files, and beside them ${#beside[@]} integration test files"
  run_files integration "${beside[@]}" >"$work/integration.out" 2>&1 &
  integration=$!
  run_files deploy "${deploy[@]}" || status=1
  wait "$integration" || status=1
  integration=
  say "the integration tests' report:"
  cat "$work/integration.out"
elif [ ${#beside[@]} -gt 0 ] || [ ${#deploy[@]} -gt 0 ]; then
  say "running $((${#beside[@]} + ${#deploy[@]})) test files, one at a time"
  run_files rest "${beside[@]}" "${deploy[@]}" || status=1
fi
set -e
sum() { cat "$work"/*.tap | awk -v key="$1" '/^# / && $2 == key { n += $3 } END { print n + 0 }'; }
# Each failure again with its error at the end, where a long log's reader (and CI's summary) looks.
if [ "$(sum fail)" != 0 ]; then
  say "the failed tests, with their errors:"
  node test/reporters/tap-failures.mjs "$work"/*.tap
fi
echo "$(sum pass) passed, $(sum fail) failed, $(sum skipped) skipped"
exit "$status"
