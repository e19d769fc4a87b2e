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
//! use integration_automation_patterns::store::sqlite::SqliteStore;
//! use integration_automation_patterns::store::{Delivery, SendError};
//!
//! let mut store = SqliteStore::open("orders.db")?;
//! let order = serde_json::json!({ "order_id": 1042 });
//! // The business write and its event commit together, or neither does.
//! store.write(|tx| {
//!     tx.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY)", [])?;
//!     tx.execute("INSERT INTO orders (id) VALUES (1042)", [])?;
//!     let event = Envelope::builder()
//!         .event_id("order-1042-placed")
//!         .event_type("commerce.order.placed")
//!         .source_system("webshop")
//!         .payload(order)
//!         .build()?;
//!     SqliteStore::enqueue(tx, &event, Utc::now())?;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! // A relay pass: claim what is due, send it, record each outcome.
//! let report = store.run_once(Utc::now(), 100, |envelope: &Envelope<_, serde_json::Value>| {
//!     println!("sending {}", envelope.event_id());
//!     Ok::<_, SendError>(Delivery::Processed)
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    Admission, Claim, Claimed, Delivery, Durability, RunReport, SendError, StatusCounts,
    StoreError, StoreOptions,
};
use crate::envelope::state::{Dispatched, Failed, Pending, Retrying, State};
use crate::{AnyEnvelope, DeliveryStatus, Envelope, FailOutcome};

