#!/usr/bin/env bash
# The README's test command: sets the machine up, builds, then runs every test in one node:test run.
#   bash scripts/test.sh            unit + integration + e2e + deploy
#   bash scripts/test.sh unit       only one group (unit | integration | e2e | deploy)
# deploy builds the images without a registry (cached in /var/cache/pgw-deploy) and runs the Compose
# stack, and the systemd units under systemd as PID 1 in a container, on a private Docker Engine
# inside a lab namespace, against the leak battery.
source "$(dirname "$0")/lib.sh"
require_root
cd "$REPO_ROOT"
group=${1:-all}
bash scripts/setup.sh --tests

# unit: test/unit/all-specs.test.ts runs every *.spec.ts (beside its code) in one process.
files=()
for g in unit integration e2e deploy; do
  if [ "$group" = all ] || [ "$group" = "$g" ]; then
    while IFS= read -r f; do files+=("$f"); done < <(find "test/$g" -name '*.test.ts' 2>/dev/null | sort)
  fi
done
[ ${#files[@]} -gt 0 ] || die "no test files found for group '$group'"

say "type-checking tests, benchmarks, scripts and the console"
npx tsc --noEmit -p test/tsconfig.json
npm run --silent typecheck -w @pgw/ui
# Namespaces, processes and containers a killed earlier run left behind.
node --conditions=pgw-source --import tsx -e "import('./lab/cleanup.ts').then((m) => m.cleanupStaleLabs())" || true
say "running ${#files[@]} test files"
tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
# One at a time: lab tests measure latencies on 2 cores and must not compete with each other.
set +e
node --conditions=pgw-source --import tsx --test --test-concurrency=1 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  --test-reporter=./test/reporters/file-times.mjs --test-reporter-destination=stdout "${files[@]}"
status=$?
set -e
passed=$(awk '/^# pass /{print $3}' "$tap"); failed=$(awk '/^# fail /{print $3}' "$tap")
skipped=$(awk '/^# skipped /{print $3}' "$tap")
echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
exit "$status"
