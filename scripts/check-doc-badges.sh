#!/usr/bin/env bash
# Builds the docs as docs.rs does (every feature, `--cfg docsrs`, nightly
# rustdoc) and checks that each item behind a feature shows its badge
# ("Available on crate feature ... only"). Skips, saying so, where no nightly
# toolchain is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup run nightly rustdoc --version >/dev/null 2>&1; then
  echo "skipping the docs.rs badge check: no nightly toolchain here"
  exit 0
fi
target=${CARGO_TARGET_DIR:-target}/docsrs
RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo +nightly doc --no-deps --all-features --target-dir "$target" --quiet
docs="$target/doc/integration_automation_patterns"
missing=0
# Every page of an item that exists only with a feature.
for page in \
  store/sqlite/index.html store/sqlite/struct.SqliteStore.html \
  store/sqlite/struct.AsyncSqliteStore.html \
  store/postgres/index.html store/postgres/struct.PostgresStore.html \
  store/postgres/struct.AsyncPostgresStore.html \
  store/enum.AnyStore.html store/enum.AnyTx.html \
  store/trait.AsyncDeliveryStore.html store/type.BoxFuture.html \
  relay/index.html relay/struct.Relay.html relay/struct.RelayConfig.html \
  relay/trait.Sender.html relay/struct.RelayWaker.html relay/struct.RelayReport.html; do
  if ! grep -q "Available on" "$docs/$page"; then
    echo "no feature badge on $page" >&2
    missing=$((missing + 1))
  fi
done
if [ "$missing" -ne 0 ]; then
  exit 1
fi
echo "every feature-gated item shows its badge"
