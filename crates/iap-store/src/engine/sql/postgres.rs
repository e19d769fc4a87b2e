//! The PostgreSQL store's SQL, once for the blocking store and its async
//! twin: the schema, its migrations, and every statement (parameters as `$N`).
//!
//! Times are `timestamptz` columns; the statements take and return them as
//! microseconds since the Unix epoch through `iap_time` and `iap_micros`, the
//! form the rest of the crate (and the SQLite store) keeps them in. Envelopes
//! are `jsonb` columns, written and read as JSON text.

/// Rows that no claim would ever reach: a waiting state (or a status that is
/// no state at all) with no due time, a due time past the last time a
/// reader takes for one (`infinity` among them), or a row held back with no
/// ordering key to release it. Claims sweep them into quarantine through an
/// index of their own, which is empty while the store is sound.
macro_rules! stray_rows {
    () => {
        "((due_at IS NULL AND status NOT IN ('processed', 'acknowledged', 'failed', 'skipped', 'quarantined'))
          OR due_at >= '262143-01-01T00:00:00Z' OR (held_back AND ordering_key IS NULL))"
    };
}

/// [`stray_rows!`] as schema versions 2 to 5 had it, for the migrations from
/// those versions (which have no held-back column yet).
macro_rules! stray_rows_before_6 {
    () => {
        "due_at IS NULL AND status NOT IN ('processed', 'acknowledged', 'failed', 'skipped', 'quarantined')"
    };
}

/// The columns of an outbox row, by the names `StoredRow` reads.
macro_rules! row_columns {
    () => {
        "seq, source, event_id, status, attempts, iap_micros(due_at) AS due_at,
         iap_micros(renewed_at) AS renewed_at, envelope::text AS envelope, problem,
         iap_micros(claimed_at) AS claimed_at, ordering_key, held_back"
    };
}

/// The conversions between the `timestamptz` columns and microseconds since
/// the Unix epoch. Both are total: a time before the earliest PostgreSQL can
/// hold is `-infinity`, and an infinite time reads as the end of its range
/// (which no reader takes for a time).
macro_rules! time_functions {
    () => {
        "
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
"
    };
}

