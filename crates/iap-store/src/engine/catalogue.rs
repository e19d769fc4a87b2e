//! Every statement the engine runs, by section, each followed by the
//! decoder of the rows it returns: the columns are read by name, so a
//! statement and its decoder agree by what they say, not by position. The
//! texts are in [`sql::sqlite`] and [`sql::postgres`]; the crate's
//! `sql/sqlite.sql` and `sql/postgres.sql` hold them as they run, and a
//! test fails when those files and the code disagree (`sql_files`). What
//! is not an operation of the engine runs outside it: the PostgreSQL
//! stores' clock reading (`SERVER_CLOCK`), their notification channel
//! (`NOTIFY_CHANNEL`) and the check that names a missing schema
//! (`DATABASE_AND_SCHEMA`), and the SQLite connection's `PRAGMA`s.

use super::driver::{Column, Decode, Dialect, Param, Row};
use super::sql::{postgres, sqlite};
#[cfg(test)]
use super::statement::Statement;
use super::statement::statements;
use crate::StoreError;
use crate::outcome::{HeldKey, QuarantinedRow};
use crate::rows::{FailedOrder, RawRow};

statements! {
    OUTBOX_ROWS:
    /// The row with a key (source, event id).
    SELECT_KEY => sqlite: Some(sqlite::SELECT_KEY), postgres: Some(postgres::SELECT_KEY);
    /// The row with a key, locked for the transaction (on SQLite, the
    /// transaction's write lock is the lock).
    LOCK_ROW => sqlite: Some(sqlite::SELECT_KEY), postgres: Some(postgres::LOCK_ROW);
    /// A row by its key ([`RowId`]), unless it is quarantined.
    ROW_IF_NOT_QUARANTINED => sqlite: Some(sqlite::SELECT_ROW_IF_NOT_QUARANTINED),
        postgres: Some(postgres::LOCK_ROW_IF_NOT_QUARANTINED);
    /// The quarantined row with a key.
    QUARANTINED_KEY => sqlite: Some(sqlite::SELECT_QUARANTINED_KEY),
        postgres: Some(postgres::LOCK_QUARANTINED_KEY);
    /// Up to ?1 rows no claim would reach, to quarantine.
    SELECT_STRAYS => sqlite: Some(sqlite::SELECT_STRAYS), postgres: Some(postgres::SELECT_STRAYS);
    /// Every row that is not quarantined, for `verify`.
    SELECT_UNQUARANTINED => sqlite: Some(sqlite::SELECT_UNQUARANTINED),
        postgres: Some(postgres::SELECT_UNQUARANTINED);
    /// Every dead letter, locked for a redrive.
    LOCK_DEAD_LETTERS => sqlite: Some(sqlite::SELECT_DEAD_LETTERS),
        postgres: Some(postgres::LOCK_DEAD_LETTERS);
}

/// An outbox row as it is stored, unchecked, and its place in enqueue order
/// (SQLite's `rowid`, PostgreSQL's `seq`).
#[derive(Debug)]
pub(crate) struct StoredRow {
    pub(crate) seq: i64,
    pub(crate) raw: RawRow,
}

impl Decode for StoredRow {
    fn decode(row: &impl Row) -> Result<Self, StoreError> {
        let raw = RawRow {
            source: row.column("source")?.lossy(),
            event_id: row.column("event_id")?.lossy(),
            status: row.column("status")?.text(),
            attempts: row.column("attempts")?.integer(),
            due_at: row.column("due_at")?.optional_integer(),
            renewed_at: row.column("renewed_at")?.optional_integer().ok().flatten(),
            envelope: row.column("envelope")?.text(),
            problem: row.column("problem")?.text().ok(),
            claimed_at: row.column("claimed_at")?.optional_integer().ok().flatten(),
            ordering_key: row.column("ordering_key")?.optional_text(),
            held_back: row.column("held_back")?.flag(),
        };
        let seq = row.column("seq")?.integer().unwrap_or_default();
        Ok(StoredRow { seq, raw })
    }
}

impl StoredRow {
    /// What names this row in the statements that take a row key.
    pub(crate) fn id(&self) -> RowId {
        RowId {
            seq: self.seq,
            source: self.raw.source.clone(),
            event_id: self.raw.event_id.clone(),
        }
    }
}

