#!/usr/bin/env bash
# Counts what the blocking PostgreSQL relay sends to the server while it
# drains 1,000 envelopes (examples/pg_round_trips.rs), one commit per outcome
# and batched: the statements (extended-protocol executions and simple
# queries) and the statements prepared, per envelope, read off strace.
# Needs IAP_POSTGRES_URL (or starts a throw-away server) and strace (installed
# from Debian's packages where missing, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${IAP_POSTGRES_URL:-}" ]; then
  # shellcheck source=scripts/postgres.sh
  source scripts/postgres.sh
fi
if ! command -v strace >/dev/null; then
  apt-get install -y -qq strace >/dev/null
fi
cargo build --release --quiet -p iap-store --features postgres --example pg_round_trips
trace=$(mktemp)
echo "| mode | statements per envelope | of them prepared |"
echo "|---|---|---|"
for mode in single batched; do
  strace -f -e trace=sendto,write -o "$trace" target/release/examples/pg_round_trips "$mode" 2>/dev/null
  # Only what is sent between the two markers the example prints.
  window=$(awk '/DRAIN START/{on=1;next} /DRAIN END/{on=0} on' "$trace")
  executes=$(grep -c 'sendto([0-9]*, "B' <<<"$window" || true)
  queries=$(grep -c 'sendto([0-9]*, "Q' <<<"$window" || true)
  prepared=$(grep -c 'sendto([0-9]*, "P' <<<"$window" || true)
  awk -v mode="$mode" -v s=$((executes + queries)) -v p="$prepared" \
    'BEGIN { printf "| %s | %.2f | %.3f |\n", mode, s / 1000, p / 1000 }'
done
rm -f "$trace"