/// The function and trigger that notify listening relays when an enqueue
/// commits, on a channel of the store's schema (`iap_outbox:<schema>`).
macro_rules! notify_trigger {
    () => {
        "
CREATE FUNCTION iap_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('iap_outbox:' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END
$$;
CREATE TRIGGER iap_outbox_enqueued AFTER INSERT ON iap_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION iap_outbox_notify();
"
    };
}

/// Where a dead letter stands in the order operators list dead letters in:
/// when it failed (its `settled_at`, in microseconds), or the earliest time
/// there is if the column holds none (a row edited by hand); `seq` follows,
/// in the index and in every listing.
macro_rules! failed_order {
    () => {
        "iap_micros(COALESCE(settled_at, '-infinity'))"
    };
}

/// The index of the dead letters in the order they failed, and the index of
/// the settled rows (delivered or skipped) by settling time, which retention
/// reads. Dead letters keep their failure time in the same column, and stay
/// out of the index of settled rows, so that a purge never reads past them.
macro_rules! resting_indexes {
    () => {
        concat!(
            "
CREATE INDEX iap_outbox_settled ON iap_outbox (settled_at) WHERE status IN ",
            settled_statuses!(),
            ";
CREATE INDEX iap_outbox_dead_letters ON iap_outbox ((",
            failed_order!(),
            "), seq) WHERE status = 'failed';
"
        )
    };
}

/// Indexes of the few rows an operator lists: dead letters and quarantined
/// rows (as schema versions 3 to 6 had them: the dead letters by `seq`).
/// (An index of every row's status would take a new entry at every change
/// of state, and a claim or record could be planned through it, visiting
/// every row version a busy table leaves behind.)
macro_rules! narrow_status_indexes {
    () => {
        "
CREATE INDEX iap_outbox_dead_letters ON iap_outbox (seq) WHERE status = 'failed';
CREATE INDEX iap_outbox_quarantined ON iap_outbox (seq) WHERE status = 'quarantined';
"
    };
}

/// The index of the due rows a claim scans, oldest first, the index of the
/// rows held back behind an earlier envelope of their key, by key in enqueue
/// order, and the index of the dead letters by key.
macro_rules! due_indexes {
    () => {
        concat!(
            "
CREATE INDEX iap_outbox_due ON iap_outbox (due_at) WHERE due_at IS NOT NULL AND NOT held_back;
CREATE INDEX iap_outbox_held_back ON iap_outbox (ordering_key, seq) WHERE held_back;
",
            key_dead_letters_index!("ordering_key, seq")
        )
    };
}

/// The server's clock, as a function of the schema: the one clock that the
/// leases, due times and key order of every worker go by.
macro_rules! server_clock {
    () => {
        "
CREATE OR REPLACE FUNCTION iap_clock() RETURNS TIMESTAMPTZ
    LANGUAGE sql VOLATILE PARALLEL SAFE AS $$ SELECT clock_timestamp() $$;
"
    };
}

/// The schema of a new store (version 7).
pub(crate) const SCHEMA: &str = concat!(
    time_functions!(),
    server_clock!(),
    "
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
",
    due_indexes!(),
    resting_indexes!(),
    key_order_index!("ordering_key, seq"),
    "
CREATE INDEX iap_outbox_quarantined ON iap_outbox (seq) WHERE status = 'quarantined';
CREATE INDEX iap_outbox_stray ON iap_outbox (seq) WHERE ",
    stray_rows!(),
    ";
CREATE TABLE iap_inbox (
    source      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    event       TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, event_id)
);
CREATE INDEX iap_inbox_received ON iap_inbox (received_at);
",
    notify_trigger!()
);

/// From version 1: lease renewals, and the index of stray rows.
pub(crate) const MIGRATE_FROM_1: &str = concat!(
    "
ALTER TABLE iap_outbox ADD COLUMN renewed_at BIGINT;
CREATE INDEX iap_outbox_stray ON iap_outbox (seq) WHERE ",
    stray_rows_before_6!(),
    ";
UPDATE iap_meta SET value = 2 WHERE name = 'schema_version';
"
);

/// From version 2: the settling time that retention reads (rows delivered or
/// skipped before the migration count as settled at it), narrow indexes in
/// place of the index of every status, room on each page for updated rows,
/// and notifications of enqueues.
pub(crate) const MIGRATE_FROM_2: &str = concat!(
    "
ALTER TABLE iap_outbox ADD COLUMN settled_at BIGINT;
UPDATE iap_outbox SET settled_at = (extract(epoch FROM now()) * 1000000)::bigint
    WHERE status IN ",
    settled_statuses!(),
    ";
CREATE INDEX iap_outbox_settled ON iap_outbox (settled_at) WHERE settled_at IS NOT NULL;
DROP INDEX iap_outbox_status;
",
    narrow_status_indexes!(),
    "
ALTER TABLE iap_outbox SET (fillfactor = 80);
",
    notify_trigger!(),
    "
UPDATE iap_meta SET value = 3 WHERE name = 'schema_version';
"
);

/// From version 3: times as `timestamptz`, envelopes as `jsonb`, the time
/// of a claim recorded in its row, and ordering keys (read from the
/// envelopes that carry a `partitionkey`). The outbox and inbox tables are
/// rewritten. An envelope whose text is not JSON (a row damaged by hand) is
/// kept as a JSON string of that text, so that the first read quarantines it
/// with its content intact.
pub(crate) const MIGRATE_FROM_3: &str = concat!(
    time_functions!(),
    "
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
",
    key_order_index!("ordering_key, seq"),
    "
ALTER TABLE iap_inbox ALTER COLUMN received_at TYPE TIMESTAMPTZ USING iap_time(received_at);
UPDATE iap_meta SET value = 4 WHERE name = 'schema_version';
"
);

/// From version 4: rows held back behind an earlier envelope of their key
/// leave the index of due rows (no row is held back yet: claims mark them),
/// and dead letters get an index by key.
pub(crate) const MIGRATE_FROM_4: &str = concat!(
    "
ALTER TABLE iap_outbox ADD COLUMN held_back BOOLEAN NOT NULL DEFAULT false;
DROP INDEX iap_outbox_due;
",
    due_indexes!(),
    "
UPDATE iap_meta SET value = 5 WHERE name = 'schema_version';
"
);

/// From version 5: the envelope's delivery record renamed from `delivery`,
/// a name an extension attribute may take, to `_delivery`, which none can
/// (a row damaged by hand that holds no JSON object is left as it is, for its
/// first read to quarantine); the server's clock as a function of the schema
/// (`iap_clock()`); and the inbox keeps each key's whole event, not
/// its payload alone (the keys kept so far hold their payload, and are
/// compared with it); the index of stray rows takes in the rows held back
/// with no key and those due at no time a reader takes.
pub(crate) const MIGRATE_FROM_5: &str = concat!(
    "
ALTER TABLE iap_inbox RENAME COLUMN payload TO event;
UPDATE iap_outbox
    SET envelope = (envelope - 'delivery') || jsonb_build_object('_delivery', envelope -> 'delivery')
    WHERE jsonb_typeof(envelope) = 'object' AND envelope ? 'delivery';
DROP INDEX iap_outbox_stray;
CREATE INDEX iap_outbox_stray ON iap_outbox (seq) WHERE ",
    stray_rows!(),
    ";
",
    server_clock!(),
    "
UPDATE iap_meta SET value = 6 WHERE name = 'schema_version';
"
);

/// From version 6: dead letters keep the time they failed in `settled_at`
/// (read from the last step of their history; one whose history does not
/// read counts as failed at the migration), listed in that order through
/// their index, which is built again; the index of settled rows leaves them
/// out.
pub(crate) const MIGRATE_FROM_6: &str = concat!(
    "
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
",
    resting_indexes!(),
    "
UPDATE iap_meta SET value = 7 WHERE name = 'schema_version';
"
);

/// The notification channel of the store in the current schema.
#[cfg(feature = "async-postgres")]
pub(crate) const NOTIFY_CHANNEL: &str = "SELECT 'iap_outbox:' || current_schema()";

/// The server's clock, in microseconds since the Unix epoch.
#[cfg(feature = "postgres")]
pub(crate) const SERVER_CLOCK: &str = "SELECT iap_micros(iap_clock())";

/// Serializes concurrent migrations for the rest of the transaction.
pub(crate) const TAKE_MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock($1)";

/// The database and the schema the connection works in (null when no
/// schema of its search path exists).
#[cfg(feature = "postgres")]
pub(crate) const DATABASE_AND_SCHEMA: &str =
    "SELECT current_database()::text, current_schema()::text";

/// Whether the schema has store tables.
pub(crate) const HAS_TABLES: &str =
    "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema()
                         AND tablename IN ('iap_outbox', 'iap_inbox')) AS present";

/// The schema version of a new store.
pub(crate) const INSERT_VERSION: &str =
    "INSERT INTO iap_meta (name, value) VALUES ('schema_version', $1)";

/// Whether the schema has the version table.
pub(crate) const HAS_META: &str = "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'iap_meta') AS present";

/// The schema version.
pub(crate) const SELECT_VERSION: &str = "SELECT value FROM iap_meta WHERE name = 'schema_version'";

/// A new envelope, due at once; no row if the key is taken.
pub(crate) const ENQUEUE: &str =
    "INSERT INTO iap_outbox (source, event_id, status, attempts, due_at, envelope, ordering_key)
             VALUES ($1, $2, $3, $4, iap_time($5), $6::text::jsonb, $7) ON CONFLICT DO NOTHING";

/// The rows a claim at $1 may take, at most $2, skipping rows other workers
/// hold (`$hold`: whether dead letters hold their keys), as the common table
/// expressions of a `WITH RECURSIVE`:
///
/// - `scanned`: the oldest $2 due rows that are not held back, each with
///   whether its key is free ([`key_is_free!`]); a claim marks the others
///   held back, so that no later claim reads them in its scan;
/// - `heads`: of each key with rows held back, the first of them, if it is
///   due and its key free now (walking the keys through their index:
///   `held_back_keys`);
/// - `due`: the free rows of both, oldest first, at most $2, each with the
///   dead letter of its key it would be sent past ([`dead_letter_passed!`]).
///
/// So a claim reads at most $2 rows in due order and one row per key with
/// rows held back, however many envelopes wait behind a key in flight,
/// retrying or held by a dead letter.
macro_rules! claim_candidates {
    ($hold:literal) => {
        concat!(
            "held_back_keys AS (
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
        ",
            key_is_free!("seq", $hold),
            " AS free,
        ",
            dead_letter_passed!("seq"),
            " AS passed
    FROM iap_outbox
    WHERE due_at IS NOT NULL AND due_at <= iap_time($1) AND NOT held_back
    ORDER BY due_at LIMIT $2
    FOR UPDATE SKIP LOCKED
), heads AS (
    SELECT iap_outbox.source, iap_outbox.event_id, iap_outbox.status, iap_outbox.attempts,
        iap_outbox.due_at, iap_outbox.renewed_at, true AS free,
        ",
            dead_letter_passed!("seq"),
            " AS passed
    FROM held_back_keys JOIN iap_outbox ON iap_outbox.source = held_back_keys.source
        AND iap_outbox.event_id = held_back_keys.event_id
    WHERE iap_outbox.held_back AND iap_outbox.due_at <= iap_time($1) AND ",
            key_is_free!("seq", $hold),
            "
    LIMIT $2
    FOR UPDATE OF iap_outbox SKIP LOCKED
), due AS (
    SELECT source, event_id, status, attempts, due_at, renewed_at, passed, false AS held_back
    FROM scanned WHERE free
    UNION ALL
    SELECT source, event_id, status, attempts, due_at, renewed_at, passed, true AS held_back
    FROM heads
    ORDER BY due_at LIMIT $2
)"
        )
    };
}