/// The newest store schema this crate writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE iap_meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE iap_outbox (
    source    TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    status    TEXT NOT NULL,
    attempts  INTEGER NOT NULL,
    due_at    INTEGER,
    envelope  TEXT NOT NULL,
    problem   TEXT,
    PRIMARY KEY (source, event_id)
);
CREATE INDEX iap_outbox_due ON iap_outbox (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX iap_outbox_status ON iap_outbox (status);
CREATE TABLE iap_inbox (
    source      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    payload     TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (source, event_id)
) WITHOUT ROWID;
CREATE INDEX iap_inbox_received ON iap_inbox (received_at);
";

/// The status column of a row that does not read back.
const QUARANTINED: &str = "quarantined";

/// The result of one envelope of an [`SqliteStore::admit_batch`].
pub type AdmissionResult<T, P = serde_json::Value> = Result<Admission<T, P>, StoreError>;

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
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let open_error = |error: rusqlite::Error| StoreError::Open {
            path: path.to_path_buf(),
            reason: error.to_string(),
        };
        let mut connection = Connection::open(path).map_err(open_error)?;
        connection
            .busy_timeout(options.busy_timeout)
            .map_err(open_error)?;
        let journal: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(open_error)?;
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
            .map_err(open_error)?;
        prepare_schema(&mut connection)?;
        Ok(SqliteStore {
            connection,
            options,
        })
    }

    /// The store's settings.
    pub fn options(&self) -> StoreOptions {
        self.options
    }

    /// Runs `work` in one write transaction, committed if it returns `Ok` and
    /// rolled back otherwise: the way to put a business write and its
    /// [`enqueue`](Self::enqueue) in one commit.
    pub fn write<T, E>(
        &mut self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<rusqlite::Error>,
    {
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = work(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Adds a new envelope to the outbox inside the caller's transaction `tx`,
    /// due at `now`. It commits with the caller's own writes, or not at all.
    pub fn enqueue<P: Serialize>(
        tx: &Transaction<'_>,
        envelope: &Envelope<Pending, P>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let inserted = tx.execute(
            "INSERT INTO iap_outbox (source, event_id, status, attempts, due_at, envelope)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            params![
                envelope.source_system(),
                envelope.event_id(),
                DeliveryStatus::Pending.as_str(),
                envelope.attempt_count(),
                micros(now),
                encode(envelope)?,
            ],
        )?;
        if inserted == 0 {
            return Err(StoreError::AlreadyEnqueued {
                source_system: envelope.source_system().to_owned(),
                event_id: envelope.event_id().to_owned(),
            });
        }
        Ok(())
    }

    /// Claims up to `limit` envelopes that are due at `now`, oldest first:
    /// pending ones, retrying ones whose next attempt has come, and dispatched
    /// ones whose lease ran out (their worker died; the lost attempt counts as
    /// a failure, so an envelope whose budget it spends becomes a dead letter).
    /// Each claimed envelope is dispatched and leased for
    /// [`StoreOptions::lease`]. One transaction.
    pub fn claim_due<P: Serialize + DeserializeOwned>(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Claimed<P>, StoreError> {
        let lease_until = add(now, self.options.lease);
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rows: Vec<(String, String, String, String)> = {
            let mut statement = tx.prepare_cached(
                "SELECT source, event_id, status, envelope FROM iap_outbox
                 WHERE due_at IS NOT NULL AND due_at <= ?1 ORDER BY due_at LIMIT ?2",
            )?;
            let rows = statement.query_map(
                params![micros(now), i64::try_from(limit).unwrap_or(i64::MAX)],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )?;
            rows.collect::<Result<_, _>>()?
        };
        let mut claimed = Claimed {
            claims: Vec::with_capacity(rows.len()),
            dead_lettered: 0,
            quarantined: Vec::new(),
        };
        for (source, event_id, status, text) in rows {
            let envelope = match read_row::<P>(&source, &event_id, &status, &text) {
                Ok(envelope) => envelope,
                Err(error) => {
                    quarantine(&tx, &source, &event_id, &error)?;
                    claimed.quarantined.push(error);
                    continue;
                }
            };
            let dispatched = match envelope {
                AnyEnvelope::Pending(envelope) => envelope.dispatch_at(now),
                AnyEnvelope::Retrying(envelope) => envelope.dispatch_at(now),
                AnyEnvelope::Dispatched(envelope) => {
                    match envelope.fail_at(
                        "lease expired: the worker that claimed it recorded no outcome",
                        now,
                    ) {
                        FailOutcome::Retry(retrying) => retrying.dispatch_at(now),
                        FailOutcome::Exhausted(failed) => {
                            write_row(&tx, &failed, None)?;
                            claimed.dead_lettered += 1;
                            continue;
                        }
                    }
                }
                other => {
                    let error = corrupt(
                        &source,
                        &event_id,
                        format!("a `{}` envelope is marked as due", other.status()),
                    );
                    quarantine(&tx, &source, &event_id, &error)?;
                    claimed.quarantined.push(error);
                    continue;
                }
            };
            write_row(&tx, &dispatched, Some(lease_until))?;
            claimed.claims.push(Claim {
                envelope: dispatched,
                lease_until,
            });
        }
        tx.commit()?;
        Ok(claimed)
    }

    /// Records the outcome of a claimed envelope: `Processed` or `Acknowledged`
    /// (delivered), `Retrying` (due again at its next attempt time) or
    /// `Failed` (a dead letter). One transaction. Refused if the claim is no
    /// longer held.
    pub fn record<P: Serialize>(
        &mut self,
        outcome: impl Into<AnyEnvelope<P>>,
    ) -> Result<(), StoreError> {
        self.record_not_before(outcome.into(), None)
    }

    /// Records a retry whose receiver asked not to be called again before
    /// `retry_after`: the next attempt is due at the later of that and the
    /// retry policy's time.
    pub fn record_retry_after<P: Serialize>(
        &mut self,
        retrying: Envelope<Retrying, P>,
        retry_after: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.record_not_before(retrying.into(), Some(retry_after))
    }

    fn record_not_before<P: Serialize>(
        &mut self,
        outcome: AnyEnvelope<P>,
        retry_after: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let due_at = match &outcome {
            AnyEnvelope::Processed(_) | AnyEnvelope::Acknowledged(_) | AnyEnvelope::Failed(_) => {
                None
            }
            AnyEnvelope::Retrying(retrying) => {
                let policy_time = retrying.next_attempt_at();
                Some(retry_after.map_or(policy_time, |after| after.max(policy_time)))
            }
            other => {
                return Err(StoreError::NotAnOutcome {
                    source_system: other.source_system().to_owned(),
                    event_id: other.event_id().to_owned(),
                    status: other.status(),
                });
            }
        };
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let updated = tx.execute(
            "UPDATE iap_outbox SET status = ?3, due_at = ?4, envelope = ?5
             WHERE source = ?1 AND event_id = ?2 AND status = 'dispatched' AND attempts = ?6",
            params![
                outcome.source_system(),
                outcome.event_id(),
                outcome.status().as_str(),
                due_at.map(micros),
                encode_any(&outcome)?,
                outcome.attempt_count(),
            ],
        )?;
        if updated == 0 {
            return Err(StoreError::ClaimLost {
                source_system: outcome.source_system().to_owned(),
                event_id: outcome.event_id().to_owned(),
                attempt: outcome.attempt_count(),
            });
        }
        tx.commit()?;
        Ok(())
    }

    /// One relay pass at `now`: claims up to `limit` due envelopes, hands each
    /// to `send`, and records each outcome in its own transaction. A send's
    /// transient failure is retried while the envelope's budget lasts (a
    /// `retry_after` wins when later); a permanent one is a dead letter at once.
    pub fn run_once<P, F>(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
        mut send: F,
    ) -> Result<RunReport, StoreError>
    where
        P: Serialize + DeserializeOwned,
        F: FnMut(&Envelope<Dispatched, P>) -> Result<Delivery, SendError>,
    {
        let claimed = self.claim_due::<P>(now, limit)?;
        let mut report = RunReport {
            claimed: claimed.claims.len(),
            dead_lettered: claimed.dead_lettered,
            quarantined: claimed.quarantined.len(),
            ..RunReport::default()
        };
        for Claim { envelope, .. } in claimed.claims {
            match send(&envelope) {
                Ok(Delivery::Processed) => {
                    self.record(envelope.process_at(now))?;
                    report.delivered += 1;
                }
                Ok(Delivery::Acknowledged) => {
                    self.record(envelope.acknowledge_at(now))?;
                    report.delivered += 1;
                }
                Err(SendError::Transient {
                    reason,
                    retry_after,
                }) => match envelope.fail_at(reason, now) {
                    FailOutcome::Retry(retrying) => {
                        match retry_after {
                            Some(after) => self.record_retry_after(retrying, after)?,
                            None => self.record(retrying)?,
                        }
                        report.retried += 1;
                    }
                    FailOutcome::Exhausted(failed) => {
                        self.record(failed)?;
                        report.dead_lettered += 1;
                    }
                },
                Err(SendError::Permanent { reason }) => {
                    self.record(envelope.fail_permanently_at(reason, now))?;
                    report.dead_lettered += 1;
                }
            }
        }
        Ok(report)
    }

    /// Admits a received envelope through the inbox at `now`: records its key
    /// (source and event id) and runs `effect` in the same transaction, so the
    /// effect happens once however often the event is redelivered.
    ///
    /// - First delivery: the effect runs and commits; [`Admission::Processed`].
    /// - Same key, same payload: the effect does not run; [`Admission::Duplicate`].
    /// - Same key, another payload: [`StoreError::KeyReused`]; nothing is written.
    /// - The effect fails: everything rolls back, no key is recorded, and the
    ///   envelope fails through its retry policy; [`Admission::Failed`].
    ///
    /// Keys older than [`StoreOptions::inbox_retention`] no longer count.
    pub fn admit<P, T, E, F>(
        &mut self,
        envelope: Envelope<Pending, P>,
        now: DateTime<Utc>,
        effect: F,
    ) -> Result<Admission<T, P>, StoreError>
    where
        P: Serialize,
        E: std::fmt::Display,
        F: FnOnce(&Transaction<'_>, &P) -> Result<T, E>,
    {
        let payload = payload_text(&envelope)?;
        let fresh_after = micros(subtract(now, self.options.inbox_retention));
        // A duplicate needs no write: look first, without the write lock.
        if seen_in(&self.connection, &envelope, &payload, fresh_after)? {
            return Ok(Admission::Duplicate(duplicate(envelope, now)));
        }
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another connection may have admitted the key since the first look.
        if seen_in(&tx, &envelope, &payload, fresh_after)? {
            return Ok(Admission::Duplicate(duplicate(envelope, now)));
        }
        remember(&tx, &envelope, &payload, now)?;
        let dispatched = envelope.dispatch_at(now);
        match effect(&tx, dispatched.payload()) {
            Ok(value) => {
                tx.commit()?;
                Ok(Admission::Processed(dispatched.process_at(now), value))
            }
            Err(error) => {
                drop(tx);
                Ok(Admission::Failed(
                    dispatched.fail_at(error.to_string(), now),
                ))
            }
        }
    }

    /// Admits many received envelopes in one transaction, with one synced
    /// commit for all of them: [`admit`](Self::admit)'s rules for each
    /// envelope, in order, each effect in a savepoint of its own (a failed
    /// effect rolls back alone). The results are in input order; a refused
    /// envelope (a reused key) does not stop the others. Everything admitted
    /// is durable when this returns; on a database error nothing is.
    pub fn admit_batch<P, T, E, F>(
        &mut self,
        envelopes: Vec<Envelope<Pending, P>>,
        now: DateTime<Utc>,
        mut effect: F,
    ) -> Result<Vec<AdmissionResult<T, P>>, StoreError>
    where
        P: Serialize,
        E: std::fmt::Display,
        F: FnMut(&Transaction<'_>, &P) -> Result<T, E>,
    {
        let fresh_after = micros(subtract(now, self.options.inbox_retention));
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let payload = match payload_text(&envelope) {
                Ok(payload) => payload,
                Err(error) => {
                    results.push(Err(error));
                    continue;
                }
            };
            match seen_in(&tx, &envelope, &payload, fresh_after) {
                Ok(true) => {
                    results.push(Ok(Admission::Duplicate(duplicate(envelope, now))));
                    continue;
                }
                Ok(false) => {}
                Err(error) => {
                    results.push(Err(error));
                    continue;
                }
            }
            tx.execute_batch("SAVEPOINT iap_admit")?;
            remember(&tx, &envelope, &payload, now)?;
            let dispatched = envelope.dispatch_at(now);
            match effect(&tx, dispatched.payload()) {
                Ok(value) => {
                    tx.execute_batch("RELEASE iap_admit")?;
                    results.push(Ok(Admission::Processed(dispatched.process_at(now), value)));
                }
                Err(error) => {
                    tx.execute_batch("ROLLBACK TO iap_admit; RELEASE iap_admit")?;
                    results.push(Ok(Admission::Failed(
                        dispatched.fail_at(error.to_string(), now),
                    )));
                }
            }
        }
        tx.commit()?;
        Ok(results)
    }

    /// Forgets inbox keys older than the retention window; returns how many.
    pub fn purge_inbox(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = micros(subtract(now, self.options.inbox_retention));
        Ok(self.connection.execute(
            "DELETE FROM iap_inbox WHERE received_at < ?1",
            params![cutoff],
        )?)
    }

    /// The stored envelope with this key, in state `S`; an error names the
    /// state it is in if it is another.
    pub fn load<S: State, P: DeserializeOwned>(
        &self,
        source_system: &str,
        event_id: &str,
    ) -> Result<Envelope<S, P>, StoreError> {
        let any = self.load_any::<P>(source_system, event_id)?;
        Envelope::try_from(any).map_err(|wrong| StoreError::WrongState {
            source_system: source_system.to_owned(),
            event_id: event_id.to_owned(),
            expected: wrong.expected(),
            found: wrong.found(),
        })
    }

    /// The stored envelope with this key, in whatever state it is.
    pub fn load_any<P: DeserializeOwned>(
        &self,
        source_system: &str,
        event_id: &str,
    ) -> Result<AnyEnvelope<P>, StoreError> {
        let row: Option<(String, String)> = self
            .connection
            .query_row(
                "SELECT status, envelope FROM iap_outbox WHERE source = ?1 AND event_id = ?2",
                params![source_system, event_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let Some((status, text)) = row else {
            return Err(StoreError::NotFound {
                source_system: source_system.to_owned(),
                event_id: event_id.to_owned(),
            });
        };
        read_row(source_system, event_id, &status, &text)
    }

    /// Up to `limit` dead letters, oldest first.
    pub fn dead_letters<P: DeserializeOwned>(
        &self,
        limit: usize,
    ) -> Result<Vec<Envelope<Failed, P>>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT source, event_id, status, envelope FROM iap_outbox
             WHERE status = 'failed' ORDER BY rowid LIMIT ?1",
        )?;
        let rows =
            statement.query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })?;
        let mut letters = Vec::new();
        for row in rows {
            let (source, event_id, status, text) = row?;
            let any = read_row::<P>(&source, &event_id, &status, &text)?;
            letters.push(
                Envelope::try_from(any).map_err(|wrong| StoreError::WrongState {
                    source_system: source,
                    event_id,
                    expected: wrong.expected(),
                    found: wrong.found(),
                })?,
            );
        }
        Ok(letters)
    }

    /// Sends one dead letter back for delivery with a fresh budget, due at
    /// `now`; `reason` goes into its history.
    pub fn redrive<P: Serialize + DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Envelope<Pending, P>, StoreError> {
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let failed = load_in::<Failed, P>(&tx, source_system, event_id)?;
        let pending = failed.redrive_at(reason, now);
        write_row(&tx, &pending, Some(now))?;
        tx.commit()?;
        Ok(pending)
    }

    /// Sends every dead letter back for delivery, in one transaction; returns
    /// how many.
    pub fn redrive_all<P: Serialize + DeserializeOwned>(
        &mut self,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let keys: Vec<(String, String)> = {
            let mut statement = tx.prepare_cached(
                "SELECT source, event_id FROM iap_outbox WHERE status = 'failed'",
            )?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        for (source, event_id) in &keys {
            let failed = load_in::<Failed, P>(&tx, source, event_id)?;
            write_row(&tx, &failed.redrive_at(reason, now), Some(now))?;
        }
        tx.commit()?;
        Ok(keys.len())
    }

    /// How many envelopes are in each state, how many rows are quarantined,
    /// and how many keys the inbox remembers.
    pub fn counts(&self) -> Result<StatusCounts, StoreError> {
        let mut counts = StatusCounts::default();
        let mut statement = self
            .connection
            .prepare_cached("SELECT status, COUNT(*) FROM iap_outbox GROUP BY status")?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (status, count) = row?;
            let count = u64::try_from(count).unwrap_or_default();
            match parse_status(&status) {
                Some(status) => {
                    counts.outbox.insert(status, count);
                }
                None => counts.quarantined += count,
            }
        }
        let keys: i64 = self
            .connection
            .query_row("SELECT COUNT(*) FROM iap_inbox", [], |row| row.get(0))?;
        counts.inbox_keys = u64::try_from(keys).unwrap_or_default();
        Ok(counts)
    }

    /// When the next envelope falls due (the earliest pending, retry or lease
    /// expiry), for a relay that sleeps until then; `None` if nothing will.
    pub fn next_due_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let next: Option<i64> = self.connection.query_row(
            "SELECT MIN(due_at) FROM iap_outbox WHERE due_at IS NOT NULL",
            [],
            |row| row.get(0),
        )?;
        Ok(next.and_then(DateTime::from_timestamp_micros))
    }

    /// How long the oldest due envelope has been waiting at `now`; `None` if
    /// nothing is due.
    pub fn oldest_due_age(&self, now: DateTime<Utc>) -> Result<Option<Duration>, StoreError> {
        let oldest: Option<i64> = self.connection.query_row(
            "SELECT MIN(due_at) FROM iap_outbox WHERE due_at IS NOT NULL AND due_at <= ?1",
            params![micros(now)],
            |row| row.get(0),
        )?;
        Ok(oldest.map(|due| {
            let waited = micros(now).saturating_sub(due);
            Duration::from_micros(u64::try_from(waited).unwrap_or_default())
        }))
    }
}

