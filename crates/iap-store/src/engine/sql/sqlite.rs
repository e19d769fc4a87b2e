//! The SQLite store's SQL, once for the blocking store and its async twin:
//! the schema, its migrations, and every statement (parameters as `?N`).

/// Rows that no claim would ever reach: a waiting state with no due time (or
/// a status that is no state at all), a due time that is not a number of
/// microseconds or is past the last time a reader takes for one, or a row
/// held back with no ordering key to release it (or marked neither held back
/// nor not). Claims sweep them into quarantine through an index of their
/// own, which is empty while the store is sound.
macro_rules! stray_rows {
    () => {
        "((due_at IS NULL AND status NOT IN ('processed', 'acknowledged', 'failed', 'skipped', 'quarantined'))
          OR typeof(due_at) NOT IN ('integer', 'null') OR due_at > 8210266876799999999
          OR (held_back IS NOT 0 AND (held_back IS NOT 1 OR ordering_key IS NULL)))"
    };
}

/// [`stray_rows!`] as schema versions 2 to 5 had it, for the migrations from
/// those versions (which have no held-back column yet).
macro_rules! stray_rows_before_6 {
    () => {
        "((due_at IS NULL AND status NOT IN ('processed', 'acknowledged', 'failed', 'skipped', 'quarantined'))
          OR typeof(due_at) NOT IN ('integer', 'null'))"
    };
}

/// The columns of an outbox row, by the names `StoredRow` reads: the
/// rowid as `seq`, and no claim time (claims are written whole on SQLite).
macro_rules! row_columns {
    () => {
        "rowid AS seq, source, event_id, status, attempts, due_at, renewed_at, envelope, problem,
         NULL AS claimed_at, ordering_key, held_back"
    };
}

/// Where a dead letter stands in the order operators list dead letters in:
/// when it failed (its `settled_at`), or the earliest time there is if the
/// column holds no time (a row edited by hand); the rowid follows, in the
/// index and in every listing.
macro_rules! failed_order {
    () => {
        "(CASE typeof(settled_at) WHEN 'integer' THEN settled_at ELSE -9223372036854775807 END)"
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
CREATE INDEX iap_outbox_settled ON iap_outbox (settled_at)
    WHERE settled_at IS NOT NULL AND status IN ",
            settled_statuses!(),
            ";
CREATE INDEX iap_outbox_dead_letters ON iap_outbox (",
            failed_order!(),
            ") WHERE status = 'failed';
"
        )
    };
}

/// The index of the due rows a claim scans, oldest first, the index of the
/// rows held back behind an earlier envelope of their key, by key (the
/// rowid, enqueue order, following), and the index of the dead letters by
/// key.
macro_rules! due_indexes {
    () => {
        concat!(
            "
CREATE INDEX iap_outbox_due ON iap_outbox (due_at) WHERE due_at IS NOT NULL AND held_back = 0;
CREATE INDEX iap_outbox_held_back ON iap_outbox (ordering_key) WHERE held_back = 1;
",
            key_dead_letters_index!("ordering_key")
        )
    };
}

pub(crate) const SCHEMA: &str = concat!(
    "
CREATE TABLE iap_meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE iap_outbox (
    source     TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    status     TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    due_at     INTEGER,
    envelope   TEXT NOT NULL,
    problem    TEXT,
    renewed_at INTEGER,
    settled_at INTEGER,
    ordering_key TEXT,
    held_back  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, event_id)
);
",
    due_indexes!(),
    "
CREATE INDEX iap_outbox_status ON iap_outbox (status);
",
    resting_indexes!(),
    "
CREATE INDEX iap_outbox_stray ON iap_outbox (status) WHERE ",
    stray_rows!(),
    ";
",
    key_order_index!("ordering_key"),
    "
CREATE TABLE iap_inbox (
    source      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    event       TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (source, event_id)
) WITHOUT ROWID;
CREATE INDEX iap_inbox_received ON iap_inbox (received_at);
"
);

/// From version 1: lease renewals, and the index of stray rows.
pub(crate) const MIGRATE_FROM_1: &str = concat!(
    "
ALTER TABLE iap_outbox ADD COLUMN renewed_at INTEGER;
CREATE INDEX iap_outbox_stray ON iap_outbox (status) WHERE ",
    stray_rows_before_6!(),
    ";
UPDATE iap_meta SET value = 2 WHERE name = 'schema_version';
"
);

