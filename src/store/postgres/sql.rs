//! The PostgreSQL store's SQL, once for the blocking store and its async
//! twin: the schema, its migrations, and every statement (parameters as `$N`).

/// Rows that no claim would ever reach: a waiting state (or a status that is
/// no state at all) with no due time. Claims sweep them into quarantine
/// through an index of their own, which is empty while the store is sound.
macro_rules! stray_rows {
    () => {
        "due_at IS NULL AND status NOT IN ('processed', 'acknowledged', 'failed', 'skipped', 'quarantined')"
    };
}

/// The columns of an outbox row, in the order `raw_row` reads them.
macro_rules! row_columns {
    () => {
        "seq, source, event_id, status, attempts, due_at, renewed_at, envelope, problem"
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

/// Indexes of the few rows an operator lists: dead letters and quarantined
/// rows. (An index of every row's status would take a new entry at every
/// change of state, and a claim or record could be planned through it,
/// visiting every row version a busy table leaves behind.)
macro_rules! narrow_status_indexes {
    () => {
        "
CREATE INDEX iap_outbox_dead_letters ON iap_outbox (seq) WHERE status = 'failed';
CREATE INDEX iap_outbox_quarantined ON iap_outbox (seq) WHERE status = 'quarantined';
"
    };
}

/// The schema of a new store (version 3).
pub(super) const SCHEMA: &str = concat!(
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
    due_at     BIGINT,
    envelope   TEXT NOT NULL,
    problem    TEXT,
    renewed_at BIGINT,
    settled_at BIGINT,
    PRIMARY KEY (source, event_id)
) WITH (fillfactor = 80);
CREATE INDEX iap_outbox_due ON iap_outbox (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX iap_outbox_settled ON iap_outbox (settled_at) WHERE settled_at IS NOT NULL;
",
    narrow_status_indexes!(),
    "
CREATE INDEX iap_outbox_stray ON iap_outbox (seq) WHERE ",
    stray_rows!(),
    ";
CREATE TABLE iap_inbox (
    source      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    payload     TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (source, event_id)
);
CREATE INDEX iap_inbox_received ON iap_inbox (received_at);
",
    notify_trigger!()
);

/// From version 1: lease renewals, and the index of stray rows.
pub(super) const MIGRATE_FROM_1: &str = concat!(
    "
ALTER TABLE iap_outbox ADD COLUMN renewed_at BIGINT;
CREATE INDEX iap_outbox_stray ON iap_outbox (seq) WHERE ",
    stray_rows!(),
    ";
UPDATE iap_meta SET value = 2 WHERE name = 'schema_version';
"
);

/// From version 2: the settling time that retention reads (rows delivered or
/// skipped before the migration count as settled at it), narrow indexes in
/// place of the index of every status, room on each page for updated rows,
/// and notifications of enqueues.
pub(super) const MIGRATE_FROM_2: &str = concat!(
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

/// The migrations, in order: the one at index `v - 1` takes a store from
/// version `v` to `v + 1`.
pub(super) const MIGRATIONS: [&str; 2] = [MIGRATE_FROM_1, MIGRATE_FROM_2];

/// The notification channel of the store in the current schema.
#[cfg(feature = "async-postgres")]
pub(super) const NOTIFY_CHANNEL: &str = "SELECT 'iap_outbox:' || current_schema()";

/// Serializes concurrent migrations for the rest of the transaction.
pub(super) const TAKE_MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock($1)";

/// Whether the schema has store tables.
pub(super) const HAS_TABLES: &str =
    "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema()
                         AND tablename IN ('iap_outbox', 'iap_inbox'))";

/// The schema version of a new store.
pub(super) const INSERT_VERSION: &str =
    "INSERT INTO iap_meta (name, value) VALUES ('schema_version', $1)";

/// Whether the schema has the version table.
pub(super) const HAS_META: &str = "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'iap_meta')";

/// The schema version.
pub(super) const SELECT_VERSION: &str = "SELECT value FROM iap_meta WHERE name = 'schema_version'";

/// A new envelope, due at once; no row if the key is taken.
pub(super) const ENQUEUE: &str =
    "INSERT INTO iap_outbox (source, event_id, status, attempts, due_at, envelope)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";

/// Rows no claim would reach, to quarantine, skipping rows other workers hold.
pub(super) const SELECT_STRAYS: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE ",
    stray_rows!(),
    " LIMIT $1 FOR UPDATE SKIP LOCKED"
);

/// Rows due at $1, oldest first, at most $2, skipping rows other workers hold.
pub(super) const SELECT_DUE: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at LIMIT $2
                 FOR UPDATE SKIP LOCKED"
);

/// An outcome over a claim that is still held (status and attempt unchanged).
pub(super) const RECORD: &str = "UPDATE iap_outbox
             SET status = $3, due_at = $4, envelope = $5, renewed_at = NULL, settled_at = $7
             WHERE source = $1 AND event_id = $2 AND status = 'dispatched' AND attempts = $6";