/// Creates the schema in a new file, accepts the current version, refuses others.
fn prepare_schema(connection: &mut Connection) -> Result<(), StoreError> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let has_meta: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'iap_meta')",
        [],
        |row| row.get(0),
    )?;
    if !has_meta {
        let has_tables: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name IN ('iap_outbox', 'iap_inbox'))",
            [],
            |row| row.get(0),
        )?;
        if has_tables {
            return Err(StoreError::UnknownSchema {
                reason: "store tables exist without a schema version".into(),
            });
        }
        tx.execute_batch(SCHEMA)?;
        tx.execute(
            "INSERT INTO iap_meta (name, value) VALUES ('schema_version', ?1)",
            params![SCHEMA_VERSION],
        )?;
        tx.commit()?;
        return Ok(());
    }
    let version: Option<i64> = tx
        .query_row(
            "SELECT value FROM iap_meta WHERE name = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    match version {
        Some(SCHEMA_VERSION) => Ok(()),
        Some(found) if found > SCHEMA_VERSION => Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        }),
        Some(found) => Err(StoreError::UnknownSchema {
            reason: format!("schema version {found} was never written by this crate"),
        }),
        None => Err(StoreError::UnknownSchema {
            reason: "the schema version is missing".into(),
        }),
    }
}

/// Whether the inbox holds this key (fresh) with this payload; an error if
/// with another payload.
fn seen_in<P>(
    connection: &Connection,
    envelope: &Envelope<Pending, P>,
    payload: &str,
    fresh_after: i64,
) -> Result<bool, StoreError> {
    let stored: Option<String> = connection
        .query_row(
            "SELECT payload FROM iap_inbox WHERE source = ?1 AND event_id = ?2 AND received_at >= ?3",
            params![envelope.source_system(), envelope.event_id(), fresh_after],
            |row| row.get(0),
        )
        .optional()?;
    match stored {
        None => Ok(false),
        Some(stored) if stored == payload => Ok(true),
        Some(_) => Err(StoreError::KeyReused {
            source_system: envelope.source_system().to_owned(),
            event_id: envelope.event_id().to_owned(),
        }),
    }
}

