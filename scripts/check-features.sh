#!/usr/bin/env bash
# Lints every crate of the workspace on its own with no features, with each
# feature alone and with all of them, warnings as errors: a feature that
# builds only beside another is found here, not by a user.
set -euo pipefail
cd "$(dirname "$0")/.."
check() {
  echo "    $*"
  cargo clippy --quiet "$@" -- -D warnings
}
for crate in integration-automation-patterns iap-derive iap-store iap-relay iap-transport iap-cli; do
  echo "--- $crate"
  # `iap` is a tool for a store, and refuses to build without a backend.
  if [ "$crate" != iap-cli ]; then
    check -p "$crate" --no-default-features
  fi
  features=$(cargo metadata --format-version 1 --no-deps |
    python3 -c "import json, sys; [print(f) for p in json.load(sys.stdin)['packages'] if p['name'] == '$crate' for f in p['features'] if f != 'default']")
  for feature in $features; do
    check -p "$crate" --no-default-features --features "$feature"
  done
  check -p "$crate" --all-features
done
