//! The store on an embedded SQLite file: one process or one machine.
//!
//! The file is in WAL mode. With the default [`Durability::Full`] every
//! operation that returns success is on disk (`synchronous = FULL`);
//! [`Durability::Normal`] trades the last commits before a power loss for
//! speed. Each operation is one transaction; connections from several threads
//! or processes may share the file (open one store per thread).
//!
//! ```no_run
//! use chrono::Utc;
//! use integration_automation_patterns::Envelope;
//! use iap_store::sqlite::SqliteStore;
//! use iap_store::{Delivery, DeliveryStore, SendError, StoreError};
//!
//! let mut store = SqliteStore::open("orders.db")?;
//! let order = serde_json::json!({ "order_id": 1042 });
//! // The business write and its event commit together, or neither does.
//! let event = Envelope::builder()
//!     .event_id("order-1042-placed")
//!     .event_type("commerce.order.placed")
//!     .source_system("webshop")
//!     .payload(order)
//!     .build()?;
//! store.write(|tx| {
//!     tx.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY)", [])?;
//!     tx.execute("INSERT INTO orders (id) VALUES (1042)", [])?;
//!     SqliteStore::enqueue(tx, &event, Utc::now())?;
//!     Ok::<_, StoreError>(())
//! })?;
//! // A relay pass: claim what is due, send it, record each outcome.
//! let report = store.run_once(Utc::now(), 100, |envelope: &Envelope<_, serde_json::Value>| {
//!     println!("sending {}", envelope.event_id());
//!     Ok::<_, SendError>(Delivery::Processed)
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Params, Transaction, TransactionBehavior, params,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[cfg(feature = "async-sqlite")]
mod asynchronous;
mod sql;
#[cfg(feature = "async-sqlite")]
mod writes;

#[cfg(feature = "async-sqlite")]
pub use asynchronous::AsyncSqliteStore;
/// The SQLite driver the store is built on, for the caller's own queries in
/// the store's transactions: the exact version this crate uses.
pub use rusqlite;

use super::batch_record::BatchRecord;
use super::rows::{
    BEFORE_FIRST_DEAD_LETTER, ClaimStep, FailedOrder, InboxKey, QUARANTINED, RawRow, add,
    claim_lost, claim_step, encode, encode_any, inbox_text, micros, not_found, not_quarantined,
    outcome_due_at, problem, recorded, release_due_at, run_effect, settled_at, sort_dead_letters,
    subtract, typed, waited_since,
};
use super::{
    Admission, AdmissionResult, Claim, Claimed, DeadLetterFilter, DeadLetters, DeliveryStore,
    Durability, HeldKey, Outcome, QuarantinedRow, Recorded, RedriveBatch, Redriven, StatusCounts,
    StoreError, StoreOptions,
};
use super::{PURGE_BATCH, migrations_from, purge_done};
use crate::observe::admission_span;
use integration_automation_patterns::envelope::state::{
    Dispatched, Failed, Pending, Skipped, State,
};
use integration_automation_patterns::{AnyEnvelope, Envelope};

/// The newest store schema this crate writes and reads.
pub const SCHEMA_VERSION: i64 = 7;

