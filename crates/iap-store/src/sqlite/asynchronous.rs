//! The SQLite store for async services (feature `async-sqlite`): the same
//! file, schema, SQL and rules as [`SqliteStore`](super::SqliteStore), on a
//! pool of sqlx connections.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqliteOperation, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous, SqliteValueRef,
};
use sqlx::{Decode, Row, Sqlite, SqliteConnection, Transaction, TypeInfo, ValueRef as _};

use super::writes::RowWrites;
use super::{ROW_COLUMNS, SqliteStore, raw_row_from, sql, text};
use crate::asynchronous::{AsyncDeliveryStore, BoxFuture, shared_async_operations};
use crate::batch_record::{BatchRecord, RecordRow};
use crate::observe::{InSpan, admission_span};
use crate::rows::{
    BEFORE_FIRST_DEAD_LETTER, ClaimStep, InboxKey, QUARANTINED, RawRow, add, claim_lost,
    claim_step, encode, encode_any, inbox_text, micros, not_found, not_quarantined, outcome_due_at,
    problem, recorded, release_due_at, settle_effect, settled_at, sort_dead_letters, subtract,
    typed, waited_since,
};
use crate::wakeup::LocalSignal;
use crate::{
    Admission, AdmissionResult, Claim, Claimed, DeadLetters, Durability, HeldKey, Outcome,
    QuarantinedRow, Recorded, Redriven, StatusCounts, StoreError, StoreOptions, WakeupMode,
    Wakeups,
};
use integration_automation_patterns::envelope::state::{
    Dispatched, Failed, Pending, Skipped, State,
};
use integration_automation_patterns::{AnyEnvelope, Envelope};

/// Inbox, outbox and dead letters in one SQLite file, for async services: a
/// pool of connections shared by every clone of the store.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use chrono::Utc;
/// use integration_automation_patterns::Envelope;
/// use iap_store::sqlite::AsyncSqliteStore;
/// use iap_store::AsyncDeliveryStore;
///
/// let store = AsyncSqliteStore::open("orders.db", Default::default()).await?;
/// let event = Envelope::builder()
///     .event_id("order-1042-placed")
///     .event_type("commerce.order.placed")
///     .source_system("webshop")
///     .payload(serde_json::json!({ "order_id": 1042 }))
///     .build()?;
/// let mut tx = store.begin().await?;
/// sqlx::query("INSERT INTO orders (id) VALUES (1042)").execute(&mut *tx).await?;
/// AsyncSqliteStore::enqueue(&mut tx, &event, Utc::now()).await?;
/// tx.commit().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncSqliteStore {
    pool: SqlitePool,
    options: StoreOptions,
    /// Raised by the pool's connections when a commit enqueued.
    enqueued: LocalSignal,
}

