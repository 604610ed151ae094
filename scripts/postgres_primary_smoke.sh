#!/usr/bin/env bash
# The migration plan's smoke script: the validation pass (/health, then stats and items of every source) against a
# running gateway. A thin wrapper over `sx-gateway smoke`: the arguments pass through and so does the exit code
# (0 every check passed, 1 a check failed, 2 bad usage).
#
#   scripts/postgres_primary_smoke.sh --url http://gateway.internal:8123            # every source
#   scripts/postgres_primary_smoke.sh --url http://gateway.internal:8123 --source assets_1 --json
#
# Without --url, SX_SMOKE_URL is used when set. `sx-gateway smoke --help` lists the options.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project_dir="$(dirname "$script_dir")"

args=("$@")
if [[ -n "${SX_SMOKE_URL:-}" ]]; then
  has_url=0
  for arg in "$@"; do
    if [[ "$arg" == "--url" || "$arg" == --url=* ]]; then has_url=1; fi
  done
  if [[ $has_url -eq 0 ]]; then args=(--url "$SX_SMOKE_URL" "${args[@]}"); fi
fi

# From a clone: the project's own entry point. Elsewhere (the script copied next to an installed gateway): the
# sx-gateway on PATH, else the one npx finds.
if [[ -f "$project_dir/bin/sx-gateway.js" ]]; then
  exec node "$project_dir/bin/sx-gateway.js" smoke "${args[@]}"
elif command -v sx-gateway >/dev/null 2>&1; then
  exec sx-gateway smoke "${args[@]}"
else
  exec npx --no-install sx-gateway smoke "${args[@]}"
fi
