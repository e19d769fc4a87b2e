-- The PostgreSQL SQL of iap-store, as the code sends it: every statement of
-- the store engine (the schema and its migrations first), by the name
-- the engine gives it. Written by the test `engine::sql_files`; do not edit
-- (change the code, then run the test with IAP_WRITE_SQL=1).

-- == Schema ==

-- HAS_META
SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'iap_meta') AS present;

-- HAS_TABLES
SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema()
                         AND tablename IN ('iap_outbox', 'iap_inbox')) AS present;

-- SELECT_VERSION
SELECT value FROM iap_meta WHERE name = 'schema_version';

-- INSERT_VERSION
INSERT INTO iap_meta (name, value) VALUES ('schema_version', $1);

-- TAKE_MIGRATION_LOCK
SELECT pg_advisory_xact_lock($1);

-- CREATE_SCHEMA
CREATE FUNCTION iap_time(micros BIGINT) RETURNS TIMESTAMPTZ
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN micros < -210866803200000000 THEN '-infinity'::timestamptz
        ELSE (timestamp 'epoch' + (micros / 1000000) * interval '1 second'
              + (micros % 1000000) * interval '1 microsecond') AT TIME ZONE 'UTC' END
$$;
CREATE FUNCTION iap_micros(t TIMESTAMPTZ) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN isfinite(t) THEN (extract(epoch FROM t AT TIME ZONE 'UTC') * 1000000)::bigint
        WHEN t > 'epoch' THEN '9223372036854775807'::bigint
        ELSE '-9223372036854775808'::bigint END
$$;

CREATE OR REPLACE FUNCTION iap_clock() RETURNS TIMESTAMPTZ
    LANGUAGE sql VOLATILE PARALLEL SAFE AS $$ SELECT clock_timestamp() $$;

CREATE TABLE iap_meta (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
CREATE TABLE iap_outbox (
    seq        BIGSERIAL,
    source     TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    status     TEXT NOT NULL,
    attempts   BIGINT NOT NULL,
    due_at     TIMESTAMPTZ,
    envelope   JSONB NOT NULL,
    problem    TEXT,
    renewed_at TIMESTAMPTZ,
    settled_at TIMESTAMPTZ,
    claimed_at TIMESTAMPTZ,
    ordering_key TEXT,
    held_back  BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (source, event_id)
) WITH (fillfactor = 80);

CREATE INDEX iap_outbox_due ON iap_outbox (due_at) WHERE due_at IS NOT NULL AND NOT held_back;
CREATE INDEX iap_outbox_held_back ON iap_outbox (ordering_key, seq) WHERE held_back;
CREATE INDEX iap_outbox_key_dead_letters ON iap_outbox (ordering_key, seq)
                 WHERE ordering_key IS NOT NULL AND status IN ('failed', 'quarantined');
CREATE INDEX iap_outbox_settled ON iap_outbox (settled_at) WHERE status IN ('processed', 'acknowledged', 'skipped');
CREATE INDEX iap_outbox_dead_letters ON iap_outbox ((iap_micros(COALESCE(settled_at, '-infinity'))), seq) WHERE status = 'failed';
CREATE INDEX iap_outbox_key_order ON iap_outbox (ordering_key, seq)
                 WHERE ordering_key IS NOT NULL AND status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined');
CREATE INDEX iap_outbox_quarantined ON iap_outbox (seq) WHERE status = 'quarantined';
CREATE INDEX iap_outbox_stray ON iap_outbox (seq) WHERE ((due_at IS NULL AND status NOT IN ('processed', 'acknowledged', 'failed', 'skipped', 'quarantined'))
          OR due_at >= '262143-01-01T00:00:00Z' OR (held_back AND ordering_key IS NULL));
CREATE TABLE iap_inbox (
    source      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    event       TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, event_id)
);
CREATE INDEX iap_inbox_received ON iap_inbox (received_at);