/// Inbox, outbox and dead letters in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Connection,
    options: StoreOptions,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in the file at `path`, with the
    /// default [`StoreOptions`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        SqliteStore::open_with(path, StoreOptions::default())
    }

    /// Opens (creating if needed) the store in the file at `path`.
    ///
    /// A file that is not an SQLite database, or whose store tables were made
    /// by a newer version of this crate or by something else, is refused.
    /// Opening an existing store at this crate's schema version only reads:
    /// it takes no write lock, so it never waits for busy writers. A new file
    /// (or one of an older schema version) is set up under the write lock.
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let mut connection = Connection::open(path).map_err(|error| open_error(path, error))?;
        connection
            .busy_timeout(options.busy_timeout)
            .map_err(|error| open_error(path, error))?;
        set_journal(&connection, path, options)?;
        prepare_schema(&mut connection).map_err(|error| match error {
            StoreError::Sqlite(error) => open_error(path, error),
            other => other,
        })?;
        Ok(SqliteStore {
            connection,
            options,
        })
    }

    /// Opens the store in the file at `path` if there is one at this crate's
    /// schema version, creating and migrating nothing: for tools that must
    /// not leave a new store where a path was mistyped, nor change a store
    /// they only meant to read.
    ///
    /// - No file at `path`, or an SQLite file without the store's tables:
    ///   [`StoreError::NoStore`], and the path is left as it was.
    /// - A store of an older schema version: [`StoreError::SchemaTooOld`]
    ///   ([`open_with`](Self::open_with) migrates it); of a newer one:
    ///   [`StoreError::SchemaTooNew`]. Neither is changed.
    /// - A file that is not an SQLite database: [`StoreError::Open`].
    ///
    /// The file is looked at before anything is set on it. A store opened so
    /// is the same store as [`open_with`](Self::open_with) gives: its
    /// operations write as they always do.
    ///
    /// ```
    /// use iap_store::StoreError;
    /// use iap_store::sqlite::SqliteStore;
    ///
    /// let path = std::env::temp_dir().join("iap-doc-no-such-store.db");
    /// let refused = SqliteStore::open_existing(&path, Default::default());
    /// assert!(matches!(refused, Err(StoreError::NoStore { .. })));
    /// assert!(!path.exists(), "nothing was created");
    /// ```
    pub fn open_existing(
        path: impl AsRef<Path>,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let no_store = |reason: &str| StoreError::NoStore {
            location: path.display().to_string(),
            reason: reason.to_owned(),
        };
        // As `Connection::open`, but never creating the file.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = match Connection::open_with_flags(path, flags) {
            Ok(connection) => connection,
            Err(_) if !path.exists() => return Err(no_store("there is no such file")),
            Err(error) => return Err(open_error(path, error)),
        };
        connection
            .busy_timeout(options.busy_timeout)
            .map_err(|error| open_error(path, error))?;
        let found = schema_version(&connection).map_err(|error| match error {
            StoreError::Sqlite(error) => open_error(path, error),
            other => other,
        })?;
        match found {
            None => return Err(no_store("the file holds no store tables")),
            Some(SCHEMA_VERSION) => {}
            Some(found) if found > SCHEMA_VERSION => {
                return Err(StoreError::SchemaTooNew {
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(found) if found >= 1 => {
                return Err(StoreError::SchemaTooOld {
                    found,
                    current: SCHEMA_VERSION,
                });
            }
            Some(found) => {
                return Err(StoreError::UnknownSchema {
                    reason: format!("schema version {found} was never written by this crate"),
                });
            }
        }
        set_journal(&connection, path, options)?;
        Ok(SqliteStore {
            connection,
            options,
        })
    }

    /// Begins a write transaction, taking the file's write lock at once.
    fn begin(&mut self) -> Result<Transaction<'_>, StoreError> {
        Ok(self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// Rewrites a dead letter as `step` makes it, due at `due_at`, in one
    /// transaction; a row that does not read back is quarantined instead.
    fn rewrite_dead_letter<S: State, P: Serialize + DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
        due_at: Option<DateTime<Utc>>,
        step: impl FnOnce(Envelope<Failed, P>) -> Envelope<S, P>,
    ) -> Result<Envelope<S, P>, StoreError> {
        let tx = self.begin()?;
        let (rowid, raw) = select_key(&tx, source_system, event_id)?
            .ok_or_else(|| not_found(source_system, event_id))?;
        let checked = match raw.read::<P>() {
            Ok(checked) => checked,
            Err(error) => {
                quarantine(&tx, rowid, &error)?;
                tx.commit()?;
                return Err(error);
            }
        };
        let rewritten = step(typed(checked.envelope)?);
        write_row(&tx, &rewritten, due_at)?;
        tx.commit()?;
        Ok(rewritten)
    }

    /// Quarantines the row `rowid`, in a transaction of its own, if it still
    /// does not read back; returns why, if it was quarantined.
    fn quarantine_if_unreadable<P: DeserializeOwned>(
        &mut self,
        rowid: i64,
    ) -> Result<Option<StoreError>, StoreError> {
        let tx = self.begin()?;
        let rows = select_rows(&tx, sql::SELECT_ROW_IF_NOT_QUARANTINED, params![rowid])?;
        let mut quarantined = None;
        for (rowid, raw) in rows {
            if let Err(error) = raw.read::<P>() {
                quarantine(&tx, rowid, &error)?;
                quarantined = Some(error);
            }
        }
        tx.commit()?;
        Ok(quarantined)
    }
}

impl DeliveryStore for SqliteStore {
    type Tx<'t> = Transaction<'t>;

    fn options(&self) -> StoreOptions {
        self.options
    }

    fn write<T, E>(
        &mut self,
        work: impl FnOnce(&mut Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut tx = self.begin().map_err(E::from)?;
        let value = work(&mut tx)?;
        tx.commit().map_err(|error| E::from(error.into()))?;
        Ok(value)
    }

    fn enqueue<P: Serialize>(
        tx: &mut Transaction<'_>,
        envelope: &Envelope<Pending, P>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let inserted = tx.prepare_cached(sql::ENQUEUE)?.execute(params![
            envelope.source_system(),
            envelope.event_id(),
            Pending::STATUS.as_str(),
            envelope.attempt_count(),
            micros(now),
            encode(envelope)?,
            envelope.ordering_key(),
        ])?;
        if inserted == 0 {
            return Err(StoreError::AlreadyEnqueued {
                source_system: envelope.source_system().to_owned(),
                event_id: envelope.event_id().to_owned(),
            });
        }
        Ok(())
    }

    fn claim_due<P: Serialize + DeserializeOwned>(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Claimed<P>, StoreError> {
        let lease_until = add(now, self.options.lease);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let holds = self.options.dead_letter_keys.holds();
        let tx = self.begin()?;
        let mut claimed = Claimed {
            claims: Vec::new(),
            dead_lettered: 0,
            quarantined: Vec::new(),
        };
        let strays = select_rows(&tx, sql::SELECT_STRAYS, params![limit])?;
        for (rowid, raw) in strays {
            let error = raw.stray_error::<P>();
            quarantine(&tx, rowid, &error)?;
            claimed.quarantined.push(error);
        }
        let marked =
            tx.prepare_cached(sql::MARK_HELD_BACK)?
                .execute(params![micros(now), limit, holds])?;
        let due = select_due(&tx, marked, params![micros(now), limit, holds])?;
        claimed.claims.reserve(due.len());
        for (rowid, raw, passed, held_back) in due {
            match claim_step(raw, now, lease_until, passed) {
                ClaimStep::Claim(claim) => {
                    write_row(&tx, &claim.envelope, Some(lease_until))?;
                    if held_back {
                        tx.prepare_cached(sql::CLEAR_HELD_BACK)?.execute([rowid])?;
                    }
                    claimed.claims.push(claim);
                }
                ClaimStep::DeadLetter(failed) => {
                    write_row(&tx, &failed, None)?;
                    if held_back {
                        tx.prepare_cached(sql::CLEAR_HELD_BACK)?.execute([rowid])?;
                    }
                    claimed.dead_lettered += 1;
                }
                ClaimStep::Quarantine(error) => {
                    quarantine(&tx, rowid, &error)?;
                    claimed.quarantined.push(error);
                }
            }
        }
        tx.commit()?;
        Ok(claimed)
    }

    fn record_not_before<P: Serialize>(
        &mut self,
        outcome: AnyEnvelope<P>,
        retry_after: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let due_at = outcome_due_at(&outcome, retry_after)?;
        let tx = self.begin()?;
        let updated = tx.prepare_cached(sql::RECORD)?.execute(params![
            outcome.source_system(),
            outcome.event_id(),
            outcome.status().as_str(),
            due_at.map(micros),
            encode_any(&outcome)?,
            outcome.attempt_count(),
            settled_at(outcome.status(), outcome.last_transition()),
        ])?;
        recorded(updated as u64, &outcome)?;
        tx.commit()?;
        Ok(())
    }

    fn record_batch<P: Serialize>(
        &mut self,
        outcomes: &[Outcome<P>],
    ) -> Result<Vec<Recorded>, StoreError> {
        let batch = BatchRecord::new(outcomes);
        let mut written = HashSet::new();
        let tx = self.begin()?;
        {
            // In-process, a statement a row costs no round trip.
            let mut record = tx.prepare_cached(sql::RECORD)?;
            for row in batch.rows() {
                let updated = record.execute(params![
                    row.source,
                    row.event_id,
                    row.status,
                    row.due_at,
                    row.envelope,
                    row.attempts,
                    row.settled_at,
                ])?;
                if updated > 0 {
                    written.insert((row.source.to_owned(), row.event_id.to_owned()));
                }
            }
        }
        tx.commit()?;
        Ok(batch.results(&written))
    }

    fn extend_lease<P>(
        &mut self,
        claim: &mut Claim<P>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let lease_until = add(now, self.options.lease);
        let envelope = &claim.envelope;
        let tx = self.begin()?;
        let updated = tx.prepare_cached(sql::EXTEND_LEASE)?.execute(params![
            envelope.source_system(),
            envelope.event_id(),
            micros(lease_until),
            micros(now),
            envelope.attempt_count(),
        ])?;
        if updated == 0 {
            return Err(claim_lost(
                envelope.source_system(),
                envelope.event_id(),
                envelope.attempt_count(),
            ));
        }
        tx.commit()?;
        claim.lease_until = lease_until;
        Ok(())
    }

    fn release_unsent<P>(&mut self, claims: &[Claim<P>]) -> Result<usize, StoreError> {
        let tx = self.begin()?;
        let mut released = 0;
        for Claim {
            envelope, prior, ..
        } in claims
        {
            released += tx.prepare_cached(sql::RELEASE_CLAIM)?.execute(params![
                envelope.source_system(),
                envelope.event_id(),
                prior.status,
                prior.attempts,
                prior.due_at,
                prior.renewed_at,
                prior.envelope,
                envelope.attempt_count(),
            ])?;
        }
        tx.commit()?;
        Ok(released)
    }

    fn admit<P, T, E, F>(
        &mut self,
        envelope: Envelope<Pending, P>,
        now: DateTime<Utc>,
        effect: F,
    ) -> Result<Admission<T, P>, StoreError>
    where
        P: Serialize,
        E: std::fmt::Display,
        F: FnOnce(&mut Transaction<'_>, &Envelope<Dispatched, P>) -> Result<T, E>,
    {
        let _span = admission_span(&envelope).entered();
        let event_text = inbox_text(&envelope)?;
        let fresh_after = micros(subtract(now, self.options.inbox_retention));
        // A duplicate needs no write: look first, without the write lock.
        let envelope = match seen_in(&self.connection, &envelope, &event_text, fresh_after)?
            .settle(envelope, now)
        {
            Ok(envelope) => envelope,
            Err(answer) => return answer,
        };
        let mut tx = self.begin()?;
        // Another connection may have admitted the key since the first look.
        let envelope =
            match seen_in(&tx, &envelope, &event_text, fresh_after)?.settle(envelope, now) {
                Ok(envelope) => envelope,
                Err(answer) => return answer,
            };
        remember(&tx, &envelope, &event_text, now)?;
        let admission = run_effect(envelope, now, |event| effect(&mut tx, event));
        if let Admission::Processed(..) = admission {
            tx.commit()?;
        }
        Ok(admission)
    }

    fn admit_batch<P, T, E, F>(
        &mut self,
        envelopes: Vec<Envelope<Pending, P>>,
        now: DateTime<Utc>,
        mut effect: F,
    ) -> Result<Vec<AdmissionResult<T, P>>, StoreError>
    where
        P: Serialize,
        E: std::fmt::Display,
        F: FnMut(&mut Transaction<'_>, &Envelope<Dispatched, P>) -> Result<T, E>,
    {
        let fresh_after = micros(subtract(now, self.options.inbox_retention));
        let mut tx = self.begin()?;
        let mut results = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let event_text = match inbox_text(&envelope) {
                Ok(event_text) => event_text,
                Err(error) => {
                    results.push(Err(error));
                    continue;
                }
            };
            // A database error ends the whole batch; a settled key, this envelope.
            let envelope =
                match seen_in(&tx, &envelope, &event_text, fresh_after)?.settle(envelope, now) {
                    Ok(envelope) => envelope,
                    Err(answer) => {
                        results.push(answer);
                        continue;
                    }
                };
            tx.execute_batch("SAVEPOINT iap_admit")?;
            remember(&tx, &envelope, &event_text, now)?;
            let admission = run_effect(envelope, now, |event| effect(&mut tx, event));
            match admission {
                Admission::Processed(..) => tx.execute_batch("RELEASE iap_admit")?,
                _ => tx.execute_batch("ROLLBACK TO iap_admit; RELEASE iap_admit")?,
            }
            results.push(Ok(admission));
        }
        tx.commit()?;
        Ok(results)
    }

    fn purge_inbox(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = micros(subtract(now, self.options.inbox_retention));
        Ok(self.connection.execute(sql::PURGE_INBOX, params![cutoff])?)
    }

    fn purge_delivered(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = micros(subtract(now, self.options.delivered_retention));
        let mut purged = 0;
        loop {
            let deleted = self
                .connection
                .prepare_cached(sql::PURGE_SETTLED)?
                .execute(params![cutoff, PURGE_BATCH])?;
            purged += deleted;
            if purge_done(u64::try_from(deleted).unwrap_or(u64::MAX)) {
                return Ok(purged);
            }
        }
    }

    fn load_any<P: DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
    ) -> Result<AnyEnvelope<P>, StoreError> {
        let (rowid, raw) = select_key(&self.connection, source_system, event_id)?
            .ok_or_else(|| not_found(source_system, event_id))?;
        match raw.read::<P>() {
            Ok(checked) => Ok(checked.envelope),
            Err(error) => Err(self.quarantine_if_unreadable::<P>(rowid)?.unwrap_or(error)),
        }
    }

    fn dead_letters_matching<P: DeserializeOwned>(
        &mut self,
        filter: &DeadLetterFilter,
        limit: usize,
    ) -> Result<DeadLetters<P>, StoreError> {
        let mut letters = Vec::new();
        let mut unreadable = Vec::new();
        let mut after = BEFORE_FIRST_DEAD_LETTER;
        while letters.len() < limit {
            let wanted = limit - letters.len();
            let rows = select_dead_letters(&self.connection, filter, after, wanted)?;
            match sort_dead_letters(rows, &mut letters, &mut unreadable, |(_, rowid), _| rowid) {
                Some(last) => after = last,
                None => break,
            }
        }
        let mut quarantined = Vec::new();
        for rowid in unreadable {
            quarantined.extend(self.quarantine_if_unreadable::<P>(rowid)?);
        }
        Ok(DeadLetters {
            letters,
            quarantined,
        })
    }

    fn count_dead_letters(&mut self, filter: &DeadLetterFilter) -> Result<u64, StoreError> {
        let count: i64 = self.connection.query_row(
            sql::COUNT_DEAD_LETTERS,
            params![
                filter.source_system,
                filter.event_type,
                filter.failed_by.map(micros)
            ],
            |row| row.get(0),
        )?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    fn redrive_matching<P: Serialize + DeserializeOwned>(
        &mut self,
        filter: &DeadLetterFilter,
        limit: usize,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<RedriveBatch<P>, StoreError> {
        let tx = self.begin()?;
        let rows = select_dead_letters(&tx, filter, BEFORE_FIRST_DEAD_LETTER, limit)?;
        let mut batch = RedriveBatch {
            redriven: Vec::with_capacity(rows.len()),
            quarantined: Vec::new(),
        };
        for ((_, rowid), raw) in rows {
            match raw
                .read::<P>()
                .and_then(|checked| typed::<Failed, P>(checked.envelope))
            {
                Ok(failed) => {
                    let pending = failed.redrive_at(reason, now);
                    write_row(&tx, &pending, Some(now))?;
                    batch.redriven.push(pending);
                }
                Err(error) => {
                    quarantine(&tx, rowid, &error)?;
                    batch.quarantined.push(error);
                }
            }
        }
        tx.commit()?;
        Ok(batch)
    }

    fn redrive<P: Serialize + DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Envelope<Pending, P>, StoreError> {
        self.rewrite_dead_letter(source_system, event_id, Some(now), |failed| {
            failed.redrive_at(reason, now)
        })
    }

    fn skip_dead_letter<P: Serialize + DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Envelope<Skipped, P>, StoreError> {
        self.rewrite_dead_letter(source_system, event_id, None, |failed| {
            failed.redrive_at(reason, now).skip_at(reason, now)
        })
    }

    fn held_keys(&mut self, limit: usize) -> Result<Vec<HeldKey>, StoreError> {
        if !self.options.dead_letter_keys.holds() {
            return Ok(Vec::new());
        }
        let mut statement = self.connection.prepare_cached(sql::HELD_KEYS)?;
        let rows =
            statement.query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                Ok(HeldKey::from_columns(
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    &row.get::<_, String>(3)?,
                    row.get(4)?,
                ))
            })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn redrive_all<P: Serialize + DeserializeOwned>(
        &mut self,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Redriven, StoreError> {
        let tx = self.begin()?;
        let rows = select_rows(&tx, sql::SELECT_DEAD_LETTERS, [])?;
        let mut redriven = Redriven::default();
        for (rowid, raw) in rows {
            match raw
                .read::<P>()
                .and_then(|checked| typed::<Failed, P>(checked.envelope))
            {
                Ok(failed) => {
                    write_row(&tx, &failed.redrive_at(reason, now), Some(now))?;
                    redriven.redriven += 1;
                }
                Err(error) => {
                    quarantine(&tx, rowid, &error)?;
                    redriven.quarantined.push(error);
                }
            }
        }
        tx.commit()?;
        Ok(redriven)
    }

    fn quarantined(&mut self, limit: usize) -> Result<Vec<QuarantinedRow>, StoreError> {
        let mut statement = self.connection.prepare_cached(sql::SELECT_QUARANTINED)?;
        let rows =
            statement.query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                Ok(QuarantinedRow {
                    source_system: lossy(row.get_ref(0)?),
                    event_id: lossy(row.get_ref(1)?),
                    reason: lossy(row.get_ref(2)?),
                    content: bytes(row.get_ref(3)?),
                })
            })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn release_quarantined<P: DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<AnyEnvelope<P>, StoreError> {
        let tx = self.begin()?;
        let (rowid, raw) = select_rows(
            &tx,
            sql::SELECT_QUARANTINED_KEY,
            params![source_system, event_id],
        )?
        .pop()
        .ok_or_else(|| not_quarantined(source_system, event_id))?;
        let envelope = match raw.read_set_aside::<P>() {
            Ok(envelope) => envelope,
            Err(error) => {
                quarantine(&tx, rowid, &error)?;
                tx.commit()?;
                return Err(error);
            }
        };
        tx.execute(
            sql::RELEASE_QUARANTINED,
            params![
                rowid,
                envelope.status().as_str(),
                release_due_at(&envelope, now).map(micros),
                settled_at(envelope.status(), envelope.last_transition()),
            ],
        )?;
        tx.commit()?;
        Ok(envelope)
    }

    fn delete_quarantined(
        &mut self,
        source_system: &str,
        event_id: &str,
    ) -> Result<(), StoreError> {
        let deleted = self
            .connection
            .execute(sql::DELETE_QUARANTINED, params![source_system, event_id])?;
        if deleted == 0 {
            return Err(not_quarantined(source_system, event_id));
        }
        Ok(())
    }

    fn verify(&mut self) -> Result<Vec<StoreError>, StoreError> {
        let mut statement = self.connection.prepare(sql::SELECT_UNQUARANTINED)?;
        let mut rows = statement.query([])?;
        let mut problems = Vec::new();
        while let Some(row) = rows.next()? {
            let (_, raw) = raw_row(row)?;
            if let Err(error) = raw.read::<serde_json::Value>() {
                problems.push(error);
            }
        }
        Ok(problems)
    }

    fn counts(&mut self) -> Result<StatusCounts, StoreError> {
        let mut counts = StatusCounts::default();
        let mut statement = self.connection.prepare_cached(sql::COUNT_BY_STATUS)?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let count: i64 = row.get(1)?;
            match text(row.get_ref(0)?) {
                Ok(status) => counts.add_outbox_rows(&status, count),
                // A status that is not text is no delivery state.
                Err(_) => counts.add_outbox_rows(QUARANTINED, count),
            }
        }
        let keys: i64 = self
            .connection
            .query_row(sql::COUNT_INBOX, [], |row| row.get(0))?;
        counts.inbox_keys = u64::try_from(keys).unwrap_or_default();
        Ok(counts)
    }

    fn next_due_at(&mut self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let next: Option<i64> = self.connection.query_row(
            sql::MIN_DUE_BETWEEN,
            params![
                micros(DateTime::<Utc>::MIN_UTC),
                micros(DateTime::<Utc>::MAX_UTC)
            ],
            |row| row.get(0),
        )?;
        Ok(next.and_then(DateTime::from_timestamp_micros))
    }

    fn oldest_due_age(&mut self, now: DateTime<Utc>) -> Result<Option<Duration>, StoreError> {
        let oldest: Option<i64> = self.connection.query_row(
            sql::OLDEST_DUE_BETWEEN,
            params![micros(DateTime::<Utc>::MIN_UTC), micros(now)],
            |row| row.get(0),
        )?;
        Ok(oldest.map(|due| waited_since(due, now)))
    }
}

/// The error for a file at `path` that could not be opened as a store
/// (a busy or full database stays what it is).
fn open_error(path: &Path, error: rusqlite::Error) -> StoreError {
    match StoreError::from(error) {
        StoreError::Sqlite(error) => StoreError::Open {
            path: path.to_path_buf(),
            reason: error.to_string(),
        },
        passing => passing,
    }
}

/// Puts the file at `path` in WAL mode (a store's file already is: this
/// only reads) and sets the durability of `options`, for this connection.
fn set_journal(
    connection: &Connection,
    path: &Path,
    options: StoreOptions,
) -> Result<(), StoreError> {
    let mut journal: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .map_err(|error| open_error(path, error))?;
    if !journal.eq_ignore_ascii_case("wal") {
        journal = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|error| open_error(path, error))?;
    }
    if !journal.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Open {
            path: path.to_path_buf(),
            reason: format!("the file cannot use a write-ahead log (journal mode {journal})"),
        });
    }
    let synchronous = match options.durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    connection
        .pragma_update(None, "synchronous", synchronous)
        .map_err(|error| open_error(path, error))
}