/// Pending and retrying rows due at $1 whose ordering key is free ($4:
/// whether dead letters hold their keys), oldest first, at most $2, claimed
/// in one statement ([`claim_candidates!`]): each is marked dispatched with
/// one more attempt, leased until $3 and claimed at $1; its envelope is left
/// as it was (the reader dispatches it at the claim time). The scanned rows
/// whose key is not free are marked held back. Returns each claimed row as
/// it was before the claim ([`row_columns!`]) and, in the last column, how
/// many rows need the claim's transaction instead: due rows in another state
/// (leases run out, mostly), rows sent past a dead letter of their key
/// (whose history says so), and rows no claim would reach. When nothing is
/// claimed, one row of nulls carries that count.
pub(crate) const CLAIM_DUE: &str = concat!(
    "WITH RECURSIVE ",
    claim_candidates!("$4"),
    ", marked AS (
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
         + (SELECT COUNT(*) FROM (SELECT 1 FROM iap_outbox WHERE ",
    stray_rows!(),
    " LIMIT 1) AS stray) AS count
)
SELECT ",
    row_columns!(),
    ", leftovers.count AS leftovers FROM leftovers LEFT JOIN claimed ON true"
);

/// Rows no claim would reach, to quarantine, skipping rows other workers hold.
pub(crate) const SELECT_STRAYS: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE ",
    stray_rows!(),
    " LIMIT $1 FOR UPDATE SKIP LOCKED"
);