/// From version 2: the settling time that retention reads (rows delivered or
/// skipped before the migration count as settled at it).
pub(crate) const MIGRATE_FROM_2: &str = concat!(
    "
ALTER TABLE iap_outbox ADD COLUMN settled_at INTEGER;
UPDATE iap_outbox SET settled_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
    WHERE status IN ",
    settled_statuses!(),
    ";
CREATE INDEX iap_outbox_settled ON iap_outbox (settled_at) WHERE settled_at IS NOT NULL;
UPDATE iap_meta SET value = 3 WHERE name = 'schema_version';
"
);

/// From version 3: ordering keys, read from the envelopes that carry a
/// `partitionkey` (a row whose text is not JSON keeps none, and the first
/// read quarantines it).
pub(crate) const MIGRATE_FROM_3: &str = concat!(
    "
ALTER TABLE iap_outbox ADD COLUMN ordering_key TEXT;
UPDATE iap_outbox SET ordering_key = envelope ->> '$.partitionkey'
    WHERE json_valid(envelope) AND json_type(envelope, '$.partitionkey') = 'text';
",
    key_order_index!("ordering_key"),
    "
UPDATE iap_meta SET value = 4 WHERE name = 'schema_version';
"
);

/// From version 4: rows held back behind an earlier envelope of their key
/// leave the index of due rows (no row is held back yet: claims mark them),
/// and dead letters get an index by key.
pub(crate) const MIGRATE_FROM_4: &str = concat!(
    "
ALTER TABLE iap_outbox ADD COLUMN held_back INTEGER NOT NULL DEFAULT 0;
DROP INDEX iap_outbox_due;
",
    due_indexes!(),
    "
UPDATE iap_meta SET value = 5 WHERE name = 'schema_version';
"
);

/// From version 5: the envelope's delivery record renamed from `delivery`,
/// a name an extension attribute may take, to `_delivery`, which none can
/// (a row whose text is not JSON is left as it is, for its first read to
/// quarantine); and the inbox keeps each key's whole event, not its payload
/// alone (the keys kept so far hold their payload, and are compared with it);
/// the index of stray rows takes in the rows held back with no key and those
/// due at no time a reader takes.
pub(crate) const MIGRATE_FROM_5: &str = concat!(
    "
ALTER TABLE iap_inbox RENAME COLUMN payload TO event;
UPDATE iap_outbox
    SET envelope = json_set(json_remove(envelope, '$.delivery'),
                            '$._delivery', json(envelope -> '$.delivery'))
    WHERE json_valid(envelope) AND json_type(envelope, '$.delivery') IS NOT NULL;
DROP INDEX iap_outbox_stray;
CREATE INDEX iap_outbox_stray ON iap_outbox (status) WHERE ",
    stray_rows!(),
    ";
UPDATE iap_meta SET value = 6 WHERE name = 'schema_version';
"
);

/// From version 6: dead letters keep the time they failed in `settled_at`
/// (read from the last step of their history; one whose history does not
/// read counts as failed at the migration), listed in that order through an
/// index of their own; the index of settled rows leaves them out.
pub(crate) const MIGRATE_FROM_6: &str = concat!(
    "
UPDATE iap_outbox SET settled_at = coalesce(
    (SELECT unixepoch(substr(at, 1, 19)) * 1000000
            + CASE WHEN substr(at, 20, 1) = '.'
                   THEN CAST(substr(substr(at, 21, instr(at, 'Z') - 21) || '000000', 1, 6)
                             AS INTEGER)
                   ELSE 0 END
     FROM (SELECT CASE WHEN json_valid(envelope)
                       THEN envelope ->> '$._delivery.history[#-1].at' END AS at)),
    CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
    WHERE status = 'failed';
DROP INDEX iap_outbox_settled;
",
    resting_indexes!(),
    "
UPDATE iap_meta SET value = 7 WHERE name = 'schema_version';
"
);

/// One row by rowid, unless it is quarantined.
pub(crate) const SELECT_ROW_IF_NOT_QUARANTINED: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE rowid = ?1 AND status <> 'quarantined'"
);

/// A new envelope, due at once; no row if the key is taken.
pub(crate) const ENQUEUE: &str =
    "INSERT INTO iap_outbox (source, event_id, status, attempts, due_at, envelope, ordering_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING";

/// Rows no claim would reach, to quarantine.
pub(crate) const SELECT_STRAYS: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE ",
    stray_rows!(),
    " LIMIT ?1"
);

/// The oldest ?2 due rows that are not held back, as `id`s: the rows a claim
/// at ?1 scans.
macro_rules! scanned_rows {
    () => {
        "SELECT id FROM (SELECT rowid AS id FROM iap_outbox
            WHERE due_at IS NOT NULL AND due_at <= ?1 AND held_back = 0
            ORDER BY due_at LIMIT ?2)"
    };
}