/// What names a row in the statements that take a row key: its rowid on
/// SQLite (which finds a row whose key columns hold something other than
/// text), its source and event id on PostgreSQL (whose columns always hold
/// text).
#[derive(Debug)]
pub(crate) struct RowId {
    pub(crate) seq: i64,
    pub(crate) source: String,
    pub(crate) event_id: String,
}

impl RowId {
    /// The parameters that name the row, first in the statements that take a
    /// row key.
    pub(crate) fn params(&self, dialect: Dialect) -> Vec<Param<'_>> {
        match dialect {
            Dialect::Sqlite => vec![Param::int(self.seq)],
            Dialect::Postgres => vec![Param::text(&self.source), Param::text(&self.event_id)],
        }
    }
}

statements! {
    CLAIM:
    /// The rows a claim at ?1 scans (at most ?2) whose key is not free
    /// (?3: whether dead letters hold their keys), marked held back.
    MARK_HELD_BACK => sqlite: Some(sqlite::MARK_HELD_BACK), postgres: None;
    /// The rows due at ?1 whose key is free (?3), oldest first, at most ?2.
    SELECT_DUE => sqlite: Some(sqlite::SELECT_DUE), postgres: Some(postgres::SELECT_DUE);
    /// [`SELECT_DUE`] when the claim marked no row held back: one ordered scan.
    SELECT_DUE_IN_ORDER => sqlite: Some(sqlite::SELECT_DUE_IN_ORDER), postgres: None;
    /// Pending and retrying rows due at $1, at most $2, claimed in one
    /// statement and leased until $3 ($4: whether dead letters hold their
    /// keys), with the count of rows left to the claim's transaction.
    CLAIM_DUE => sqlite: None, postgres: Some(postgres::CLAIM_DUE);
    /// A held-back row a claim takes, back among the rows claims scan.
    CLEAR_HELD_BACK => sqlite: Some(sqlite::CLEAR_HELD_BACK), postgres: None;
}

/// A due row as a claim reads it, with the dead letter of its key it would
/// be sent past (`source/event_id`), if any.
#[derive(Debug)]
pub(crate) struct DueRow {
    pub(crate) row: StoredRow,
    pub(crate) passed: Option<String>,
}

impl Decode for DueRow {
    fn decode(row: &impl Row) -> Result<Self, StoreError> {
        Ok(DueRow {
            row: StoredRow::decode(row)?,
            passed: row.optional_text("passed")?,
        })
    }
}

/// A row of [`CLAIM_DUE`]: the claimed row as it was before the claim (none
/// in the row of nulls that says nothing was claimed), and how many due rows
/// the statement left to the claim's transaction.
pub(crate) struct ClaimDueRow {
    pub(crate) claimed: Option<StoredRow>,
    pub(crate) leftovers: i64,
}

impl Decode for ClaimDueRow {
    fn decode(row: &impl Row) -> Result<Self, StoreError> {
        let claimed = match row.column("seq")? {
            Column::Null => None,
            _ => Some(StoredRow::decode(row)?),
        };
        Ok(ClaimDueRow {
            claimed,
            leftovers: row.integer("leftovers")?,
        })
    }
}

statements! {
    WRITES:
    /// A new envelope, due at once; no row if the key is taken.
    ENQUEUE => sqlite: Some(sqlite::ENQUEUE), postgres: Some(postgres::ENQUEUE);
    /// An envelope written over its row.
    WRITE_ROW => sqlite: Some(sqlite::WRITE_ROW), postgres: Some(postgres::WRITE_ROW);
    /// Many envelopes written over their rows ([`Param::Rows`]).
    WRITE_ROWS => sqlite: Some(sqlite::WRITE_ROWS), postgres: Some(postgres::WRITE_ROWS);
    /// An outcome over a claim that is still held.
    RECORD => sqlite: Some(sqlite::RECORD), postgres: Some(postgres::RECORD);
    /// Many outcomes over claims still held ([`Param::Rows`]); the keys of
    /// the rows written.
    RECORD_ROWS => sqlite: Some(sqlite::RECORD_ROWS), postgres: Some(postgres::RECORD_ROWS);
    /// A new lease for a claim that is still held.
    EXTEND_LEASE => sqlite: Some(sqlite::EXTEND_LEASE), postgres: Some(postgres::EXTEND_LEASE);
    /// A claim given back unsent: the row as it was, if the claim is still
    /// held (on PostgreSQL, with the claim time its one-statement claim
    /// recorded, $9).
    RELEASE_CLAIM => sqlite: Some(sqlite::RELEASE_CLAIM), postgres: Some(postgres::RELEASE_CLAIM);
    /// A row set aside, by its row key, with its status and the reason.
    QUARANTINE => sqlite: Some(sqlite::QUARANTINE), postgres: Some(postgres::QUARANTINE);
    /// A repaired row, by its row key, back in circulation.
    RELEASE_QUARANTINED => sqlite: Some(sqlite::RELEASE_QUARANTINED),
        postgres: Some(postgres::RELEASE_QUARANTINED);
    /// A quarantined row, deleted.
    DELETE_QUARANTINED => sqlite: Some(sqlite::DELETE_QUARANTINED),
        postgres: Some(postgres::DELETE_QUARANTINED);
    /// At most ?2 rows delivered or skipped before ?1.
    PURGE_SETTLED => sqlite: Some(sqlite::PURGE_SETTLED), postgres: Some(postgres::PURGE_SETTLED);
}