/// Records an inbox key (replacing an expired one).
fn remember<P>(
    tx: &Transaction<'_>,
    envelope: &Envelope<Pending, P>,
    payload: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO iap_inbox (source, event_id, payload, received_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (source, event_id) DO UPDATE SET payload = ?3, received_at = ?4",
        params![
            envelope.source_system(),
            envelope.event_id(),
            payload,
            micros(now)
        ],
    )?;
    Ok(())
}

/// The payload as the inbox compares it.
fn payload_text<P: Serialize>(envelope: &Envelope<Pending, P>) -> Result<String, StoreError> {
    serde_json::to_string(envelope.payload()).map_err(|error| StoreError::Encode {
        source_system: envelope.source_system().to_owned(),
        event_id: envelope.event_id().to_owned(),
        reason: error.to_string(),
    })
}

fn duplicate<P>(
    envelope: Envelope<Pending, P>,
    now: DateTime<Utc>,
) -> Envelope<crate::state::Skipped, P> {
    envelope.skip_at("duplicate: this event was already processed", now)
}

/// Reads a stored envelope, checking that its JSON and its status column agree.
fn read_row<P: DeserializeOwned>(
    source: &str,
    event_id: &str,
    status: &str,
    text: &str,
) -> Result<AnyEnvelope<P>, StoreError> {
    let envelope: AnyEnvelope<P> =
        serde_json::from_str(text).map_err(|error| corrupt(source, event_id, error.to_string()))?;
    if envelope.source_system() != source || envelope.event_id() != event_id {
        return Err(corrupt(
            source,
            event_id,
            format!(
                "the row holds envelope {}/{}",
                envelope.source_system(),
                envelope.event_id()
            ),
        ));
    }
    if envelope.status().as_str() != status {
        return Err(corrupt(
            source,
            event_id,
            format!(
                "the row is marked `{status}` but holds a `{}` envelope",
                envelope.status()
            ),
        ));
    }
    Ok(envelope)
}