/// The scanned rows of a claim at ?1 ([`scanned_rows!`]) whose key is not
/// free (?3: whether dead letters hold their keys), marked held back: no
/// later claim reads them in its scan, only as the first held back row of
/// their key ([`SELECT_DUE`]). Runs before [`SELECT_DUE`] in the claim's
/// transaction.
pub(crate) const MARK_HELD_BACK: &str = concat!(
    "UPDATE iap_outbox SET held_back = 1 WHERE rowid IN (",
    scanned_rows!(),
    ") AND NOT ",
    key_is_free!("rowid", "?3")
);

/// The columns of a due row as a claim reads it: the row's columns
/// ([`row_columns!`]) and the dead letter of its key it would be sent past
/// ([`dead_letter_passed!`]) as `passed`.
macro_rules! due_columns {
    () => {
        concat!(
            row_columns!(),
            ", ",
            dead_letter_passed!("rowid"),
            " AS passed"
        )
    };
}

/// The keys with rows held back, walked through their index, as the common
/// table expression `held_back_keys` of a `WITH RECURSIVE`.
macro_rules! held_back_keys {
    () => {
        "held_back_keys(ordering_key) AS (
    SELECT MIN(ordering_key) FROM iap_outbox WHERE held_back = 1
    UNION ALL
    SELECT (SELECT MIN(ordering_key) FROM iap_outbox
            WHERE held_back = 1 AND ordering_key > held_back_keys.ordering_key)
    FROM held_back_keys WHERE held_back_keys.ordering_key IS NOT NULL
)"
    };
}

/// Of each key with rows held back ([`held_back_keys!`]), the first of them,
/// if it is due at ?1 and its key is free (?3: whether dead letters hold
/// their keys); each with the dead letter of its key it would be sent past
/// and whether it is held back (it is): [`due_columns!`].
macro_rules! free_heads {
    () => {
        concat!(
            "SELECT ",
            due_columns!(),
            " FROM iap_outbox WHERE rowid IN (
        SELECT (SELECT MIN(rowid) FROM iap_outbox AS head
                WHERE head.held_back = 1 AND head.ordering_key = held_back_keys.ordering_key)
        FROM held_back_keys WHERE held_back_keys.ordering_key IS NOT NULL)
    AND due_at IS NOT NULL AND due_at <= ?1 AND ",
            key_is_free!("rowid", "?3")
        )
    };
}

/// Rows due at ?1 whose ordering key is free (?3: whether dead letters
/// hold their keys), oldest first, at most ?2, as [`due_columns!`] (a
/// held-back row is cleared as it is taken: [`CLEAR_HELD_BACK`]). The
/// candidates are the scanned rows ([`scanned_rows!`]) and the first
/// held-back row of each key ([`free_heads!`]): a claim reads at most ?2
/// rows in due order and one row per key with rows held back, however many
/// envelopes wait behind a key in flight, retrying or held by a dead letter.
pub(crate) const SELECT_DUE: &str = concat!(
    "WITH RECURSIVE ",
    held_back_keys!(),
    "
SELECT ",
    due_columns!(),
    " FROM iap_outbox WHERE rowid IN (",
    scanned_rows!(),
    ")
    AND ",
    key_is_free!("rowid", "?3"),
    "
UNION ALL
",
    free_heads!(),
    "
ORDER BY due_at LIMIT ?2"
);

/// [`SELECT_DUE`] where the claim found every scanned row free (its
/// [`MARK_HELD_BACK`] marked none): the oldest due rows that are not held
/// back are read in one ordered scan of their index, which stops at the
/// ?2nd, since each row it reads is taken.
pub(crate) const SELECT_DUE_IN_ORDER: &str = concat!(
    "WITH RECURSIVE ",
    held_back_keys!(),
    "
SELECT ",
    due_columns!(),
    " FROM iap_outbox WHERE due_at IS NOT NULL AND due_at <= ?1 AND held_back = 0 AND ",
    key_is_free!("rowid", "?3"),
    "
UNION ALL
",
    free_heads!(),
    "
ORDER BY due_at LIMIT ?2"
);

/// An outcome over a claim that is still held (status and attempt unchanged).
pub(crate) const RECORD: &str = "UPDATE iap_outbox
             SET status = ?3, due_at = ?4, envelope = ?5, renewed_at = NULL, settled_at = ?7
             WHERE source = ?1 AND event_id = ?2 AND status = 'dispatched' AND attempts = ?6";