/// Rows due at $1 whose ordering key is free ($3: whether dead letters hold
/// their keys), oldest first, at most $2, skipping rows other workers hold
/// ([`claim_candidates!`]); each with the dead letter of its key it would be
/// sent past, if any.
pub(crate) const SELECT_DUE: &str = concat!(
    "WITH RECURSIVE ",
    claim_candidates!("$3"),
    "
SELECT ",
    row_columns!(),
    ",
    (SELECT due.passed FROM due
     WHERE due.source = iap_outbox.source AND due.event_id = iap_outbox.event_id) AS passed
FROM iap_outbox WHERE (source, event_id) IN (SELECT source, event_id FROM due)
ORDER BY due_at"
);

/// An outcome over a claim that is still held (status and attempt unchanged).
pub(crate) const RECORD: &str = "UPDATE iap_outbox
             SET status = $3, due_at = iap_time($4), envelope = $5::text::jsonb, renewed_at = NULL,
                 settled_at = iap_time($7), claimed_at = NULL
             WHERE source = $1 AND event_id = $2 AND status = 'dispatched' AND attempts = $6";

/// Many outcomes over claims that are still held, from parallel arrays of
/// sources, event ids, statuses, the claims' attempts, due times, envelope
/// texts and settling times; returns the keys of the rows it changed (a
/// key missing is a claim no longer held).
pub(crate) const RECORD_ROWS: &str = "UPDATE iap_outbox AS o
         SET status = w.status, due_at = iap_time(w.due_at), envelope = w.envelope::jsonb,
             renewed_at = NULL, settled_at = iap_time(w.settled_at), claimed_at = NULL
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
                     $7::bigint[])
             AS w (source, event_id, status, attempts, due_at, envelope, settled_at)
         WHERE o.source = w.source AND o.event_id = w.event_id
             AND o.status = 'dispatched' AND o.attempts = w.attempts
         RETURNING o.source, o.event_id";