fn load_in<S: State, P: DeserializeOwned>(
    tx: &Transaction<'_>,
    source_system: &str,
    event_id: &str,
) -> Result<Envelope<S, P>, StoreError> {
    let row: Option<(String, String)> = tx
        .query_row(
            "SELECT status, envelope FROM iap_outbox WHERE source = ?1 AND event_id = ?2",
            params![source_system, event_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let Some((status, text)) = row else {
        return Err(StoreError::NotFound {
            source_system: source_system.to_owned(),
            event_id: event_id.to_owned(),
        });
    };
    let any = read_row::<P>(source_system, event_id, &status, &text)?;
    Envelope::try_from(any).map_err(|wrong| StoreError::WrongState {
        source_system: source_system.to_owned(),
        event_id: event_id.to_owned(),
        expected: wrong.expected(),
        found: wrong.found(),
    })
}

/// Writes an envelope's state over its row.
fn write_row<S: State, P: Serialize>(
    tx: &Transaction<'_>,
    envelope: &Envelope<S, P>,
    due_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE iap_outbox SET status = ?3, attempts = ?4, due_at = ?5, envelope = ?6
         WHERE source = ?1 AND event_id = ?2",
        params![
            envelope.source_system(),
            envelope.event_id(),
            S::STATUS.as_str(),
            envelope.attempt_count(),
            due_at.map(micros),
            encode(envelope)?,
        ],
    )?;
    Ok(())
}

/// Takes an unreadable row out of circulation, keeping it and saying why.
fn quarantine(
    tx: &Transaction<'_>,
    source: &str,
    event_id: &str,
    error: &StoreError,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE iap_outbox SET status = ?3, due_at = NULL, problem = ?4 WHERE source = ?1 AND event_id = ?2",
        params![source, event_id, QUARANTINED, error.to_string()],
    )?;
    Ok(())
}

