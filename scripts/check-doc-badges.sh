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
RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo +nightly doc --workspace --no-deps --all-features --target-dir "$target" --quiet
docs="$target/doc"
missing=0
# Every page of an item that exists only with a feature.
for page in \
  iap_store/sqlite/index.html iap_store/sqlite/struct.SqliteStore.html \
  iap_store/sqlite/struct.AsyncSqliteStore.html \
  iap_store/postgres/index.html iap_store/postgres/struct.PostgresStore.html \
  iap_store/postgres/struct.AsyncPostgresStore.html \
  iap_store/enum.AnyStore.html iap_store/enum.AnyTx.html \
  iap_store/trait.AsyncDeliveryStore.html iap_store/type.BoxFuture.html \
  iap_transport/http/struct.HttpSender.html iap_transport/http/fn.inbox_router.html \
  iap_transport/nats/index.html iap_transport/nats/struct.NatsSender.html \
  integration_automation_patterns/sync/derive.SyncRecord.html; do
  if ! grep -q "Available on" "$docs/$page"; then
    echo "no feature badge on $page" >&2
    missing=$((missing + 1))
  fi
done
if [ "$missing" -ne 0 ]; then
  exit 1
fi
echo "every feature-gated item shows its badge"
