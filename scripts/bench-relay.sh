#!/usr/bin/env bash
# The relay beside graphile-worker, the PostgreSQL job queue it is compared
# with, on the same server in the same run: each drains the same number of
# trivial items (ENVELOPES, 50,000 by default) with 1, 2 and 4 workers, in
# its one-commit-per-item mode and its batched mode, median of ROUNDS (3).
# Prints one table, the wait of an envelope enqueued while the relay waits
# (wakeups), and last one line with the 4-worker batched figures.
#
# The crate's side is examples/relay_drain.rs (threads, a connection each);
# graphile-worker's is scripts/bench/graphile-drain.mjs, run by Node with the
# npm package's current release installed under target/. Unless
# IAP_POSTGRES_URL names a server, a throw-away one is started (as for the
# tests). Not run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
envelopes=${ENVELOPES:-50000}
rounds=${ROUNDS:-3}
if [ -z "${IAP_POSTGRES_URL:-}" ]; then
  # shellcheck source=scripts/postgres.sh
  source scripts/postgres.sh
fi
# Node's client reads the libpq environment.
# shellcheck source=scripts/libpq-env.sh
source scripts/libpq-env.sh

peer=target/bench-graphile
if [ ! -d "$peer/node_modules/graphile-worker" ]; then
  echo "installing graphile-worker into $peer" >&2
  mkdir -p "$peer"
  (cd "$peer" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error graphile-worker@latest pg >/dev/null)
fi
cp scripts/bench/graphile-drain.mjs "$peer/"
peer_version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$peer/node_modules/graphile-worker/package.json")
cargo build --quiet --release -p iap-store --features sqlite,postgres --example relay_drain
cargo build --quiet --release -p iap-relay --example wakeup_latency
drain=target/release/examples/relay_drain
wakeup=target/release/examples/wakeup_latency
server=$(psql -XAtc "SHOW server_version" 2>/dev/null || echo "?")

echo
echo "$envelopes trivial items drained, median of $rounds rounds; PostgreSQL $server,"
echo "graphile-worker $peer_version; $(nproc) cores; every commit synced."
echo
echo "| backend | mode | workers | this crate | graphile-worker | ratio |"
echo "|---|---|---|---|---|---|"
row() { # backend mode workers ours peer
  local ratio="-"
  if [ "$5" != "-" ]; then ratio=$(awk -v a="$4" -v b="$5" 'BEGIN { printf "%.2f", a / b }'); fi
  echo "| $1 | $2 | $3 | $4/s | $5$([ "$5" = "-" ] || echo /s) | $ratio |"
}
for workers in 1 2 4; do
  ours=$($drain postgres each "$workers" "$envelopes" "$rounds")
  theirs=$(node "$peer/graphile-drain.mjs" default "$workers" "$envelopes" "$rounds")
  row PostgreSQL "one commit per item" "$workers" "$ours" "$theirs"
done
for workers in 1 2 4; do
  ours=$($drain postgres batched "$workers" "$envelopes" "$rounds")
  theirs=$(node "$peer/graphile-drain.mjs" batched "$workers" "$envelopes" "$rounds")
  row PostgreSQL batched "$workers" "$ours" "$theirs"
  last_ours=$ours
  last_theirs=$theirs
done
row SQLite "one commit per item" 1 "$($drain sqlite each 1 "$envelopes" "$rounds")" -
row SQLite batched 1 "$($drain sqlite batched 1 "$envelopes" "$rounds")" -
echo
echo "From an enqueue's commit to the send by a waiting relay, 500 enqueues 10 ms apart:"
echo "PostgreSQL (LISTEN/NOTIFY, another pool enqueuing): $($wakeup postgres notify 500)"
echo "SQLite (the same process): $($wakeup sqlite notify 500)"
echo "PostgreSQL polling every second, 20 enqueues: $($wakeup postgres poll 20)"
echo
echo "PostgreSQL, 4 workers, batched: this crate ${last_ours}/s, graphile-worker ${last_theirs}/s"