CREATE FUNCTION iap_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('iap_outbox:' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END
$$;
CREATE TRIGGER iap_outbox_enqueued AFTER INSERT ON iap_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION iap_outbox_notify();;

-- MIGRATE_FROM_1
ALTER TABLE iap_outbox ADD COLUMN renewed_at BIGINT;
CREATE INDEX iap_outbox_stray ON iap_outbox (seq) WHERE due_at IS NULL AND status NOT IN ('processed', 'acknowledged', 'failed', 'skipped', 'quarantined');
UPDATE iap_meta SET value = 2 WHERE name = 'schema_version';;

-- MIGRATE_FROM_2
ALTER TABLE iap_outbox ADD COLUMN settled_at BIGINT;
UPDATE iap_outbox SET settled_at = (extract(epoch FROM now()) * 1000000)::bigint
    WHERE status IN ('processed', 'acknowledged', 'skipped');
CREATE INDEX iap_outbox_settled ON iap_outbox (settled_at) WHERE settled_at IS NOT NULL;
DROP INDEX iap_outbox_status;

CREATE INDEX iap_outbox_dead_letters ON iap_outbox (seq) WHERE status = 'failed';
CREATE INDEX iap_outbox_quarantined ON iap_outbox (seq) WHERE status = 'quarantined';

ALTER TABLE iap_outbox SET (fillfactor = 80);

CREATE FUNCTION iap_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('iap_outbox:' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END
$$;
CREATE TRIGGER iap_outbox_enqueued AFTER INSERT ON iap_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION iap_outbox_notify();

UPDATE iap_meta SET value = 3 WHERE name = 'schema_version';;

-- MIGRATE_FROM_3
CREATE FUNCTION iap_time(micros BIGINT) RETURNS TIMESTAMPTZ
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN micros < -210866803200000000 THEN '-infinity'::timestamptz
        ELSE (timestamp 'epoch' + (micros / 1000000) * interval '1 second'
              + (micros % 1000000) * interval '1 microsecond') AT TIME ZONE 'UTC' END
$$;
CREATE FUNCTION iap_micros(t TIMESTAMPTZ) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN isfinite(t) THEN (extract(epoch FROM t AT TIME ZONE 'UTC') * 1000000)::bigint
        WHEN t > 'epoch' THEN '9223372036854775807'::bigint
        ELSE '-9223372036854775808'::bigint END
$$;

CREATE FUNCTION iap_json_or_string(text TEXT) RETURNS JSONB LANGUAGE plpgsql AS $$
BEGIN
    RETURN text::jsonb;
EXCEPTION WHEN others THEN
    RETURN to_jsonb(text);
END
$$;
ALTER TABLE iap_outbox
    ALTER COLUMN due_at TYPE TIMESTAMPTZ USING iap_time(due_at),
    ALTER COLUMN renewed_at TYPE TIMESTAMPTZ USING iap_time(renewed_at),
    ALTER COLUMN settled_at TYPE TIMESTAMPTZ USING iap_time(settled_at),
    ALTER COLUMN envelope TYPE JSONB USING iap_json_or_string(envelope),
    ADD COLUMN claimed_at TIMESTAMPTZ,
    ADD COLUMN ordering_key TEXT;
DROP FUNCTION iap_json_or_string(TEXT);
UPDATE iap_outbox SET ordering_key = envelope ->> 'partitionkey'
    WHERE jsonb_typeof(envelope -> 'partitionkey') = 'string';
CREATE INDEX iap_outbox_key_order ON iap_outbox (ordering_key, seq)
                 WHERE ordering_key IS NOT NULL AND status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined');
ALTER TABLE iap_inbox ALTER COLUMN received_at TYPE TIMESTAMPTZ USING iap_time(received_at);
UPDATE iap_meta SET value = 4 WHERE name = 'schema_version';;

-- MIGRATE_FROM_4
ALTER TABLE iap_outbox ADD COLUMN held_back BOOLEAN NOT NULL DEFAULT false;
DROP INDEX iap_outbox_due;

CREATE INDEX iap_outbox_due ON iap_outbox (due_at) WHERE due_at IS NOT NULL AND NOT held_back;
CREATE INDEX iap_outbox_held_back ON iap_outbox (ordering_key, seq) WHERE held_back;
CREATE INDEX iap_outbox_key_dead_letters ON iap_outbox (ordering_key, seq)
                 WHERE ordering_key IS NOT NULL AND status IN ('failed', 'quarantined');
UPDATE iap_meta SET value = 5 WHERE name = 'schema_version';;

-- MIGRATE_FROM_5
ALTER TABLE iap_inbox RENAME COLUMN payload TO event;
UPDATE iap_outbox
    SET envelope = (envelope - 'delivery') || jsonb_build_object('_delivery', envelope -> 'delivery')
    WHERE jsonb_typeof(envelope) = 'object' AND envelope ? 'delivery';
DROP INDEX iap_outbox_stray;
CREATE INDEX iap_outbox_stray ON iap_outbox (seq) WHERE ((due_at IS NULL AND status NOT IN ('processed', 'acknowledged', 'failed', 'skipped', 'quarantined'))
          OR due_at >= '262143-01-01T00:00:00Z' OR (held_back AND ordering_key IS NULL));

CREATE OR REPLACE FUNCTION iap_clock() RETURNS TIMESTAMPTZ
    LANGUAGE sql VOLATILE PARALLEL SAFE AS $$ SELECT clock_timestamp() $$;

UPDATE iap_meta SET value = 6 WHERE name = 'schema_version';;

-- MIGRATE_FROM_6
CREATE FUNCTION iap_time_or_null(text TEXT) RETURNS TIMESTAMPTZ LANGUAGE plpgsql AS $$
BEGIN
    RETURN text::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
UPDATE iap_outbox
    SET settled_at = COALESCE(iap_time_or_null(envelope #>> '{_delivery,history,-1,at}'), now())
    WHERE status = 'failed';
DROP FUNCTION iap_time_or_null(TEXT);
DROP INDEX iap_outbox_settled;
DROP INDEX iap_outbox_dead_letters;

CREATE INDEX iap_outbox_settled ON iap_outbox (settled_at) WHERE status IN ('processed', 'acknowledged', 'skipped');
CREATE INDEX iap_outbox_dead_letters ON iap_outbox ((iap_micros(COALESCE(settled_at, '-infinity'))), seq) WHERE status = 'failed';

UPDATE iap_meta SET value = 7 WHERE name = 'schema_version';;

-- == Outbox rows ==

-- SELECT_KEY
SELECT seq, source, event_id, status, attempts, iap_micros(due_at) AS due_at,
         iap_micros(renewed_at) AS renewed_at, envelope::text AS envelope, problem,
         iap_micros(claimed_at) AS claimed_at, ordering_key, held_back FROM iap_outbox WHERE source = $1 AND event_id = $2;

-- LOCK_ROW
SELECT seq, source, event_id, status, attempts, iap_micros(due_at) AS due_at,
         iap_micros(renewed_at) AS renewed_at, envelope::text AS envelope, problem,
         iap_micros(claimed_at) AS claimed_at, ordering_key, held_back FROM iap_outbox WHERE source = $1 AND event_id = $2 FOR UPDATE;

-- ROW_IF_NOT_QUARANTINED
SELECT seq, source, event_id, status, attempts, iap_micros(due_at) AS due_at,
         iap_micros(renewed_at) AS renewed_at, envelope::text AS envelope, problem,
         iap_micros(claimed_at) AS claimed_at, ordering_key, held_back FROM iap_outbox WHERE source = $1 AND event_id = $2 AND status <> 'quarantined' FOR UPDATE;

-- QUARANTINED_KEY
SELECT seq, source, event_id, status, attempts, iap_micros(due_at) AS due_at,
         iap_micros(renewed_at) AS renewed_at, envelope::text AS envelope, problem,
         iap_micros(claimed_at) AS claimed_at, ordering_key, held_back FROM iap_outbox WHERE source = $1 AND event_id = $2 AND status = 'quarantined' FOR UPDATE;

-- SELECT_STRAYS
SELECT seq, source, event_id, status, attempts, iap_micros(due_at) AS due_at,
         iap_micros(renewed_at) AS renewed_at, envelope::text AS envelope, problem,
         iap_micros(claimed_at) AS claimed_at, ordering_key, held_back FROM iap_outbox WHERE ((due_at IS NULL AND status NOT IN ('processed', 'acknowledged', 'failed', 'skipped', 'quarantined'))
          OR due_at >= '262143-01-01T00:00:00Z' OR (held_back AND ordering_key IS NULL)) LIMIT $1 FOR UPDATE SKIP LOCKED;

-- SELECT_UNQUARANTINED
SELECT seq, source, event_id, status, attempts, iap_micros(due_at) AS due_at,
         iap_micros(renewed_at) AS renewed_at, envelope::text AS envelope, problem,
         iap_micros(claimed_at) AS claimed_at, ordering_key, held_back FROM iap_outbox WHERE status <> 'quarantined' ORDER BY seq;

-- LOCK_DEAD_LETTERS
SELECT seq, source, event_id, status, attempts, iap_micros(due_at) AS due_at,
         iap_micros(renewed_at) AS renewed_at, envelope::text AS envelope, problem,
         iap_micros(claimed_at) AS claimed_at, ordering_key, held_back FROM iap_outbox WHERE status = 'failed' FOR UPDATE;

-- == Claims ==

-- SELECT_DUE
WITH RECURSIVE held_back_keys AS (
    (SELECT ordering_key, seq, source, event_id FROM iap_outbox
     WHERE held_back ORDER BY ordering_key, seq LIMIT 1)
    UNION ALL
    SELECT next.ordering_key, next.seq, next.source, next.event_id
    FROM held_back_keys AS previous, LATERAL (
        SELECT ordering_key, seq, source, event_id FROM iap_outbox
        WHERE held_back AND ordering_key > previous.ordering_key
        ORDER BY ordering_key, seq LIMIT 1) AS next
), scanned AS (
    SELECT source, event_id, status, attempts, due_at, renewed_at,
        (iap_outbox.ordering_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM iap_outbox AS earlier
                WHERE earlier.ordering_key = iap_outbox.ordering_key
                    AND earlier.seq < iap_outbox.seq
                    AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                    AND (earlier.status IN ('pending', 'dispatched', 'retrying') OR $3))) AS free,
        (SELECT earlier.source || '/' || earlier.event_id FROM iap_outbox AS earlier
              WHERE earlier.ordering_key = iap_outbox.ordering_key
                  AND earlier.seq < iap_outbox.seq
                  AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                  AND earlier.status IN ('failed', 'quarantined')
              ORDER BY earlier.seq LIMIT 1) AS passed
    FROM iap_outbox
    WHERE due_at IS NOT NULL AND due_at <= iap_time($1) AND NOT held_back
    ORDER BY due_at LIMIT $2
    FOR UPDATE SKIP LOCKED
), heads AS (
    SELECT iap_outbox.source, iap_outbox.event_id, iap_outbox.status, iap_outbox.attempts,
        iap_outbox.due_at, iap_outbox.renewed_at, true AS free,
        (SELECT earlier.source || '/' || earlier.event_id FROM iap_outbox AS earlier
              WHERE earlier.ordering_key = iap_outbox.ordering_key
                  AND earlier.seq < iap_outbox.seq
                  AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                  AND earlier.status IN ('failed', 'quarantined')
              ORDER BY earlier.seq LIMIT 1) AS passed
    FROM held_back_keys JOIN iap_outbox ON iap_outbox.source = held_back_keys.source
        AND iap_outbox.event_id = held_back_keys.event_id
    WHERE iap_outbox.held_back AND iap_outbox.due_at <= iap_time($1) AND (iap_outbox.ordering_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM iap_outbox AS earlier
                WHERE earlier.ordering_key = iap_outbox.ordering_key
                    AND earlier.seq < iap_outbox.seq
                    AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                    AND (earlier.status IN ('pending', 'dispatched', 'retrying') OR $3)))
    LIMIT $2
    FOR UPDATE OF iap_outbox SKIP LOCKED
), due AS (
    SELECT source, event_id, status, attempts, due_at, renewed_at, passed, false AS held_back
    FROM scanned WHERE free
    UNION ALL
    SELECT source, event_id, status, attempts, due_at, renewed_at, passed, true AS held_back
    FROM heads
    ORDER BY due_at LIMIT $2
)
SELECT seq, source, event_id, status, attempts, iap_micros(due_at) AS due_at,
         iap_micros(renewed_at) AS renewed_at, envelope::text AS envelope, problem,
         iap_micros(claimed_at) AS claimed_at, ordering_key, held_back,
    (SELECT due.passed FROM due
     WHERE due.source = iap_outbox.source AND due.event_id = iap_outbox.event_id) AS passed
FROM iap_outbox WHERE (source, event_id) IN (SELECT source, event_id FROM due)
ORDER BY due_at;

-- CLAIM_DUE
WITH RECURSIVE held_back_keys AS (
    (SELECT ordering_key, seq, source, event_id FROM iap_outbox
     WHERE held_back ORDER BY ordering_key, seq LIMIT 1)
    UNION ALL
    SELECT next.ordering_key, next.seq, next.source, next.event_id
    FROM held_back_keys AS previous, LATERAL (
        SELECT ordering_key, seq, source, event_id FROM iap_outbox
        WHERE held_back AND ordering_key > previous.ordering_key
        ORDER BY ordering_key, seq LIMIT 1) AS next
), scanned AS (
    SELECT source, event_id, status, attempts, due_at, renewed_at,
        (iap_outbox.ordering_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM iap_outbox AS earlier
                WHERE earlier.ordering_key = iap_outbox.ordering_key
                    AND earlier.seq < iap_outbox.seq
                    AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                    AND (earlier.status IN ('pending', 'dispatched', 'retrying') OR $4))) AS free,
        (SELECT earlier.source || '/' || earlier.event_id FROM iap_outbox AS earlier
              WHERE earlier.ordering_key = iap_outbox.ordering_key
                  AND earlier.seq < iap_outbox.seq
                  AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                  AND earlier.status IN ('failed', 'quarantined')
              ORDER BY earlier.seq LIMIT 1) AS passed
    FROM iap_outbox
    WHERE due_at IS NOT NULL AND due_at <= iap_time($1) AND NOT held_back
    ORDER BY due_at LIMIT $2
    FOR UPDATE SKIP LOCKED
), heads AS (
    SELECT iap_outbox.source, iap_outbox.event_id, iap_outbox.status, iap_outbox.attempts,
        iap_outbox.due_at, iap_outbox.renewed_at, true AS free,
        (SELECT earlier.source || '/' || earlier.event_id FROM iap_outbox AS earlier
              WHERE earlier.ordering_key = iap_outbox.ordering_key
                  AND earlier.seq < iap_outbox.seq
                  AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                  AND earlier.status IN ('failed', 'quarantined')
              ORDER BY earlier.seq LIMIT 1) AS passed
    FROM held_back_keys JOIN iap_outbox ON iap_outbox.source = held_back_keys.source
        AND iap_outbox.event_id = held_back_keys.event_id
    WHERE iap_outbox.held_back AND iap_outbox.due_at <= iap_time($1) AND (iap_outbox.ordering_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM iap_outbox AS earlier
                WHERE earlier.ordering_key = iap_outbox.ordering_key
                    AND earlier.seq < iap_outbox.seq
                    AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                    AND (earlier.status IN ('pending', 'dispatched', 'retrying') OR $4)))
    LIMIT $2
    FOR UPDATE OF iap_outbox SKIP LOCKED
), due AS (
    SELECT source, event_id, status, attempts, due_at, renewed_at, passed, false AS held_back
    FROM scanned WHERE free
    UNION ALL
    SELECT source, event_id, status, attempts, due_at, renewed_at, passed, true AS held_back
    FROM heads
    ORDER BY due_at LIMIT $2
), marked AS (
    UPDATE iap_outbox SET held_back = true
    FROM scanned
    WHERE iap_outbox.source = scanned.source AND iap_outbox.event_id = scanned.event_id
        AND NOT scanned.free
), claimed AS (
    UPDATE iap_outbox AS o
    SET status = 'dispatched', attempts = o.attempts + 1, due_at = iap_time($3),
        renewed_at = NULL, claimed_at = iap_time($1), held_back = false
    FROM due
    WHERE o.source = due.source AND o.event_id = due.event_id
        AND due.status IN ('pending', 'retrying') AND due.passed IS NULL
    RETURNING o.seq, o.source, o.event_id, due.status, due.attempts, due.due_at,
        due.renewed_at, o.envelope, o.problem, NULL::timestamptz AS claimed_at, o.ordering_key,
        due.held_back
), leftovers AS (
    SELECT (SELECT COUNT(*) FROM due
            WHERE status NOT IN ('pending', 'retrying') OR passed IS NOT NULL)
         + (SELECT COUNT(*) FROM (SELECT 1 FROM iap_outbox WHERE ((due_at IS NULL AND status NOT IN ('processed', 'acknowledged', 'failed', 'skipped', 'quarantined'))
          OR due_at >= '262143-01-01T00:00:00Z' OR (held_back AND ordering_key IS NULL)) LIMIT 1) AS stray) AS count
)
SELECT seq, source, event_id, status, attempts, iap_micros(due_at) AS due_at,
         iap_micros(renewed_at) AS renewed_at, envelope::text AS envelope, problem,
         iap_micros(claimed_at) AS claimed_at, ordering_key, held_back, leftovers.count AS leftovers FROM leftovers LEFT JOIN claimed ON true;

