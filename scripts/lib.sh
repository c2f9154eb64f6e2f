# Shared helpers for the setup, demo and test scripts. Sourced, not run.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf '\033[1mpgw:\033[0m %s\n' "$*"; }
die() { printf 'pgw: %s\n' "$*" >&2; exit 1; }
require_root() { [ "$(id -u)" = 0 ] || die "run as root (it installs packages and creates network namespaces)"; }
