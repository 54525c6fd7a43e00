#!/usr/bin/env bash
# `npm test`: installs node modules if this is a fresh clone, brings the local stack up (a no-op
# when it is running), applies migrations, then runs the whole vitest suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -f node_modules/.package-lock.json && node_modules/.package-lock.json -nt package-lock.json ]] || npm install
bash stack/stack.sh up
# The tests run the services with the secrets published in this repository (README "Configuration").
export DEV_MODE=true
node --import tsx schemas/migrate-main.ts
exec node_modules/.bin/vitest run "$@"