-- == Writes ==

-- ENQUEUE
INSERT INTO iap_outbox (source, event_id, status, attempts, due_at, envelope, ordering_key)
             VALUES ($1, $2, $3, $4, iap_time($5), $6::text::jsonb, $7) ON CONFLICT DO NOTHING;

-- WRITE_ROW
UPDATE iap_outbox
         SET status = $3, attempts = $4, due_at = iap_time($5), envelope = $6::text::jsonb,
             renewed_at = NULL, settled_at = iap_time($7), claimed_at = NULL, held_back = false
         WHERE source = $1 AND event_id = $2;

-- WRITE_ROWS
UPDATE iap_outbox AS o
         SET status = w.status, attempts = w.attempts, due_at = iap_time(w.due_at),
             envelope = w.envelope::jsonb, renewed_at = NULL, claimed_at = NULL, held_back = false,
             settled_at = iap_time(w.settled_at)
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
                     $7::bigint[])
             AS w (source, event_id, status, attempts, due_at, envelope, settled_at)
         WHERE o.source = w.source AND o.event_id = w.event_id;

-- RECORD
UPDATE iap_outbox
             SET status = $3, due_at = iap_time($4), envelope = $5::text::jsonb, renewed_at = NULL,
                 settled_at = iap_time($7), claimed_at = NULL
             WHERE source = $1 AND event_id = $2 AND status = 'dispatched' AND attempts = $6;