/// Many outcomes over claims that are still held, from parallel arrays of
/// sources, event ids, statuses, due times, envelope texts, the claims'
/// attempts and settling times; returns the keys of the rows it changed (a
/// key missing is a claim no longer held).
pub(super) const RECORD_ROWS: &str = "UPDATE iap_outbox AS o
         SET status = w.status, due_at = w.due_at, envelope = w.envelope, renewed_at = NULL,
             settled_at = w.settled_at
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[],
                     $7::bigint[])
             AS w (source, event_id, status, due_at, envelope, attempts, settled_at)
         WHERE o.source = w.source AND o.event_id = w.event_id
             AND o.status = 'dispatched' AND o.attempts = w.attempts
         RETURNING o.source, o.event_id";

/// A new lease for a claim that is still held.
pub(super) const EXTEND_LEASE: &str = "UPDATE iap_outbox SET due_at = $3, renewed_at = $4
             WHERE source = $1 AND event_id = $2 AND status = 'dispatched' AND attempts = $5";

/// A claim given back unsent: the row as it was, if the claim is still held.
pub(super) const RELEASE_CLAIM: &str =
    "UPDATE iap_outbox SET status = $3, attempts = $4, due_at = $5, renewed_at = $6, envelope = $7
                 WHERE source = $1 AND event_id = $2 AND status = 'dispatched' AND attempts = $8";

/// At most $2 rows delivered or skipped before $1, skipping rows other
/// workers hold.
pub(super) const PURGE_SETTLED: &str = concat!(
    "DELETE FROM iap_outbox WHERE (source, event_id) IN (
         SELECT source, event_id FROM iap_outbox
         WHERE settled_at < $1 AND status IN ",
    settled_statuses!(),
    "
         LIMIT $2 FOR UPDATE SKIP LOCKED)"
);

/// Inbox keys older than $1.
pub(super) const PURGE_INBOX: &str = "DELETE FROM iap_inbox WHERE received_at < $1";

/// Dead letters after seq $1, at most $2.
pub(super) const SELECT_DEAD_LETTERS_AFTER: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE status = 'failed' AND seq > $1 ORDER BY seq LIMIT $2"
);

/// Every dead letter, locked for a redrive.
pub(super) const LOCK_DEAD_LETTERS: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE status = 'failed' FOR UPDATE"
);

/// Quarantined rows as operators see them, at most $1.
pub(super) const SELECT_QUARANTINED: &str =
    "SELECT source, event_id, problem, envelope FROM iap_outbox
             WHERE status = 'quarantined' ORDER BY seq LIMIT $1";

/// A repaired row back in circulation.
pub(super) const RELEASE_QUARANTINED: &str =
    "UPDATE iap_outbox SET status = $3, due_at = $4, renewed_at = NULL, problem = NULL
             WHERE source = $1 AND event_id = $2";

/// A quarantined row, deleted.
pub(super) const DELETE_QUARANTINED: &str =
    "DELETE FROM iap_outbox WHERE source = $1 AND event_id = $2 AND status = 'quarantined'";

/// Every row that is not quarantined, for `verify`.
pub(super) const SELECT_UNQUARANTINED: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE status <> 'quarantined' ORDER BY seq"
);

/// Rows by status column.
pub(super) const COUNT_BY_STATUS: &str = "SELECT status, COUNT(*) FROM iap_outbox GROUP BY status";

/// Inbox keys.
pub(super) const COUNT_INBOX: &str = "SELECT COUNT(*) FROM iap_inbox";

/// The earliest due time between $1 and $2.
pub(super) const MIN_DUE_BETWEEN: &str =
    "SELECT MIN(due_at) FROM iap_outbox WHERE due_at IS NOT NULL AND due_at BETWEEN $1 AND $2";

/// An inbox key, unless it is there.
pub(super) const INSERT_KEY: &str =
    "INSERT INTO iap_inbox (source, event_id, payload, received_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING";

/// An inbox key that is there, locked.
pub(super) const LOCK_KEY: &str =
    "SELECT payload, received_at FROM iap_inbox WHERE source = $1 AND event_id = $2 FOR UPDATE";

/// An expired inbox key, taken again.
pub(super) const RENEW_KEY: &str =
    "UPDATE iap_inbox SET payload = $3, received_at = $4 WHERE source = $1 AND event_id = $2";

/// The row with this key, locked.
pub(super) const LOCK_ROW: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE source = $1 AND event_id = $2 FOR UPDATE"
);

/// The row with this key.
pub(super) const SELECT_KEY: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM iap_outbox WHERE source = $1 AND event_id = $2"
);

/// An envelope written over its row.
pub(super) const WRITE_ROW: &str = "UPDATE iap_outbox
         SET status = $3, attempts = $4, due_at = $5, envelope = $6, renewed_at = NULL,
             settled_at = $7
         WHERE source = $1 AND event_id = $2";

/// Many rows written back at once, from parallel arrays of sources, event
/// ids, statuses, attempts, due times and envelope texts: a claim's rows in
/// one statement.
pub(super) const WRITE_ROWS: &str = "UPDATE iap_outbox AS o
         SET status = w.status, attempts = w.attempts, due_at = w.due_at,
             envelope = w.envelope, renewed_at = NULL
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[])
             AS w (source, event_id, status, attempts, due_at, envelope)
         WHERE o.source = w.source AND o.event_id = w.event_id";

/// A row set aside, with the reason.
pub(super) const QUARANTINE: &str =
    "UPDATE iap_outbox SET status = $3, due_at = NULL, renewed_at = NULL, problem = $4
         WHERE source = $1 AND event_id = $2";
