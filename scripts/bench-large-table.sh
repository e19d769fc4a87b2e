#!/usr/bin/env bash
# `counts`, a retention purge and the migration from schema version 3 on a
# PostgreSQL outbox of ROWS rows (10 million by default), through the
# operator CLI: the rows are written straight into a fresh store's table (99 %
# delivered, settled over the last 8 days, so that an eighth of them is past
# the 7-day window; the rest pending, retrying or dead letters), then `iap
# status` runs three times and `iap purge` once, each timed; last, the table
# is taken back to schema version 3 (times as microseconds, envelopes as
# text) and `iap migrate` is timed. Unless IAP_POSTGRES_URL names a server, a
# throw-away one is started. Not run by CI; the table takes a few minutes and
# some GB to fill.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${ROWS:-10000000}
if [ -z "${IAP_POSTGRES_URL:-}" ]; then
  # shellcheck source=scripts/postgres.sh
  source scripts/postgres.sh
fi
# shellcheck source=scripts/libpq-env.sh
source scripts/libpq-env.sh
schema=iap_large_table
store="$IAP_POSTGRES_URL options='-c search_path=$schema'"
cargo build --quiet --release -p iap-cli --bin iap
iap=target/release/iap

psql -Xq -v ON_ERROR_STOP=1 -c "DROP SCHEMA IF EXISTS $schema CASCADE" -c "CREATE SCHEMA $schema"
$iap --store "$store" migrate >/dev/null
echo "filling $rows rows"
started=$(date +%s)
PGOPTIONS="-c search_path=$schema" psql -Xq -v ON_ERROR_STOP=1 -v rows="$rows" <<'SQL'
INSERT INTO iap_outbox (source, event_id, status, attempts, due_at, envelope, settled_at)
SELECT 'webshop', 'order-' || n,
       CASE WHEN n % 100 < 99 THEN 'processed'
            WHEN n % 1000 < 995 THEN 'pending'
            WHEN n % 1000 < 998 THEN 'retrying'
            ELSE 'failed' END,
       CASE WHEN n % 100 < 99 OR n % 1000 < 995 THEN 1 ELSE 3 END,
       CASE WHEN n % 100 < 99 OR n % 1000 >= 998 THEN NULL
            ELSE iap_time(now_us + (n % 1000) * 1000000) END,
       ('{"specversion":"1.0","id":"order-' || n || '","source":"webshop","type":"commerce.order.placed",'
         || '"data":{"order_id":' || n || ',"lines":[{"sku":"SKU-1042","quantity":2,"price":"19.90"}]},'
         || '"history":[{"from":"pending","to":"dispatched","at":"2026-11-20T09:00:00Z","attempt":1},'
         || '{"from":"dispatched","to":"processed","at":"2026-11-20T09:00:01Z","attempt":1}]}')::jsonb,
       -- settled evenly over the last 8 days
       CASE WHEN n % 100 < 99 THEN iap_time(now_us - n * (8 * 86400 * 1000000::bigint / :rows)) END
FROM generate_series(1, :rows) AS n,
     (SELECT (extract(epoch FROM now()) * 1000000)::bigint AS now_us) AS clock;
VACUUM ANALYZE iap_outbox;
SQL
echo "filled in $(($(date +%s) - started)) s; table and indexes: $(psql -XAtc "SELECT pg_size_pretty(pg_total_relation_size('$schema.iap_outbox'))")"

timed() { # label, command...
  local label=$1
  shift
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null
  end=$(date +%s%N)
  echo "$label: $(((end - start) / 1000000)) ms"
}
for round in 1 2 3; do
  timed "iap status, run $round" "$iap" --store "$store" status
done
purged_before=$(psql -XAtc "SELECT count(*) FROM $schema.iap_outbox")
timed "iap purge" "$iap" --store "$store" purge
purged=$((purged_before - $(psql -XAtc "SELECT count(*) FROM $schema.iap_outbox")))
echo "the purge deleted $purged delivered envelopes"

echo "taking the table back to schema version 3"
PGOPTIONS="-c search_path=$schema" psql -Xq -v ON_ERROR_STOP=1 <<'SQL'
ALTER TABLE iap_outbox DROP COLUMN claimed_at,
    ALTER COLUMN due_at TYPE BIGINT USING iap_micros(due_at),
    ALTER COLUMN renewed_at TYPE BIGINT USING iap_micros(renewed_at),
    ALTER COLUMN settled_at TYPE BIGINT USING iap_micros(settled_at),
    ALTER COLUMN envelope TYPE TEXT USING envelope::text;
ALTER TABLE iap_inbox ALTER COLUMN received_at TYPE BIGINT USING iap_micros(received_at);
DROP FUNCTION iap_time(BIGINT);
DROP FUNCTION iap_micros(TIMESTAMPTZ);
UPDATE iap_meta SET value = 3 WHERE name = 'schema_version';
VACUUM ANALYZE iap_outbox;
SQL
timed "iap migrate, from version 3, $(psql -XAtc "SELECT count(*) FROM $schema.iap_outbox") rows" \
  "$iap" --store "$store" migrate