/// A new lease for a claim that is still held.
pub(crate) const EXTEND_LEASE: &str =
    "UPDATE iap_outbox SET due_at = iap_time($3), renewed_at = iap_time($4)
             WHERE source = $1 AND event_id = $2 AND status = 'dispatched' AND attempts = $5";

/// A claim given back unsent: the row as it was, if the claim is still held.
pub(crate) const RELEASE_CLAIM: &str = "UPDATE iap_outbox
         SET status = $3, attempts = $4, due_at = iap_time($5), renewed_at = iap_time($6),
             envelope = $7::text::jsonb, claimed_at = iap_time($9)
         WHERE source = $1 AND event_id = $2 AND status = 'dispatched' AND attempts = $8";

/// At most $2 rows delivered or skipped before $1, skipping rows other
/// workers hold.
pub(crate) const PURGE_SETTLED: &str = concat!(
    "DELETE FROM iap_outbox WHERE (source, event_id) IN (
         SELECT source, event_id FROM iap_outbox
         WHERE settled_at < iap_time($1) AND status IN ",
    settled_statuses!(),
    "
         LIMIT $2 FOR UPDATE SKIP LOCKED)"
);

/// Inbox keys older than $1.
pub(crate) const PURGE_INBOX: &str = "DELETE FROM iap_inbox WHERE received_at < iap_time($1)";

/// The dead letters a filter takes: from source $1 alone, if not null; of
/// event type $2 alone, if not null; failed at or before $3 (microseconds)
/// alone, if not null.
macro_rules! dead_letters_taken {
    () => {
        concat!(
            "status = 'failed'
    AND ($1::text IS NULL OR source = $1::text)
    AND ($2::text IS NULL OR envelope ->> 'type' = $2::text)
    AND ",
            failed_order!(),
            " <= COALESCE($3::bigint, 9223372036854775807)"
        )
    };
}

/// At most $6 of the dead letters a filter takes ([`dead_letters_taken!`]),
/// in the order they failed, after the place ($4, $5) in that order
/// ([`failed_order!`], `seq`), as [`row_columns!`] and the row's place in
/// the order.
macro_rules! dead_letters_page {
    () => {
        concat!(
            "SELECT ",
            row_columns!(),
            ", ",
            failed_order!(),
            " AS failed_order FROM iap_outbox WHERE ",
            dead_letters_taken!(),
            "
    AND (",
            failed_order!(),
            ", seq) > ($4::bigint, $5::bigint)
    ORDER BY ",
            failed_order!(),
            ", seq LIMIT $6"
        )
    };
}

/// A page of dead letters ([`dead_letters_page!`]), to read.
pub(crate) const SELECT_DEAD_LETTERS_PAGE: &str = dead_letters_page!();

/// A page of dead letters ([`dead_letters_page!`]), locked for a redrive,
/// skipping rows another transaction holds (another operator's redrive).
pub(crate) const LOCK_DEAD_LETTERS_PAGE: &str =
    concat!(dead_letters_page!(), " FOR UPDATE SKIP LOCKED");

/// How many dead letters a filter takes ([`dead_letters_taken!`]).
pub(crate) const COUNT_DEAD_LETTERS: &str = concat!(
    "SELECT COUNT(*) AS count FROM iap_outbox WHERE ",
    dead_letters_taken!()
);

/// Every dead letter, locked for a redrive.
pub(crate) const LOCK_DEAD_LETTERS: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE status = 'failed' FOR UPDATE"
);

/// The keys held by a dead letter at their head, at most $1.
pub(crate) const HELD_KEYS: &str = held_keys!("seq", "$1");

/// Quarantined rows as operators see them, at most $1.
pub(crate) const SELECT_QUARANTINED: &str =
    "SELECT source, event_id, problem, envelope::text FROM iap_outbox
             WHERE status = 'quarantined' ORDER BY seq LIMIT $1";

/// A repaired row back in circulation, due and settled as its envelope says.
pub(crate) const RELEASE_QUARANTINED: &str =
    "UPDATE iap_outbox SET status = $3, due_at = iap_time($4), renewed_at = NULL, problem = NULL,
                 settled_at = iap_time($5)
             WHERE source = $1 AND event_id = $2";

/// A quarantined row, deleted.
pub(crate) const DELETE_QUARANTINED: &str =
    "DELETE FROM iap_outbox WHERE source = $1 AND event_id = $2 AND status = 'quarantined'";

/// Every row that is not quarantined, for `verify`.
pub(crate) const SELECT_UNQUARANTINED: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE status <> 'quarantined' ORDER BY seq"
);