impl AsyncSqliteStore {
    /// Opens (creating if needed) the store in the file at `path`, with a
    /// pool of up to 4 connections. The schema is prepared (created, migrated
    /// or refused) as [`SqliteStore::open_with`] does it, on a blocking thread.
    pub async fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self, StoreError> {
        let path: PathBuf = path.as_ref().to_path_buf();
        let prepared = path.clone();
        tokio::task::spawn_blocking(move || SqliteStore::open_with(&prepared, options).map(drop))
            .await
            .map_err(|error| StoreError::Open {
                path: path.clone(),
                reason: error.to_string(),
            })??;
        let connect = SqliteConnectOptions::new()
            .filename(&path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match options.durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(options.busy_timeout);
        let enqueued = LocalSignal::new();
        let signal = enqueued.clone();
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(options.busy_timeout)
            .after_connect(move |connection, _| {
                let signal = signal.clone();
                Box::pin(async move {
                    signal_enqueueing_commits(connection, signal).await?;
                    Ok(())
                })
            })
            .connect_with(connect)
            .await
            .map_err(|error| StoreError::Open {
                path,
                reason: error.to_string(),
            })?;
        Ok(AsyncSqliteStore {
            pool,
            options,
            enqueued,
        })
    }

    /// The pool, for the caller's own queries and transactions (an outbox
    /// event enqueued in the caller's transaction commits with it).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Writes the rows of a batch record in one statement; the keys of the
    /// rows whose claim still held.
    async fn record_rows(
        &self,
        rows: &[RecordRow<'_>],
    ) -> Result<HashSet<(String, String)>, StoreError> {
        let rows: Vec<serde_json::Value> = rows
            .iter()
            .map(|row| {
                serde_json::json!([
                    row.source,
                    row.event_id,
                    row.status,
                    row.due_at,
                    row.envelope,
                    row.attempts,
                    row.settled_at
                ])
            })
            .collect();
        let written = sqlx::query(sql::RECORD_ROWS)
            .bind(serde_json::Value::Array(rows).to_string())
            .fetch_all(&self.pool)
            .await?;
        written
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    /// Enqueues into any open sqlx SQLite transaction or connection of the
    /// caller's: see [`AsyncDeliveryStore::enqueue`].
    pub async fn enqueue_in<P: Serialize>(
        connection: &mut SqliteConnection,
        envelope: &Envelope<Pending, P>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let inserted = sqlx::query(sql::ENQUEUE)
            .bind(envelope.source_system())
            .bind(envelope.event_id())
            .bind(Pending::STATUS.as_str())
            .bind(i64::from(envelope.attempt_count()))
            .bind(micros(now))
            .bind(encode(envelope)?)
            .bind(envelope.ordering_key())
            .execute(connection)
            .await?
            .rows_affected();
        if inserted == 0 {
            return Err(StoreError::AlreadyEnqueued {
                source_system: envelope.source_system().to_owned(),
                event_id: envelope.event_id().to_owned(),
            });
        }
        Ok(())
    }

    /// Rewrites a dead letter as `step` makes it, due at `due_at`, in one
    /// transaction; a row that does not read back is quarantined instead.
    async fn rewrite_dead_letter<S: State, P: Serialize + DeserializeOwned>(
        &self,
        source_system: &str,
        event_id: &str,
        due_at: Option<DateTime<Utc>>,
        step: impl FnOnce(Envelope<Failed, P>) -> Envelope<S, P>,
    ) -> Result<Envelope<S, P>, StoreError> {
        let mut tx = self.begin().await?;
        let (rowid, raw) = select_rows(
            &mut tx,
            sqlx::query(sql::SELECT_KEY)
                .bind(source_system)
                .bind(event_id),
        )
        .await?
        .pop()
        .ok_or_else(|| not_found(source_system, event_id))?;
        let checked = match raw.read::<P>() {
            Ok(checked) => checked,
            Err(error) => {
                quarantine(&mut tx, rowid, &error).await?;
                tx.commit().await?;
                return Err(error);
            }
        };
        let rewritten = step(typed(checked.envelope)?);
        write_row(&mut tx, &rewritten, due_at).await?;
        tx.commit().await?;
        Ok(rewritten)
    }

    /// [`AsyncDeliveryStore::admit`], inside its span.
    async fn admit_here<P, T, E, F>(
        &self,
        envelope: Envelope<Pending, P>,
        now: DateTime<Utc>,
        effect: F,
    ) -> Result<Admission<T, P>, StoreError>
    where
        P: Serialize + Send + Sync,
        T: Send,
        E: std::fmt::Display + Send,
        F: for<'t> FnOnce(
                &'t mut <Self as AsyncDeliveryStore>::Tx,
                &'t Envelope<Dispatched, P>,
            ) -> BoxFuture<'t, Result<T, E>>
            + Send,
    {
        let event_text = inbox_text(&envelope)?;

        let fresh_after = micros(subtract(now, self.options.inbox_retention));
        // A duplicate needs no write: look first, without the write lock.
        let key = {
            let mut connection = self.pool.acquire().await?;
            seen_in(&mut connection, &envelope, &event_text, fresh_after).await?
        };
        let envelope = match key.settle(envelope, now) {
            Ok(envelope) => envelope,
            Err(answer) => return answer,
        };
        let mut tx = self.begin().await?;
        // Another connection may have admitted the key since the first look.
        let envelope = match seen_in(&mut tx, &envelope, &event_text, fresh_after)
            .await?
            .settle(envelope, now)
        {
            Ok(envelope) => envelope,
            Err(answer) => return answer,
        };
        remember(&mut tx, &envelope, &event_text, now).await?;
        let dispatched = envelope.dispatch_at(now);
        let result = effect(&mut tx, &dispatched).await;
        let admission = settle_effect(dispatched, result, now);
        if let Admission::Processed(..) = admission {
            tx.commit().await?;
        }
        Ok(admission)
    }

    /// Quarantines the row `rowid`, in a transaction of its own, if it still
    /// does not read back; returns why, if it was quarantined.
    async fn quarantine_if_unreadable<P: DeserializeOwned>(
        &self,
        rowid: i64,
    ) -> Result<Option<StoreError>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = select_rows(
            &mut tx,
            sqlx::query(sql::SELECT_ROW_IF_NOT_QUARANTINED).bind(rowid),
        )
        .await?;
        let mut quarantined = None;
        for (rowid, raw) in rows {
            if let Err(error) = raw.read::<P>() {
                quarantine(&mut tx, rowid, &error).await?;
                quarantined = Some(error);
            }
        }
        tx.commit().await?;
        Ok(quarantined)
    }
}

/// Has `connection` raise `signal` at each commit that inserted into the
/// outbox. SQLite calls the commit hook while the commit is under way, with
/// the write lock held; a woken relay's claim (`BEGIN IMMEDIATE`) waits for
/// that lock, so it sees the new rows.
async fn signal_enqueueing_commits(
    connection: &mut SqliteConnection,
    signal: LocalSignal,
) -> Result<(), sqlx::Error> {
    let inserted = Arc::new(AtomicBool::new(false));
    let mut handle = connection.lock_handle().await?;
    let seen = Arc::clone(&inserted);
    handle.set_update_hook(move |change| {
        if change.operation == SqliteOperation::Insert && change.table == "iap_outbox" {
            seen.store(true, Ordering::Relaxed);
        }
    });
    let committed = Arc::clone(&inserted);
    handle.set_commit_hook(move || {
        if committed.swap(false, Ordering::Relaxed) {
            signal.raise();
        }
        true
    });
    handle.set_rollback_hook(move || inserted.store(false, Ordering::Relaxed));
    Ok(())
}

/// A query with its parameters bound.
type Query<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>;

impl AsyncDeliveryStore for AsyncSqliteStore {
    type Tx = Transaction<'static, Sqlite>;

