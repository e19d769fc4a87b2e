#!/usr/bin/env bash
# Runs every test, the PostgreSQL ones included. Unless IAP_POSTGRES_URL names
# a server already, starts a throw-away PostgreSQL cluster on a local port for
# the run and stops it afterwards. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${IAP_POSTGRES_URL:-}" ]; then
  # shellcheck source=scripts/postgres.sh
  source scripts/postgres.sh
fi
cargo test --all-features "$@"