-- RECORD_ROWS
UPDATE iap_outbox AS o
         SET status = w.status, due_at = iap_time(w.due_at), envelope = w.envelope::jsonb,
             renewed_at = NULL, settled_at = iap_time(w.settled_at), claimed_at = NULL
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
                     $7::bigint[])
             AS w (source, event_id, status, attempts, due_at, envelope, settled_at)
         WHERE o.source = w.source AND o.event_id = w.event_id
             AND o.status = 'dispatched' AND o.attempts = w.attempts
         RETURNING o.source, o.event_id;

-- EXTEND_LEASE
UPDATE iap_outbox SET due_at = iap_time($3), renewed_at = iap_time($4)
             WHERE source = $1 AND event_id = $2 AND status = 'dispatched' AND attempts = $5;

-- RELEASE_CLAIM
UPDATE iap_outbox
         SET status = $3, attempts = $4, due_at = iap_time($5), renewed_at = iap_time($6),
             envelope = $7::text::jsonb, claimed_at = iap_time($9)
         WHERE source = $1 AND event_id = $2 AND status = 'dispatched' AND attempts = $8;

-- QUARANTINE
UPDATE iap_outbox
         SET status = $3, due_at = NULL, renewed_at = NULL, problem = $4,
             attempts = CASE WHEN claimed_at IS NULL THEN attempts ELSE attempts - 1 END,
             claimed_at = NULL, held_back = false
         WHERE source = $1 AND event_id = $2;