/// Rows by status column.
pub(crate) const COUNT_BY_STATUS: &str =
    "SELECT status, COUNT(*) AS count FROM iap_outbox GROUP BY status";

/// Inbox keys.
pub(crate) const COUNT_INBOX: &str = "SELECT COUNT(*) AS count FROM iap_inbox";

/// The earliest due time between $1 and $2 of a row not held back (an
/// infinite one, written by hand, is not a time).
pub(crate) const MIN_DUE_BETWEEN: &str = "SELECT iap_micros(MIN(due_at)) AS due_at FROM iap_outbox
         WHERE isfinite(due_at) AND due_at BETWEEN iap_time($1) AND iap_time($2)
             AND NOT held_back";

/// The earliest due time between $1 and $2 of any row, held back or not:
/// how long envelopes have been waiting (the held-back rows read through
/// their index, one entry each).
pub(crate) const OLDEST_DUE_BETWEEN: &str = "SELECT iap_micros(LEAST(
    (SELECT MIN(due_at) FROM iap_outbox
     WHERE isfinite(due_at) AND due_at BETWEEN iap_time($1) AND iap_time($2) AND NOT held_back),
    (SELECT MIN(due_at) FROM iap_outbox
     WHERE held_back AND isfinite(due_at) AND due_at BETWEEN iap_time($1) AND iap_time($2))))
    AS due_at";

/// An inbox key, unless it is there.
pub(crate) const INSERT_KEY: &str = "INSERT INTO iap_inbox (source, event_id, event, received_at)
         VALUES ($1, $2, $3, iap_time($4))
         ON CONFLICT DO NOTHING";

/// An inbox key that is there, locked.
pub(crate) const LOCK_KEY: &str = "SELECT event, iap_micros(received_at) AS received_at FROM iap_inbox WHERE source = $1 AND event_id = $2 FOR UPDATE";

/// An expired inbox key, taken again.
pub(crate) const RENEW_KEY: &str = "UPDATE iap_inbox SET event = $3, received_at = iap_time($4) WHERE source = $1 AND event_id = $2";

/// The row with this key, locked.
pub(crate) const LOCK_ROW: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE source = $1 AND event_id = $2 FOR UPDATE"
);

/// The row with this key, unless it is quarantined, locked.
pub(crate) const LOCK_ROW_IF_NOT_QUARANTINED: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE source = $1 AND event_id = $2 AND status <> 'quarantined' FOR UPDATE"
);

/// The quarantined row with this key, locked.
pub(crate) const LOCK_QUARANTINED_KEY: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE source = $1 AND event_id = $2 AND status = 'quarantined' FOR UPDATE"
);

/// The row with this key.
pub(crate) const SELECT_KEY: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE source = $1 AND event_id = $2"
);

/// An envelope written over its row.
pub(crate) const WRITE_ROW: &str = "UPDATE iap_outbox
         SET status = $3, attempts = $4, due_at = iap_time($5), envelope = $6::text::jsonb,
             renewed_at = NULL, settled_at = iap_time($7), claimed_at = NULL, held_back = false
         WHERE source = $1 AND event_id = $2";

/// Many rows written back at once, from parallel arrays of sources, event
/// ids, statuses, attempts, due times, envelope texts and settling times: a
/// claim's rows (claimed, or dead letters whose lease ran out) in one
/// statement.
pub(crate) const WRITE_ROWS: &str = "UPDATE iap_outbox AS o
         SET status = w.status, attempts = w.attempts, due_at = iap_time(w.due_at),
             envelope = w.envelope::jsonb, renewed_at = NULL, claimed_at = NULL, held_back = false,
             settled_at = iap_time(w.settled_at)
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
                     $7::bigint[])
             AS w (source, event_id, status, attempts, due_at, envelope, settled_at)
         WHERE o.source = w.source AND o.event_id = w.event_id";

/// A row set aside, with the reason. A claim recorded only in the row is
/// given back (its attempt uncounted), so that the row and its envelope agree
/// again and a release sends it as it was before the claim.
pub(crate) const QUARANTINE: &str = "UPDATE iap_outbox
         SET status = $3, due_at = NULL, renewed_at = NULL, problem = $4,
             attempts = CASE WHEN claimed_at IS NULL THEN attempts ELSE attempts - 1 END,
             claimed_at = NULL, held_back = false
         WHERE source = $1 AND event_id = $2";