fn corrupt(source: &str, event_id: &str, reason: String) -> StoreError {
    StoreError::CorruptRow {
        source_system: source.to_owned(),
        event_id: event_id.to_owned(),
        reason,
    }
}

fn encode<S: State, P: Serialize>(envelope: &Envelope<S, P>) -> Result<String, StoreError> {
    serde_json::to_string(envelope).map_err(|error| StoreError::Encode {
        source_system: envelope.source_system().to_owned(),
        event_id: envelope.event_id().to_owned(),
        reason: error.to_string(),
    })
}

fn encode_any<P: Serialize>(envelope: &AnyEnvelope<P>) -> Result<String, StoreError> {
    serde_json::to_string(envelope).map_err(|error| StoreError::Encode {
        source_system: envelope.source_system().to_owned(),
        event_id: envelope.event_id().to_owned(),
        reason: error.to_string(),
    })
}

fn parse_status(status: &str) -> Option<DeliveryStatus> {
    DeliveryStatus::ALL
        .into_iter()
        .find(|candidate| candidate.as_str() == status)
}

/// Microseconds since the Unix epoch, the store's time column.
fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

fn add(time: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(duration)
        .ok()
        .and_then(|delta| time.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn subtract(time: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(duration)
        .ok()
        .and_then(|delta| time.checked_sub_signed(delta))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