/// The key of a row a statement changed.
pub(crate) struct RowKey {
    pub(crate) source: String,
    pub(crate) event_id: String,
}

impl Decode for RowKey {
    fn decode(row: &impl Row) -> Result<Self, StoreError> {
        Ok(RowKey {
            source: row.text("source")?,
            event_id: row.text("event_id")?,
        })
    }
}

statements! {
    DEAD_LETTERS:
    /// A page of the dead letters a filter takes, in the order they failed.
    SELECT_DEAD_LETTERS_PAGE => sqlite: Some(sqlite::SELECT_DEAD_LETTERS_PAGE),
        postgres: Some(postgres::SELECT_DEAD_LETTERS_PAGE);
    /// [`SELECT_DEAD_LETTERS_PAGE`], locked for a redrive (on PostgreSQL,
    /// skipping the rows another transaction holds).
    LOCK_DEAD_LETTERS_PAGE => sqlite: Some(sqlite::SELECT_DEAD_LETTERS_PAGE),
        postgres: Some(postgres::LOCK_DEAD_LETTERS_PAGE);
    /// How many dead letters a filter takes.
    COUNT_DEAD_LETTERS => sqlite: Some(sqlite::COUNT_DEAD_LETTERS),
        postgres: Some(postgres::COUNT_DEAD_LETTERS);
    /// The keys held by a dead letter at their head.
    HELD_KEYS => sqlite: Some(sqlite::HELD_KEYS), postgres: Some(postgres::HELD_KEYS);
    /// Quarantined rows as operators see them.
    SELECT_QUARANTINED => sqlite: Some(sqlite::SELECT_QUARANTINED),
        postgres: Some(postgres::SELECT_QUARANTINED);
}

/// A dead letter of a page, with its place in the order of dead letters.
pub(crate) struct DeadLetterRow {
    pub(crate) place: FailedOrder,
    pub(crate) row: StoredRow,
}

impl Decode for DeadLetterRow {
    fn decode(row: &impl Row) -> Result<Self, StoreError> {
        let stored = StoredRow::decode(row)?;
        Ok(DeadLetterRow {
            place: (row.integer("failed_order")?, stored.seq),
            row: stored,
        })
    }
}

impl Decode for HeldKey {
    fn decode(row: &impl Row) -> Result<Self, StoreError> {
        Ok(HeldKey::from_columns(
            row.text("ordering_key")?,
            row.text("source")?,
            row.text("event_id")?,
            &row.text("status")?,
            row.integer("waiting")?,
        ))
    }
}

impl Decode for QuarantinedRow {
    fn decode(row: &impl Row) -> Result<Self, StoreError> {
        Ok(QuarantinedRow {
            source_system: row.column("source")?.lossy(),
            event_id: row.column("event_id")?.lossy(),
            reason: row.column("problem")?.lossy(),
            content: row.column("envelope")?.bytes(),
        })
    }
}

statements! {
    MONITORING:
    /// Rows by status column.
    COUNT_BY_STATUS => sqlite: Some(sqlite::COUNT_BY_STATUS),
        postgres: Some(postgres::COUNT_BY_STATUS);
    /// Inbox keys.
    COUNT_INBOX => sqlite: Some(sqlite::COUNT_INBOX), postgres: Some(postgres::COUNT_INBOX);
    /// The earliest due time between ?1 and ?2 of a row not held back.
    MIN_DUE_BETWEEN => sqlite: Some(sqlite::MIN_DUE_BETWEEN),
        postgres: Some(postgres::MIN_DUE_BETWEEN);
    /// The earliest due time between ?1 and ?2 of any row.
    OLDEST_DUE_BETWEEN => sqlite: Some(sqlite::OLDEST_DUE_BETWEEN),
        postgres: Some(postgres::OLDEST_DUE_BETWEEN);
}

