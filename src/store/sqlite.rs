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
//! use integration_automation_patterns::store::{Delivery, DeliveryStore, SendError, StoreError};
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

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::rows::{
    ClaimStep, InboxKey, add, claim_lost, claim_step, encode, encode_any, micros, not_found,
    outcome_due_at, payload_text, read_row, run_effect, subtract, typed,
};
use super::{
    Admission, AdmissionResult, Claim, Claimed, DeliveryStore, Durability, StatusCounts,
    StoreError, StoreOptions,
};
use crate::envelope::state::{Failed, Pending, State};
use crate::{AnyEnvelope, Envelope};

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

    /// Begins a write transaction, taking the file's write lock at once.
    fn begin(&mut self) -> Result<Transaction<'_>, StoreError> {
        Ok(self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
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
        let inserted = tx.execute(
            "INSERT INTO iap_outbox (source, event_id, status, attempts, due_at, envelope)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            params![
                envelope.source_system(),
                envelope.event_id(),
                Pending::STATUS.as_str(),
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

    fn claim_due<P: Serialize + DeserializeOwned>(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Claimed<P>, StoreError> {
        let lease_until = add(now, self.options.lease);
        let tx = self.begin()?;
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
            let step = match read_row::<P>(&source, &event_id, &status, &text) {
                Ok(envelope) => claim_step(envelope, now),
                Err(error) => ClaimStep::Quarantine(error),
            };
            match step {
                ClaimStep::Claim(dispatched) => {
                    write_row(&tx, &dispatched, Some(lease_until))?;
                    claimed.claims.push(Claim {
                        envelope: dispatched,
                        lease_until,
                    });
                }
                ClaimStep::DeadLetter(failed) => {
                    write_row(&tx, &failed, None)?;
                    claimed.dead_lettered += 1;
                }
                ClaimStep::Quarantine(error) => {
                    quarantine(&tx, &source, &event_id, &error)?;
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
            return Err(claim_lost(&outcome));
        }
        tx.commit()?;
        Ok(())
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
        F: FnOnce(&mut Transaction<'_>, &P) -> Result<T, E>,
    {
        let payload = payload_text(&envelope)?;
        let fresh_after = micros(subtract(now, self.options.inbox_retention));
        // A duplicate needs no write: look first, without the write lock.
        let envelope = match seen_in(&self.connection, &envelope, &payload, fresh_after)?
            .settle(envelope, now)
        {
            Ok(envelope) => envelope,
            Err(answer) => return answer,
        };
        let mut tx = self.begin()?;
        // Another connection may have admitted the key since the first look.
        let envelope = match seen_in(&tx, &envelope, &payload, fresh_after)?.settle(envelope, now) {
            Ok(envelope) => envelope,
            Err(answer) => return answer,
        };
        remember(&tx, &envelope, &payload, now)?;
        let admission = run_effect(envelope, now, |payload| effect(&mut tx, payload));
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
        F: FnMut(&mut Transaction<'_>, &P) -> Result<T, E>,
    {
        let fresh_after = micros(subtract(now, self.options.inbox_retention));
        let mut tx = self.begin()?;
        let mut results = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let payload = match payload_text(&envelope) {
                Ok(payload) => payload,
                Err(error) => {
                    results.push(Err(error));
                    continue;
                }
            };
            // A database error ends the whole batch; a settled key, this envelope.
            let envelope =
                match seen_in(&tx, &envelope, &payload, fresh_after)?.settle(envelope, now) {
                    Ok(envelope) => envelope,
                    Err(answer) => {
                        results.push(answer);
                        continue;
                    }
                };
            tx.execute_batch("SAVEPOINT iap_admit")?;
            remember(&tx, &envelope, &payload, now)?;
            let admission = run_effect(envelope, now, |payload| effect(&mut tx, payload));
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
        Ok(self.connection.execute(
            "DELETE FROM iap_inbox WHERE received_at < ?1",
            params![cutoff],
        )?)
    }

    fn load_any<P: DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
    ) -> Result<AnyEnvelope<P>, StoreError> {
        load_in(&self.connection, source_system, event_id)
    }

    fn dead_letters<P: DeserializeOwned>(
        &mut self,
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
            letters.push(typed(read_row::<P>(&source, &event_id, &status, &text)?)?);
        }
        Ok(letters)
    }

    fn redrive<P: Serialize + DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Envelope<Pending, P>, StoreError> {
        let tx = self.begin()?;
        let failed: Envelope<Failed, P> = typed(load_in(&tx, source_system, event_id)?)?;
        let pending = failed.redrive_at(reason, now);
        write_row(&tx, &pending, Some(now))?;
        tx.commit()?;
        Ok(pending)
    }

    fn redrive_all<P: Serialize + DeserializeOwned>(
        &mut self,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let tx = self.begin()?;
        let keys: Vec<(String, String)> = {
            let mut statement = tx.prepare_cached(
                "SELECT source, event_id FROM iap_outbox WHERE status = 'failed'",
            )?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        for (source, event_id) in &keys {
            let failed: Envelope<Failed, P> = typed(load_in(&tx, source, event_id)?)?;
            write_row(&tx, &failed.redrive_at(reason, now), Some(now))?;
        }
        tx.commit()?;
        Ok(keys.len())
    }

    fn counts(&mut self) -> Result<StatusCounts, StoreError> {
        let mut counts = StatusCounts::default();
        let mut statement = self
            .connection
            .prepare_cached("SELECT status, COUNT(*) FROM iap_outbox GROUP BY status")?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (status, count) = row?;
            counts.add_outbox_rows(&status, count);
        }
        let keys: i64 = self
            .connection
            .query_row("SELECT COUNT(*) FROM iap_inbox", [], |row| row.get(0))?;
        counts.inbox_keys = u64::try_from(keys).unwrap_or_default();
        Ok(counts)
    }

    fn next_due_at(&mut self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let next: Option<i64> = self.connection.query_row(
            "SELECT MIN(due_at) FROM iap_outbox WHERE due_at IS NOT NULL",
            [],
            |row| row.get(0),
        )?;
        Ok(next.and_then(DateTime::from_timestamp_micros))
    }

    fn oldest_due_age(&mut self, now: DateTime<Utc>) -> Result<Option<Duration>, StoreError> {
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

/// What the inbox holds, fresh, under `envelope`'s key.
fn seen_in<P>(
    connection: &Connection,
    envelope: &Envelope<Pending, P>,
    payload: &str,
    fresh_after: i64,
) -> Result<InboxKey, StoreError> {
    let stored: Option<String> = connection
        .query_row(
            "SELECT payload FROM iap_inbox WHERE source = ?1 AND event_id = ?2 AND received_at >= ?3",
            params![envelope.source_system(), envelope.event_id(), fresh_after],
            |row| row.get(0),
        )
        .optional()?;
    Ok(InboxKey::of(stored.as_deref(), payload))
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

fn load_in<P: DeserializeOwned>(
    connection: &Connection,
    source_system: &str,
    event_id: &str,
) -> Result<AnyEnvelope<P>, StoreError> {
    let row: Option<(String, String)> = connection
        .query_row(
            "SELECT status, envelope FROM iap_outbox WHERE source = ?1 AND event_id = ?2",
            params![source_system, event_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let (status, text) = row.ok_or_else(|| not_found(source_system, event_id))?;
    read_row(source_system, event_id, &status, &text)
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