/// Creates the schema in a new file, migrates an older version, accepts the
/// current one and refuses others. A current store is only read.
fn prepare_schema(connection: &mut Connection) -> Result<(), StoreError> {
    if schema_version(connection)? == Some(SCHEMA_VERSION) {
        return Ok(());
    }
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another connection may have set the file up since the first look.
    match schema_version(&tx)? {
        None => {
            tx.execute_batch(sql::SCHEMA)?;
            tx.execute(sql::INSERT_VERSION, params![SCHEMA_VERSION])?;
        }
        Some(found) if (1..SCHEMA_VERSION).contains(&found) => {
            for migration in migrations_from(&sql::MIGRATIONS, found) {
                tx.execute_batch(migration)?;
            }
        }
        Some(SCHEMA_VERSION) => {}
        Some(found) if found > SCHEMA_VERSION => {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Some(found) => {
            return Err(StoreError::UnknownSchema {
                reason: format!("schema version {found} was never written by this crate"),
            });
        }
    }
    tx.commit()?;
    Ok(())
}

/// The store's schema version in the file; `None` if the file holds no store.
fn schema_version(connection: &Connection) -> Result<Option<i64>, StoreError> {
    let has_meta: bool = connection.query_row(sql::HAS_META, [], |row| row.get(0))?;
    if !has_meta {
        let has_tables: bool = connection.query_row(sql::HAS_TABLES, [], |row| row.get(0))?;
        if has_tables {
            return Err(StoreError::UnknownSchema {
                reason: "store tables exist without a schema version".into(),
            });
        }
        return Ok(None);
    }
    let version: Option<i64> = connection
        .query_row(sql::SELECT_VERSION, [], |row| row.get(0))
        .optional()?;
    version.map(Some).ok_or_else(|| StoreError::UnknownSchema {
        reason: "the schema version is missing".into(),
    })
}

/// What the inbox holds, fresh, under `envelope`'s key.
fn seen_in<P: Serialize>(
    connection: &Connection,
    envelope: &Envelope<Pending, P>,
    event_text: &str,
    fresh_after: i64,
) -> Result<InboxKey, StoreError> {
    let mut statement = connection.prepare_cached(sql::SELECT_FRESH_KEY)?;
    let mut rows = statement.query(params![
        envelope.source_system(),
        envelope.event_id(),
        fresh_after
    ])?;
    let Some(row) = rows.next()? else {
        return Ok(InboxKey::New);
    };
    Ok(match text(row.get_ref(0)?) {
        Ok(stored) => InboxKey::of(&stored, event_text, envelope),
        Err(held) => InboxKey::Unreadable(held),
    })
}

/// Records an inbox key (replacing an expired one).
fn remember<P>(
    tx: &Transaction<'_>,
    envelope: &Envelope<Pending, P>,
    event_text: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        sql::REMEMBER_KEY,
        params![
            envelope.source_system(),
            envelope.event_id(),
            event_text,
            micros(now)
        ],
    )?;
    Ok(())
}