    fn options(&self) -> StoreOptions {
        self.options
    }

    shared_async_operations!();

    async fn wakeups(&self) -> Result<Wakeups, StoreError> {
        Ok(match self.options.wakeups {
            WakeupMode::Notify => Wakeups::local(&self.enqueued),
            WakeupMode::Poll => Wakeups::polling(),
        })
    }

    async fn begin(&self) -> Result<Self::Tx, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn claim_due<P: Serialize + DeserializeOwned + Send + Sync>(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Claimed<P>, StoreError> {
        let lease_until = add(now, self.options.lease);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut tx = self.begin().await?;
        let mut claimed = Claimed {
            claims: Vec::new(),
            dead_lettered: 0,
            quarantined: Vec::new(),
        };
        let strays = select_rows(&mut tx, sqlx::query(sql::SELECT_STRAYS).bind(limit)).await?;
        for (rowid, raw) in strays {
            let error = raw.stray_error::<P>();
            quarantine(&mut tx, rowid, &error).await?;
            claimed.quarantined.push(error);
        }
        let marked = sqlx::query(sql::MARK_HELD_BACK)
            .bind(micros(now))
            .bind(limit)
            .bind(self.options.dead_letter_keys.holds())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let select_due = if marked == 0 {
            sql::SELECT_DUE_IN_ORDER
        } else {
            sql::SELECT_DUE
        };
        let due = sqlx::query(select_due)
            .bind(micros(now))
            .bind(limit)
            .bind(self.options.dead_letter_keys.holds())
            .fetch_all(&mut *tx)
            .await?;
        claimed.claims.reserve(due.len());
        let mut writes = RowWrites::default();
        let mut taken_held_back = Vec::new();
        for row in &due {
            let (rowid, raw) = raw_row(row)?;
            let passed = row.try_get(ROW_COLUMNS)?;
            let held_back: bool = row.try_get(ROW_COLUMNS + 1)?;
            match claim_step(raw, now, lease_until, passed) {
                ClaimStep::Claim(claim) => {
                    writes.push(&claim.envelope, Some(lease_until))?;
                    taken_held_back.extend(held_back.then_some(rowid));
                    claimed.claims.push(claim);
                }
                ClaimStep::DeadLetter(failed) => {
                    writes.push(&failed, None)?;
                    taken_held_back.extend(held_back.then_some(rowid));
                    claimed.dead_lettered += 1;
                }
                ClaimStep::Quarantine(error) => {
                    quarantine(&mut tx, rowid, &error).await?;
                    claimed.quarantined.push(error);
                }
            }
        }
        if !writes.is_empty() {
            sqlx::query(sql::WRITE_ROWS)
                .bind(writes.into_json())
                .execute(&mut *tx)
                .await?;
        }
        for rowid in taken_held_back {
            sqlx::query(sql::CLEAR_HELD_BACK)
                .bind(rowid)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn admit_batch<P, T, E, F>(
        &self,
        envelopes: Vec<Envelope<Pending, P>>,
        now: DateTime<Utc>,
        mut effect: F,
    ) -> Result<Vec<AdmissionResult<T, P>>, StoreError>
    where
        P: Serialize + Send + Sync,
        T: Send,
        E: std::fmt::Display + Send,
        F: for<'t> FnMut(
                &'t mut Self::Tx,
                &'t Envelope<Dispatched, P>,
            ) -> BoxFuture<'t, Result<T, E>>
            + Send,
    {
        let fresh_after = micros(subtract(now, self.options.inbox_retention));
        let mut tx = self.begin().await?;
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
            let envelope = match seen_in(&mut tx, &envelope, &event_text, fresh_after)
                .await?
                .settle(envelope, now)
            {
                Ok(envelope) => envelope,
                Err(answer) => {
                    results.push(answer);
                    continue;
                }
            };
            sqlx::query("SAVEPOINT iap_admit").execute(&mut *tx).await?;
            remember(&mut tx, &envelope, &event_text, now).await?;
            let dispatched = envelope.dispatch_at(now);
            let result = effect(&mut tx, &dispatched).await;
            let admission = settle_effect(dispatched, result, now);
            let end = match admission {
                Admission::Processed(..) => "RELEASE iap_admit",
                _ => "ROLLBACK TO iap_admit; RELEASE iap_admit",
            };
            sqlx::raw_sql(end).execute(&mut *tx).await?;
            results.push(Ok(admission));
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn load_any<P: DeserializeOwned + Send + Sync>(
        &self,
        source_system: &str,
        event_id: &str,
    ) -> Result<AnyEnvelope<P>, StoreError> {
        let (rowid, raw) = {
            let mut connection = self.pool.acquire().await?;
            select_rows(
                &mut connection,
                sqlx::query(sql::SELECT_KEY)
                    .bind(source_system)
                    .bind(event_id),
            )
            .await?
            .pop()
            .ok_or_else(|| not_found(source_system, event_id))?
        };
        match raw.read::<P>() {
            Ok(checked) => Ok(checked.envelope),
            Err(error) => Err(self
                .quarantine_if_unreadable::<P>(rowid)
                .await?
                .unwrap_or(error)),
        }
    }

    async fn dead_letters<P: DeserializeOwned + Send + Sync>(
        &self,
        limit: usize,
    ) -> Result<DeadLetters<P>, StoreError> {
        let mut letters = Vec::new();
        let mut unreadable = Vec::new();
        let mut after = BEFORE_FIRST_DEAD_LETTER;
        while letters.len() < limit {
            let wanted = i64::try_from(limit - letters.len()).unwrap_or(i64::MAX);
            let rows = {
                let mut connection = self.pool.acquire().await?;
                sqlx::query(sql::SELECT_DEAD_LETTERS_PAGE)
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(None::<i64>)
                    .bind(after.0)
                    .bind(after.1)
                    .bind(wanted)
                    .fetch_all(&mut *connection)
                    .await?
                    .iter()
                    .map(|row| {
                        let (rowid, raw) = raw_row(row)?;
                        Ok(((row.try_get(ROW_COLUMNS)?, rowid), raw))
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?
            };
            match sort_dead_letters(rows, &mut letters, &mut unreadable, |(_, rowid), _| rowid) {
                Some(last) => after = last,
                None => break,
            }
        }
        let mut quarantined = Vec::new();
        for rowid in unreadable {
            quarantined.extend(self.quarantine_if_unreadable::<P>(rowid).await?);
        }
        Ok(DeadLetters {
            letters,
            quarantined,
        })
    }

    async fn redrive_all<P: Serialize + DeserializeOwned + Send + Sync>(
        &self,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Redriven, StoreError> {
        let mut tx = self.begin().await?;
        let rows = select_rows(&mut tx, sqlx::query(sql::SELECT_DEAD_LETTERS)).await?;
        let mut redriven = Redriven::default();
        for (rowid, raw) in rows {
            match raw
                .read::<P>()
                .and_then(|checked| typed::<Failed, P>(checked.envelope))
            {
                Ok(failed) => {
                    write_row(&mut tx, &failed.redrive_at(reason, now), Some(now)).await?;
                    redriven.redriven += 1;
                }
                Err(error) => {
                    quarantine(&mut tx, rowid, &error).await?;
                    redriven.quarantined.push(error);
                }
            }
        }
        tx.commit().await?;
        Ok(redriven)
    }

    async fn quarantined(&self, limit: usize) -> Result<Vec<QuarantinedRow>, StoreError> {
        let rows = sqlx::query(sql::SELECT_QUARANTINED)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(QuarantinedRow {
                    source_system: super::lossy(column(row, 0)?.value()),
                    event_id: super::lossy(column(row, 1)?.value()),
                    reason: super::lossy(column(row, 2)?.value()),
                    content: super::bytes(column(row, 3)?.value()),
                })
            })
            .collect()
    }

    async fn release_quarantined<P: DeserializeOwned + Send + Sync>(
        &self,
        source_system: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<AnyEnvelope<P>, StoreError> {
        let mut tx = self.begin().await?;
        let (rowid, raw) = select_rows(
            &mut tx,
            sqlx::query(sql::SELECT_QUARANTINED_KEY)
                .bind(source_system)
                .bind(event_id),
        )
        .await?
        .pop()
        .ok_or_else(|| not_quarantined(source_system, event_id))?;
        let envelope = match raw.read_set_aside::<P>() {
            Ok(envelope) => envelope,
            Err(error) => {
                quarantine(&mut tx, rowid, &error).await?;
                tx.commit().await?;
                return Err(error);
            }
        };
        sqlx::query(sql::RELEASE_QUARANTINED)
            .bind(rowid)
            .bind(envelope.status().as_str())
            .bind(release_due_at(&envelope, now).map(micros))
            .bind(settled_at(envelope.status(), envelope.last_transition()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(envelope)
    }

    async fn counts(&self) -> Result<StatusCounts, StoreError> {
        let mut counts = StatusCounts::default();
        for row in sqlx::query(sql::COUNT_BY_STATUS)
            .fetch_all(&self.pool)
            .await?
        {
            let count: i64 = row.try_get(1)?;
            match text(column(&row, 0)?.value()) {
                Ok(status) => counts.add_outbox_rows(&status, count),
                // A status that is not text is no delivery state.
                Err(_) => counts.add_outbox_rows(QUARANTINED, count),
            }
        }
        let keys: i64 = sqlx::query(sql::COUNT_INBOX)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        counts.inbox_keys = u64::try_from(keys).unwrap_or_default();
        Ok(counts)
    }
}

/// A column's value as SQLite holds it, copied out of an sqlx row.
enum Column {
    Null,
    Integer(i64),
    Real(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl Column {
    /// The value as the blocking store reads it.
    fn value(&self) -> ValueRef<'_> {
        match self {
            Column::Null => ValueRef::Null,
            Column::Integer(number) => ValueRef::Integer(*number),
            Column::Real(number) => ValueRef::Real(*number),
            Column::Text(bytes) => ValueRef::Text(bytes),
            Column::Blob(bytes) => ValueRef::Blob(bytes),
        }
    }
}

/// Column `index` of `row` as SQLite holds it, whatever its declared type.
fn column(row: &SqliteRow, index: usize) -> Result<Column, StoreError> {
    let value: SqliteValueRef<'_> = row.try_get_raw(index)?;
    if value.is_null() {
        return Ok(Column::Null);
    }
    let kind = value.type_info().name().to_owned();
    let decoded = match kind.as_str() {
        "INTEGER" => <i64 as Decode<Sqlite>>::decode(value).map(Column::Integer),
        "REAL" => <f64 as Decode<Sqlite>>::decode(value).map(Column::Real),
        "TEXT" => {
            <&[u8] as Decode<Sqlite>>::decode(value).map(|bytes| Column::Text(bytes.to_vec()))
        }
        _ => <&[u8] as Decode<Sqlite>>::decode(value).map(|bytes| Column::Blob(bytes.to_vec())),
    };
    decoded.map_err(|error| StoreError::Sqlx(sqlx::Error::Decode(error)))
}

/// The outbox rows a query selects (its columns are `row_columns!`), unchecked.
async fn select_rows(
    connection: &mut SqliteConnection,
    query: Query<'_>,
) -> Result<Vec<(i64, RawRow)>, StoreError> {
    let rows = query.fetch_all(connection).await?;
    rows.iter().map(raw_row).collect()
}

/// Reads the columns of `row_columns!` as they are, whatever their type.
fn raw_row(row: &SqliteRow) -> Result<(i64, RawRow), StoreError> {
    let columns = (0..ROW_COLUMNS)
        .map(|index| column(row, index))
        .collect::<Result<Vec<_>, _>>()?;
    let values: Vec<ValueRef<'_>> = columns.iter().map(Column::value).collect();
    let values: [ValueRef<'_>; ROW_COLUMNS] =
        values.try_into().map_err(|_| StoreError::UnknownSchema {
            reason: "an outbox row does not have its columns".into(),
        })?;
    Ok(raw_row_from(values))
}

/// What the inbox holds, fresh, under `envelope`'s key.
async fn seen_in<P: Serialize>(
    connection: &mut SqliteConnection,
    envelope: &Envelope<Pending, P>,
    event_text: &str,
    fresh_after: i64,
) -> Result<InboxKey, StoreError> {
    let row = sqlx::query(sql::SELECT_FRESH_KEY)
        .bind(envelope.source_system())
        .bind(envelope.event_id())
        .bind(fresh_after)
        .fetch_optional(connection)
        .await?;
    let Some(row) = row else {
        return Ok(InboxKey::New);
    };
    Ok(match text(column(&row, 0)?.value()) {
        Ok(stored) => InboxKey::of(&stored, event_text, envelope),
        Err(held) => InboxKey::Unreadable(held),
    })
}

/// Records an inbox key (replacing an expired one).
async fn remember<P>(
    connection: &mut SqliteConnection,
    envelope: &Envelope<Pending, P>,
    event_text: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(sql::REMEMBER_KEY)
        .bind(envelope.source_system())
        .bind(envelope.event_id())
        .bind(event_text)
        .bind(micros(now))
        .execute(connection)
        .await?;
    Ok(())
}

/// Gives back a claim that was never sent: its row as it was before the
/// claim, if the claim is still held; the number of rows given back.
async fn release_claim<P>(
    connection: &mut SqliteConnection,
    claim: &Claim<P>,
) -> Result<u64, StoreError> {
    let Claim {
        envelope, prior, ..
    } = claim;
    Ok(sqlx::query(sql::RELEASE_CLAIM)
        .bind(envelope.source_system())
        .bind(envelope.event_id())
        .bind(prior.status.as_str())
        .bind(prior.attempts)
        .bind(prior.due_at)
        .bind(prior.renewed_at)
        .bind(prior.envelope.as_str())
        .bind(i64::from(envelope.attempt_count()))
        .execute(connection)
        .await?
        .rows_affected())
}

/// Writes an envelope's state over its row.
async fn write_row<S: State, P: Serialize>(
    connection: &mut SqliteConnection,
    envelope: &Envelope<S, P>,
    due_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    sqlx::query(sql::WRITE_ROW)
        .bind(envelope.source_system())
        .bind(envelope.event_id())
        .bind(S::STATUS.as_str())
        .bind(i64::from(envelope.attempt_count()))
        .bind(due_at.map(micros))
        .bind(encode(envelope)?)
        .bind(settled_at(S::STATUS, envelope.last_transition()))
        .execute(connection)
        .await?;
    Ok(())
}

/// Takes an unreadable row out of circulation, keeping its content and saying why.
async fn quarantine(
    connection: &mut SqliteConnection,
    rowid: i64,
    error: &StoreError,
) -> Result<(), StoreError> {
    sqlx::query(sql::QUARANTINE)
        .bind(rowid)
        .bind(QUARANTINED)
        .bind(problem(error))
        .execute(connection)
        .await?;
    Ok(())
}