/// Many rows written back at once, from a JSON array of rows
/// `[source, event_id, status, attempts, due_at, envelope, settled_at]`: a
/// claim's rows (claimed, or dead letters whose lease ran out) in one
/// statement.
pub(crate) const WRITE_ROWS: &str = "UPDATE iap_outbox
         SET status = w.value ->> 2, attempts = w.value ->> 3, due_at = w.value ->> 4,
             envelope = w.value ->> 5, renewed_at = NULL, settled_at = w.value ->> 6
         FROM json_each(?1) AS w
         WHERE iap_outbox.source = w.value ->> 0 AND iap_outbox.event_id = w.value ->> 1";

/// Many outcomes over claims that are still held, from a JSON array of rows
/// `[source, event_id, status, attempts, due_at, envelope, settled_at]`,
/// where `attempts` is the claim's; returns the keys of the rows it changed (a key missing is a claim no
/// longer held).
pub(crate) const RECORD_ROWS: &str = "UPDATE iap_outbox
         SET status = w.value ->> 2, due_at = w.value ->> 4, envelope = w.value ->> 5,
             renewed_at = NULL, settled_at = w.value ->> 6
         FROM json_each(?1) AS w
         WHERE iap_outbox.source = w.value ->> 0 AND iap_outbox.event_id = w.value ->> 1
             AND iap_outbox.status = 'dispatched' AND iap_outbox.attempts = w.value ->> 3
         RETURNING iap_outbox.source, iap_outbox.event_id";

/// A new lease for a claim that is still held.
pub(crate) const EXTEND_LEASE: &str = "UPDATE iap_outbox SET due_at = ?3, renewed_at = ?4
             WHERE source = ?1 AND event_id = ?2 AND status = 'dispatched' AND attempts = ?5";

/// A claim given back unsent: the row as it was, if the claim is still held.
pub(crate) const RELEASE_CLAIM: &str =
    "UPDATE iap_outbox SET status = ?3, attempts = ?4, due_at = ?5, renewed_at = ?6, envelope = ?7
                 WHERE source = ?1 AND event_id = ?2 AND status = 'dispatched' AND attempts = ?8";

/// At most ?2 rows delivered or skipped before ?1.
pub(crate) const PURGE_SETTLED: &str = concat!(
    "DELETE FROM iap_outbox WHERE rowid IN (
         SELECT rowid FROM iap_outbox
         WHERE settled_at < ?1 AND status IN ",
    settled_statuses!(),
    "
         LIMIT ?2)"
);

/// Inbox keys older than ?1.
pub(crate) const PURGE_INBOX: &str = "DELETE FROM iap_inbox WHERE received_at < ?1";

/// The dead letters a filter takes: from source ?1 alone, if not null; of
/// event type ?2 alone, if not null (a row whose text is not JSON has none);
/// failed at or before ?3 alone, if not null.
macro_rules! dead_letters_taken {
    () => {
        concat!(
            "status = 'failed'
    AND (?1 IS NULL OR source = ?1)
    AND (?2 IS NULL OR (CASE WHEN json_valid(envelope) THEN envelope ->> '$.type' END) = ?2)
    AND ",
            failed_order!(),
            " <= ifnull(?3, 9223372036854775807)"
        )
    };
}

/// At most ?6 of the dead letters a filter takes ([`dead_letters_taken!`]),
/// in the order they failed, after the place (?4, ?5) in that order
/// ([`failed_order!`], rowid), as [`row_columns!`] and the row's place in
/// the order.
pub(crate) const SELECT_DEAD_LETTERS_PAGE: &str = concat!(
    "SELECT ",
    row_columns!(),
    ", ",
    failed_order!(),
    " AS failed_order FROM iap_outbox INDEXED BY iap_outbox_dead_letters
    WHERE ",
    dead_letters_taken!(),
    "
    AND ",
    failed_order!(),
    " >= ?4 AND (",
    failed_order!(),
    ", rowid) > (?4, ?5)
    ORDER BY ",
    failed_order!(),
    ", rowid LIMIT ?6"
);

/// How many dead letters a filter takes ([`dead_letters_taken!`]).
pub(crate) const COUNT_DEAD_LETTERS: &str = concat!(
    "SELECT COUNT(*) AS count FROM iap_outbox WHERE ",
    dead_letters_taken!()
);

/// Every dead letter.
pub(crate) const SELECT_DEAD_LETTERS: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE status = 'failed'"
);

/// The keys held by a dead letter at their head, at most ?1.
pub(crate) const HELD_KEYS: &str = held_keys!("rowid", "?1");