/// How many rows have one status column (which may hold something other
/// than text on SQLite: no delivery state).
pub(crate) struct StatusCount {
    pub(crate) status: Result<String, String>,
    pub(crate) count: i64,
}

impl Decode for StatusCount {
    fn decode(row: &impl Row) -> Result<Self, StoreError> {
        Ok(StatusCount {
            status: row.column("status")?.text(),
            count: row.integer("count")?,
        })
    }
}

/// A count.
pub(crate) struct Count(pub(crate) i64);

impl Decode for Count {
    fn decode(row: &impl Row) -> Result<Self, StoreError> {
        row.integer("count").map(Count)
    }
}

/// A due time, if there is one (microseconds since the Unix epoch).
pub(crate) struct DueAt(pub(crate) Option<i64>);

impl Decode for DueAt {
    fn decode(row: &impl Row) -> Result<Self, StoreError> {
        row.optional_integer("due_at").map(DueAt)
    }
}

statements! {
    INBOX:
    /// An inbox key received at or after ?3 (SQLite looks before it writes).
    SELECT_FRESH_KEY => sqlite: Some(sqlite::SELECT_FRESH_KEY), postgres: None;
    /// An inbox key, replacing an expired one.
    REMEMBER_KEY => sqlite: Some(sqlite::REMEMBER_KEY), postgres: None;
    /// An inbox key, unless it is there (PostgreSQL takes the key first).
    INSERT_KEY => sqlite: None, postgres: Some(postgres::INSERT_KEY);
    /// An inbox key that is there, locked.
    LOCK_INBOX_KEY => sqlite: None, postgres: Some(postgres::LOCK_KEY);
    /// An expired inbox key, taken again.
    RENEW_KEY => sqlite: None, postgres: Some(postgres::RENEW_KEY);
    /// Inbox keys older than ?1.
    PURGE_INBOX => sqlite: Some(sqlite::PURGE_INBOX), postgres: Some(postgres::PURGE_INBOX);
    /// The savepoint each envelope of a batch admission is admitted in.
    SAVEPOINT => sqlite: Some("SAVEPOINT iap_admit"), postgres: Some("SAVEPOINT iap_admit");
    /// The savepoint's writes, kept.
    RELEASE_SAVEPOINT => sqlite: Some("RELEASE iap_admit"), postgres: Some("RELEASE iap_admit");
    /// The savepoint's writes, undone.
    ROLLBACK_TO_SAVEPOINT => sqlite: Some("ROLLBACK TO iap_admit"),
        postgres: Some("ROLLBACK TO iap_admit");
}

/// A fresh inbox key's event as stored ([`SELECT_FRESH_KEY`]), or what the
/// column holds instead if it is not text.
pub(crate) struct FreshKey {
    pub(crate) event: Result<String, String>,
}

impl Decode for FreshKey {
    fn decode(row: &impl Row) -> Result<Self, StoreError> {
        Ok(FreshKey {
            event: row.column("event")?.text(),
        })
    }
}

/// An inbox key taken by another admission ([`LOCK_INBOX_KEY`]): its event
/// and when it was received.
pub(crate) struct LockedKey {
    pub(crate) event: String,
    pub(crate) received_at: i64,
}

impl Decode for LockedKey {
    fn decode(row: &impl Row) -> Result<Self, StoreError> {
        Ok(LockedKey {
            event: row.text("event")?,
            received_at: row.integer("received_at")?,
        })
    }
}

/// Every statement the engine runs, by section.
#[cfg(test)]
pub(crate) static SECTIONS: [(&str, &[&Statement]); 7] = [
    ("Schema", super::schema::SCHEMA_STATEMENTS),
    ("Outbox rows", OUTBOX_ROWS),
    ("Claims", CLAIM),
    ("Writes", WRITES),
    ("Dead letters and quarantine", DEAD_LETTERS),
    ("Monitoring", MONITORING),
    ("Inbox", INBOX),
];
