#!/usr/bin/env bash
# Runs every test, the PostgreSQL, NATS and SDK interop ones included. Unless
# IAP_POSTGRES_URL names a server already, starts a throw-away PostgreSQL
# cluster on a local port for the run, and unless NATS_URL does, a throw-away
# nats-server with JetStream; both are stopped afterwards (run as the current
# user; root is not needed). Installs the Python and JavaScript CloudEvents
# SDKs into target/interop the first time. Extra arguments go to
# `cargo test --workspace --all-features`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${IAP_POSTGRES_URL:-}" ]; then
  # shellcheck source=scripts/postgres.sh
  source scripts/postgres.sh
fi
if [ -z "${NATS_URL:-}" ]; then
  # shellcheck source=scripts/nats.sh
  source scripts/nats.sh
fi
# shellcheck source=scripts/interop-sdks.sh
source scripts/interop-sdks.sh
echo "Running every test: several minutes of compiling on 2 cores the first time, then a few;"
echo "the compile-fail suite (tests/compile_rules.rs) prints nothing for a minute or two."
cargo test --workspace --all-features "$@"