/// Quarantined rows as operators see them, at most ?1.
pub(crate) const SELECT_QUARANTINED: &str =
    "SELECT source, event_id, problem, envelope FROM iap_outbox
             WHERE status = 'quarantined' ORDER BY rowid LIMIT ?1";

/// The quarantined row with this key.
pub(crate) const SELECT_QUARANTINED_KEY: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE source = ?1 AND event_id = ?2 AND status = 'quarantined'"
);

/// A repaired row back in circulation, due and settled as its envelope says.
pub(crate) const RELEASE_QUARANTINED: &str =
    "UPDATE iap_outbox SET status = ?2, due_at = ?3, renewed_at = NULL, problem = NULL,
                 settled_at = ?4
             WHERE rowid = ?1";

/// A quarantined row, deleted.
pub(crate) const DELETE_QUARANTINED: &str =
    "DELETE FROM iap_outbox WHERE source = ?1 AND event_id = ?2 AND status = 'quarantined'";

/// Every row that is not quarantined, for `verify`.
pub(crate) const SELECT_UNQUARANTINED: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE status IS NOT 'quarantined' ORDER BY rowid"
);

/// Rows by status column.
pub(crate) const COUNT_BY_STATUS: &str =
    "SELECT status, COUNT(*) AS count FROM iap_outbox GROUP BY status";

/// Inbox keys.
pub(crate) const COUNT_INBOX: &str = "SELECT COUNT(*) AS count FROM iap_inbox";

/// The earliest due time between ?1 and ?2 of a row not held back.
pub(crate) const MIN_DUE_BETWEEN: &str = "SELECT MIN(due_at) AS due_at FROM iap_outbox
             WHERE due_at IS NOT NULL AND held_back = 0 AND due_at BETWEEN ?1 AND ?2
                 AND typeof(due_at) = 'integer'";

/// The earliest due time between ?1 and ?2 of any row, held back or not:
/// how long envelopes have been waiting (the held-back rows read through
/// their index, one entry each).
pub(crate) const OLDEST_DUE_BETWEEN: &str = "SELECT MIN(due) AS due_at FROM (
    SELECT MIN(due_at) AS due FROM iap_outbox
    WHERE due_at IS NOT NULL AND held_back = 0 AND due_at BETWEEN ?1 AND ?2
        AND typeof(due_at) = 'integer'
    UNION ALL
    SELECT MIN(due_at) FROM iap_outbox
    WHERE held_back = 1 AND due_at BETWEEN ?1 AND ?2 AND typeof(due_at) = 'integer')";

/// The schema version of a new store.
pub(crate) const INSERT_VERSION: &str =
    "INSERT INTO iap_meta (name, value) VALUES ('schema_version', ?1)";

/// Whether the file has the version table.
pub(crate) const HAS_META: &str = "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'iap_meta') AS present";

/// Whether the file has store tables.
pub(crate) const HAS_TABLES: &str = "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name IN ('iap_outbox', 'iap_inbox')) AS present";

/// The schema version.
pub(crate) const SELECT_VERSION: &str = "SELECT value FROM iap_meta WHERE name = 'schema_version'";

/// An inbox key received at or after ?3.
pub(crate) const SELECT_FRESH_KEY: &str =
    "SELECT event FROM iap_inbox WHERE source = ?1 AND event_id = ?2 AND received_at >= ?3";

/// An inbox key, replacing an expired one.
pub(crate) const REMEMBER_KEY: &str =
    "INSERT INTO iap_inbox (source, event_id, event, received_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (source, event_id) DO UPDATE SET event = ?3, received_at = ?4";

/// The row with this key.
pub(crate) const SELECT_KEY: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE source = ?1 AND event_id = ?2"
);

/// An envelope written over its row.
pub(crate) const WRITE_ROW: &str = "UPDATE iap_outbox
         SET status = ?3, attempts = ?4, due_at = ?5, envelope = ?6, renewed_at = NULL,
             settled_at = ?7
         WHERE source = ?1 AND event_id = ?2";

/// A held-back row a claim takes (or dead-letters), back among the rows
/// claims scan. Only such rows are written so: a write of the column, even
/// of the value it holds, costs SQLite the upkeep of the indexes it bounds.
pub(crate) const CLEAR_HELD_BACK: &str = "UPDATE iap_outbox SET held_back = 0 WHERE rowid = ?1";

/// A row set aside, with the reason.
pub(crate) const QUARANTINE: &str =
    "UPDATE iap_outbox SET status = ?2, due_at = NULL, renewed_at = NULL, problem = ?3,
             held_back = 0
         WHERE rowid = ?1";