-- RELEASE_QUARANTINED
UPDATE iap_outbox SET status = $3, due_at = iap_time($4), renewed_at = NULL, problem = NULL,
                 settled_at = iap_time($5)
             WHERE source = $1 AND event_id = $2;

-- DELETE_QUARANTINED
DELETE FROM iap_outbox WHERE source = $1 AND event_id = $2 AND status = 'quarantined';

-- PURGE_SETTLED
DELETE FROM iap_outbox WHERE (source, event_id) IN (
         SELECT source, event_id FROM iap_outbox
         WHERE settled_at < iap_time($1) AND status IN ('processed', 'acknowledged', 'skipped')
         LIMIT $2 FOR UPDATE SKIP LOCKED);

-- == Dead letters and quarantine ==

-- SELECT_DEAD_LETTERS_PAGE
SELECT seq, source, event_id, status, attempts, iap_micros(due_at) AS due_at,
         iap_micros(renewed_at) AS renewed_at, envelope::text AS envelope, problem,
         iap_micros(claimed_at) AS claimed_at, ordering_key, held_back, iap_micros(COALESCE(settled_at, '-infinity')) AS failed_order FROM iap_outbox WHERE status = 'failed'
    AND ($1::text IS NULL OR source = $1::text)
    AND ($2::text IS NULL OR envelope ->> 'type' = $2::text)
    AND iap_micros(COALESCE(settled_at, '-infinity')) <= COALESCE($3::bigint, 9223372036854775807)
    AND (iap_micros(COALESCE(settled_at, '-infinity')), seq) > ($4::bigint, $5::bigint)
    ORDER BY iap_micros(COALESCE(settled_at, '-infinity')), seq LIMIT $6;