/// The outbox rows `sql` selects (its columns are [`row_columns!`]), unchecked.
fn select_rows(
    connection: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Vec<(i64, RawRow)>, StoreError> {
    let mut statement = connection.prepare_cached(sql)?;
    let rows = statement.query_map(params, raw_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Up to `limit` of the dead letters `filter` takes, in the order they
/// failed, after the place `after` in that order, unchecked, each with its
/// place.
fn select_dead_letters(
    connection: &Connection,
    filter: &DeadLetterFilter,
    after: FailedOrder,
    limit: usize,
) -> Result<Vec<(FailedOrder, RawRow)>, StoreError> {
    let mut statement = connection.prepare_cached(sql::SELECT_DEAD_LETTERS_PAGE)?;
    let rows = statement.query_map(
        params![
            filter.source_system,
            filter.event_type,
            filter.failed_by.map(micros),
            after.0,
            after.1,
            i64::try_from(limit).unwrap_or(i64::MAX),
        ],
        |row| {
            let (rowid, raw) = raw_row(row)?;
            Ok(((row.get(ROW_COLUMNS)?, rowid), raw))
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A due row as a claim reads it: its rowid, its columns, the dead letter of
/// its key it would be sent past, and whether it is held back.
type DueRow = (i64, RawRow, Option<String>, bool);

/// The due rows [`SELECT_DUE`](sql::SELECT_DUE) selects, unchecked, each
/// with the dead letter of its key it would be sent past and whether it is
/// held back; in one ordered
/// scan ([`SELECT_DUE_IN_ORDER`](sql::SELECT_DUE_IN_ORDER)) when the claim
/// `marked` no row held back.
fn select_due(
    connection: &Connection,
    marked: usize,
    params: impl Params,
) -> Result<Vec<DueRow>, StoreError> {
    let mut statement = connection.prepare_cached(if marked == 0 {
        sql::SELECT_DUE_IN_ORDER
    } else {
        sql::SELECT_DUE
    })?;
    let rows = statement.query_map(params, |row| {
        let (rowid, raw) = raw_row(row)?;
        Ok((rowid, raw, row.get(ROW_COLUMNS)?, row.get(ROW_COLUMNS + 1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The outbox row with this key, unchecked.
fn select_key(
    connection: &Connection,
    source_system: &str,
    event_id: &str,
) -> Result<Option<(i64, RawRow)>, StoreError> {
    Ok(select_rows(
        connection,
        sql::SELECT_KEY,
        params![source_system, event_id],
    )?
    .pop())
}

/// How many columns `row_columns!` names.
pub(super) const ROW_COLUMNS: usize = 11;

/// Reads the columns of `row_columns!` as they are, whatever their type.
fn raw_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, RawRow)> {
    let mut columns = [ValueRef::Null; ROW_COLUMNS];
    for (index, column) in columns.iter_mut().enumerate() {
        *column = row.get_ref(index)?;
    }
    Ok(raw_row_from(columns))
}

/// An outbox row from its columns in the order of `row_columns!`, each as
/// SQLite holds it: the same reading for the blocking store and its async twin.
pub(super) fn raw_row_from(columns: [ValueRef<'_>; ROW_COLUMNS]) -> (i64, RawRow) {
    let [
        rowid,
        source,
        event_id,
        status,
        attempts,
        due_at,
        renewed_at,
        envelope,
        problem,
        ordering_key,
        held_back,
    ] = columns;
    let raw = RawRow {
        source: lossy(source),
        event_id: lossy(event_id),
        status: text(status),
        attempts: match attempts {
            ValueRef::Integer(attempts) => Ok(attempts),
            other => Err(describe(other)),
        },
        due_at: match due_at {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(micros) => Ok(Some(micros)),
            other => Err(describe(other)),
        },
        renewed_at: renewed_at.as_i64().ok(),
        envelope: text(envelope),
        problem: problem.as_str().ok().map(str::to_owned),
        claimed_at: None,
        ordering_key: match ordering_key {
            ValueRef::Null => Ok(None),
            other => text(other).map(Some),
        },
        held_back: match held_back {
            ValueRef::Integer(0) => Ok(false),
            ValueRef::Integer(1) => Ok(true),
            other => Err(describe(other)),
        },
    };
    (rowid.as_i64().unwrap_or_default(), raw)
}

/// A text column's value, or what it holds instead.
pub(super) fn text(value: ValueRef<'_>) -> Result<String, String> {
    match value {
        ValueRef::Text(bytes) => std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| describe(value)),
        other => Err(describe(other)),
    }
}

/// What a column holds, in words, for a column that should hold something else.
fn describe(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(number) => format!("the integer {number}"),
        ValueRef::Real(number) => format!("the real number {number}"),
        ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => format!("the text {:?}", text.chars().take(40).collect::<String>()),
            Err(_) => format!("{} bytes of text that is not valid UTF-8", bytes.len()),
        },
        ValueRef::Blob(bytes) => format!("a BLOB of {} bytes", bytes.len()),
    }
}

/// A column's value as text for naming a row, whatever it holds.
pub(super) fn lossy(value: ValueRef<'_>) -> String {
    String::from_utf8_lossy(&bytes(value)).into_owned()
}

/// A column's value byte for byte (numbers as their decimal text).
pub(super) fn bytes(value: ValueRef<'_>) -> Vec<u8> {
    match value {
        ValueRef::Null => Vec::new(),
        ValueRef::Integer(number) => number.to_string().into_bytes(),
        ValueRef::Real(number) => number.to_string().into_bytes(),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => bytes.to_vec(),
    }
}

/// Writes an envelope's state over its row.
fn write_row<S: State, P: Serialize>(
    tx: &Transaction<'_>,
    envelope: &Envelope<S, P>,
    due_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    tx.prepare_cached(sql::WRITE_ROW)?.execute(params![
        envelope.source_system(),
        envelope.event_id(),
        S::STATUS.as_str(),
        envelope.attempt_count(),
        due_at.map(micros),
        encode(envelope)?,
        settled_at(S::STATUS, envelope.last_transition()),
    ])?;
    Ok(())
}

/// Takes an unreadable row out of circulation, keeping its content and saying why.
fn quarantine(tx: &Transaction<'_>, rowid: i64, error: &StoreError) -> Result<(), StoreError> {
    tx.execute(sql::QUARANTINE, params![rowid, QUARANTINED, problem(error)])?;
    Ok(())
}