-- LOCK_DEAD_LETTERS_PAGE
SELECT seq, source, event_id, status, attempts, iap_micros(due_at) AS due_at,
         iap_micros(renewed_at) AS renewed_at, envelope::text AS envelope, problem,
         iap_micros(claimed_at) AS claimed_at, ordering_key, held_back, iap_micros(COALESCE(settled_at, '-infinity')) AS failed_order FROM iap_outbox WHERE status = 'failed'
    AND ($1::text IS NULL OR source = $1::text)
    AND ($2::text IS NULL OR envelope ->> 'type' = $2::text)
    AND iap_micros(COALESCE(settled_at, '-infinity')) <= COALESCE($3::bigint, 9223372036854775807)
    AND (iap_micros(COALESCE(settled_at, '-infinity')), seq) > ($4::bigint, $5::bigint)
    ORDER BY iap_micros(COALESCE(settled_at, '-infinity')), seq LIMIT $6 FOR UPDATE SKIP LOCKED;

-- COUNT_DEAD_LETTERS
SELECT COUNT(*) AS count FROM iap_outbox WHERE status = 'failed'
    AND ($1::text IS NULL OR source = $1::text)
    AND ($2::text IS NULL OR envelope ->> 'type' = $2::text)
    AND iap_micros(COALESCE(settled_at, '-infinity')) <= COALESCE($3::bigint, 9223372036854775807);

-- HELD_KEYS
SELECT head.ordering_key, head.source, head.event_id, head.status,
                 (SELECT COUNT(*) FROM iap_outbox AS behind
                  WHERE behind.ordering_key = head.ordering_key
                      AND behind.seq > head.seq
                      AND behind.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                      AND behind.status IN ('pending', 'dispatched', 'retrying')) AS waiting
             FROM iap_outbox AS head
             WHERE head.ordering_key IS NOT NULL AND head.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                 AND head.status IN ('failed', 'quarantined')
                 AND NOT EXISTS (
                     SELECT 1 FROM iap_outbox AS earlier
                     WHERE earlier.ordering_key = head.ordering_key
                         AND earlier.seq < head.seq
                         AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined'))
             ORDER BY head.seq LIMIT $1;

-- SELECT_QUARANTINED
SELECT source, event_id, problem, envelope::text FROM iap_outbox
             WHERE status = 'quarantined' ORDER BY seq LIMIT $1;

-- == Monitoring ==

-- COUNT_BY_STATUS
SELECT status, COUNT(*) AS count FROM iap_outbox GROUP BY status;

-- COUNT_INBOX
SELECT COUNT(*) AS count FROM iap_inbox;

-- MIN_DUE_BETWEEN
SELECT iap_micros(MIN(due_at)) AS due_at FROM iap_outbox
         WHERE isfinite(due_at) AND due_at BETWEEN iap_time($1) AND iap_time($2)
             AND NOT held_back;

-- OLDEST_DUE_BETWEEN
SELECT iap_micros(LEAST(
    (SELECT MIN(due_at) FROM iap_outbox
     WHERE isfinite(due_at) AND due_at BETWEEN iap_time($1) AND iap_time($2) AND NOT held_back),
    (SELECT MIN(due_at) FROM iap_outbox
     WHERE held_back AND isfinite(due_at) AND due_at BETWEEN iap_time($1) AND iap_time($2))))
    AS due_at;

-- == Inbox ==

-- INSERT_KEY
INSERT INTO iap_inbox (source, event_id, event, received_at)
         VALUES ($1, $2, $3, iap_time($4))
         ON CONFLICT DO NOTHING;

-- LOCK_INBOX_KEY
SELECT event, iap_micros(received_at) AS received_at FROM iap_inbox WHERE source = $1 AND event_id = $2 FOR UPDATE;

-- RENEW_KEY
UPDATE iap_inbox SET event = $3, received_at = iap_time($4) WHERE source = $1 AND event_id = $2;

-- PURGE_INBOX
DELETE FROM iap_inbox WHERE received_at < iap_time($1);

-- SAVEPOINT
SAVEPOINT iap_admit;

-- RELEASE_SAVEPOINT
RELEASE iap_admit;

-- ROLLBACK_TO_SAVEPOINT
ROLLBACK TO iap_admit;
