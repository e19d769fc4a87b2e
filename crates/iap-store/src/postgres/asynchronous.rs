//! The PostgreSQL store for async services (feature `async-postgres`): the
//! same schema, SQL and rules as [`PostgresStore`](super::PostgresStore), on
//! a pool of sqlx connections.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Postgres, Row, Transaction};

use super::claim::{ClaimDueRow, OneStatementClaim, Unreadable};
use super::writes::{RecordColumns, RowWrites};
use super::{MIGRATION_LOCK, ROW_COLUMNS, SCHEMA_VERSION, sql};
use crate::asynchronous::{AsyncDeliveryStore, BoxFuture, shared_async_operations};
use crate::batch_record::{BatchRecord, RecordRow};
use crate::clock::ServerClock;
use crate::migrations_from;
use crate::observe::{InSpan, admission_span};
use crate::rows::{
    BEFORE_FIRST_DEAD_LETTER, InboxKey, QUARANTINED, RawRow, add, claim_lost, encode, encode_any,
    inbox_text, micros, not_found, not_quarantined, outcome_due_at, problem, recorded,
    release_due_at, settle_effect, settled_at, sort_dead_letters, subtract, typed, waited_since,
};
use crate::{
    Admission, AdmissionResult, Claim, Claimed, DeadLetters, HeldKey, Outcome, QuarantinedRow,
    Recorded, Redriven, StatusCounts, StoreError, StoreOptions, WakeupMode, Wakeups,
};
use integration_automation_patterns::envelope::state::{
    Dispatched, Failed, Pending, Skipped, State,
};
use integration_automation_patterns::{AnyEnvelope, Envelope};

/// Inbox, outbox and dead letters in a PostgreSQL database, for async
/// services: a pool of connections shared by every clone of the store.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use chrono::Utc;
/// use integration_automation_patterns::Envelope;
/// use iap_store::postgres::AsyncPostgresStore;
/// use iap_store::AsyncDeliveryStore;
///
/// let store = AsyncPostgresStore::connect("postgres://relay@db.internal/orders", Default::default()).await?;
/// store.migrate().await?;
/// let event = Envelope::builder()
///     .event_id("order-1042-placed")
///     .event_type("commerce.order.placed")
///     .source_system("webshop")
///     .payload(serde_json::json!({ "order_id": 1042 }))
///     .build()?;
/// // The caller's own transaction: the business write and the event commit together.
/// let mut tx = store.pool().begin().await?;
/// sqlx::query("INSERT INTO orders (id) VALUES (1042)").execute(&mut *tx).await?;
/// AsyncPostgresStore::enqueue_in(&mut tx, &event, Utc::now()).await?;
/// tx.commit().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncPostgresStore {
    pool: PgPool,
    options: StoreOptions,
    clock: ServerClock,
}

impl AsyncPostgresStore {
    /// Connects a pool of up to 8 connections with a connection string (a
    /// `postgres://` URL).
    pub async fn connect(
        connection_string: &str,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let connect: PgConnectOptions =
            connection_string
                .parse()
                .map_err(|error: sqlx::Error| StoreError::Connect {
                    reason: format!("the connection string does not parse: {error}"),
                })?;
        AsyncPostgresStore::connect_with(connect, options).await
    }

    /// Connects a pool of up to 8 connections with sqlx's connection options.
    /// [`StoreOptions::busy_timeout`] bounds the wait for a pooled connection
    /// and, as the connections' `lock_timeout`, the wait for another
    /// transaction's lock: past it the call fails with [`StoreError::Busy`].
    pub async fn connect_with(
        connect: PgConnectOptions,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let connect = connect.options([(
            "lock_timeout",
            format!("{}ms", options.busy_timeout.as_millis()),
        )]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(options.busy_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|error| StoreError::Connect {
                reason: format!(
                    "cannot connect to {:?} port {} as {:?}: {error}",
                    connect.get_host(),
                    connect.get_port(),
                    connect.get_username()
                ),
            })?;
        Ok(AsyncPostgresStore::from_pool(pool, options))
    }

    /// A store on a pool the caller made (a service's own pool, say).
    pub fn from_pool(pool: PgPool, options: StoreOptions) -> Self {
        AsyncPostgresStore {
            pool,
            options,
            clock: ServerClock::default(),
        }
    }

    /// The pool, for the caller's own queries and transactions (an outbox
    /// event enqueued in the caller's transaction commits with it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates the store's tables, migrates them, or checks their version:
    /// see [`PostgresStore::migrate`](super::PostgresStore::migrate).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(sql::TAKE_MIGRATION_LOCK)
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        let has_meta: bool = sqlx::query(sql::HAS_META)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let version: Option<i64> = if has_meta {
            let row = sqlx::query(sql::SELECT_VERSION)
                .fetch_optional(&mut *tx)
                .await?;
            match row {
                Some(row) => Some(row.try_get(0)?),
                None => {
                    return Err(StoreError::UnknownSchema {
                        reason: "the schema version is missing".into(),
                    });
                }
            }
        } else {
            None
        };
        match version {
            None => {
                let exists: bool = sqlx::query(sql::HAS_TABLES)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
                if exists {
                    return Err(StoreError::UnknownSchema {
                        reason: "store tables exist without a schema version".into(),
                    });
                }
                sqlx::raw_sql(sql::SCHEMA).execute(&mut *tx).await?;
                sqlx::query(sql::INSERT_VERSION)
                    .bind(SCHEMA_VERSION)
                    .execute(&mut *tx)
                    .await?;
            }
            Some(found) if (1..SCHEMA_VERSION).contains(&found) => {
                for migration in migrations_from(&sql::MIGRATIONS, found) {
                    sqlx::raw_sql(*migration).execute(&mut *tx).await?;
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
        tx.commit().await?;
        Ok(())
    }

    /// Writes the rows of a batch record in one statement; the keys of the
    /// rows whose claim still held.
    async fn record_rows(
        &self,
        rows: &[RecordRow<'_>],
    ) -> Result<HashSet<(String, String)>, StoreError> {
        let columns = RecordColumns::of(rows);
        let written = sqlx::query(sql::RECORD_ROWS)
            .bind(&columns.sources)
            .bind(&columns.event_ids)
            .bind(&columns.statuses)
            .bind(&columns.due_ats)
            .bind(&columns.envelopes)
            .bind(&columns.attempts)
            .bind(&columns.settled_ats)
            .fetch_all(&self.pool)
            .await?;
        written
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    /// Enqueues into any open sqlx PostgreSQL transaction or connection of
    /// the caller's: see [`AsyncDeliveryStore::enqueue`].
    pub async fn enqueue_in<P: Serialize>(
        connection: &mut PgConnection,
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

    /// Enqueues inside the caller's tokio-postgres transaction (or on a
    /// client): the event commits with the caller's own writes, or not at all.
    pub async fn enqueue_with_tokio_postgres<P: Serialize, C: tokio_postgres::GenericClient>(
        client: &C,
        envelope: &Envelope<Pending, P>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let inserted = client
            .execute(
                sql::ENQUEUE,
                &[
                    &envelope.source_system(),
                    &envelope.event_id(),
                    &Pending::STATUS.as_str(),
                    &i64::from(envelope.attempt_count()),
                    &micros(now),
                    &encode(envelope)?,
                    &envelope.ordering_key(),
                ],
            )
            .await?;
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
        let (_, raw) = select_rows(
            &mut tx,
            sqlx::query(sql::LOCK_ROW)
                .bind(source_system)
                .bind(event_id),
        )
        .await?
        .pop()
        .ok_or_else(|| not_found(source_system, event_id))?;
        let checked = match raw.read::<P>() {
            Ok(checked) => checked,
            Err(error) => {
                quarantine(&mut tx, source_system, event_id, &error).await?;
                tx.commit().await?;
                return Err(error);
            }
        };
        let rewritten = step(typed(checked.envelope)?);
        write_row(&mut tx, &rewritten, due_at).await?;
        tx.commit().await?;
        Ok(rewritten)
    }

    /// The claim's transaction, for what one statement cannot claim, as the
    /// blocking store's: it quarantines the `unreadable` rows the statement
    /// claimed and up to `strays` rows no claim would reach, then claims up
    /// to `due` due rows of any state, adding to `claimed`.
    async fn claim_in_transaction<P: Serialize + DeserializeOwned>(
        &self,
        now: DateTime<Utc>,
        strays: usize,
        due: usize,
        unreadable: Vec<Unreadable>,
        claimed: &mut Claimed<P>,
    ) -> Result<(), StoreError> {
        let lease_until = add(now, self.options.lease);
        let mut tx = self.begin().await?;
        for (source, event_id, error) in unreadable {
            quarantine(&mut tx, &source, &event_id, &error).await?;
            claimed.quarantined.push(error);
        }
        let strays = i64::try_from(strays).unwrap_or(i64::MAX);
        let strays = select_rows(&mut tx, sqlx::query(sql::SELECT_STRAYS).bind(strays)).await?;
        for (_, raw) in strays {
            let (source, event_id) = (raw.source.clone(), raw.event_id.clone());
            let error = raw.stray_error::<P>();
            quarantine(&mut tx, &source, &event_id, &error).await?;
            claimed.quarantined.push(error);
        }
        let due = sqlx::query(sql::SELECT_DUE)
            .bind(micros(now))
            .bind(i64::try_from(due).unwrap_or(i64::MAX))
            .bind(self.options.dead_letter_keys.holds())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| Ok((raw_row(row)?.1, row.try_get(ROW_COLUMNS)?)))
            .collect::<Result<_, StoreError>>()?;
        let (writes, unreadable) = RowWrites::of_due(due, now, lease_until, claimed)?;
        for (source, event_id, error) in unreadable {
            quarantine(&mut tx, &source, &event_id, &error).await?;
            claimed.quarantined.push(error);
        }
        if !writes.is_empty() {
            sqlx::query(sql::WRITE_ROWS)
                .bind(&writes.sources)
                .bind(&writes.event_ids)
                .bind(&writes.statuses)
                .bind(&writes.attempts)
                .bind(&writes.due_ats)
                .bind(&writes.envelopes)
                .bind(&writes.settled_ats)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
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
        let mut tx = self.begin().await?;
        let envelope = match claim_key(&mut tx, &envelope, &event_text, now, fresh_after)
            .await?
            .settle(envelope, now)
        {
            Ok(envelope) => envelope,
            Err(answer) => return answer,
        };
        let dispatched = envelope.dispatch_at(now);
        let result = effect(&mut tx, &dispatched).await;
        let admission = settle_effect(dispatched, result, now);
        if let Admission::Processed(..) = admission {
            tx.commit().await?;
        }
        Ok(admission)
    }

    /// Quarantines the row with this key, in a transaction of its own, if it
    /// still does not read back; returns why, if it was quarantined.
    async fn quarantine_if_unreadable<P: DeserializeOwned>(
        &self,
        source_system: &str,
        event_id: &str,
    ) -> Result<Option<StoreError>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = select_rows(
            &mut tx,
            sqlx::query(sql::LOCK_ROW)
                .bind(source_system)
                .bind(event_id),
        )
        .await?;
        let mut quarantined = None;
        for (_, raw) in rows {
            if raw.status.as_deref() != Ok(QUARANTINED)
                && let Err(error) = raw.read::<P>()
            {
                quarantine(&mut tx, source_system, event_id, &error).await?;
                quarantined = Some(error);
            }
        }
        tx.commit().await?;
        Ok(quarantined)
    }
}

/// A query with its parameters bound.
type Query<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

impl AsyncDeliveryStore for AsyncPostgresStore {
    type Tx = Transaction<'static, Postgres>;

    fn options(&self) -> StoreOptions {
        self.options
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Reads the server's clock (`iap_clock()`, the schema's own function
    /// over `clock_timestamp()`) between two readings of this machine's.
    async fn sync_clock(&self) -> Result<TimeDelta, StoreError> {
        let mut connection = self.pool.acquire().await?;
        let before = Utc::now();
        let server: i64 = sqlx::query_scalar(sql::SERVER_CLOCK)
            .fetch_one(&mut *connection)
            .await?;
        let after = Utc::now();
        let server =
            DateTime::from_timestamp_micros(server).ok_or_else(|| StoreError::UnknownSchema {
                reason: format!("iap_clock() reads {server} microseconds, no time"),
            })?;
        Ok(self.clock.measured(before, server, after))
    }

    shared_async_operations!();

    /// Listens on the store's channel from a connection of the pool, which
    /// it keeps while the subscription lives.
    async fn wakeups(&self) -> Result<Wakeups, StoreError> {
        if self.options.wakeups == WakeupMode::Poll {
            return Ok(Wakeups::polling());
        }
        let channel: String = sqlx::query(sql::NOTIFY_CHANNEL)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(&channel).await?;
        Ok(Wakeups::listener(listener))
    }

    async fn begin(&self) -> Result<Self::Tx, StoreError> {
        Ok(self.pool.begin().await?)
    }

    async fn claim_due<P: Serialize + DeserializeOwned + Send + Sync>(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Claimed<P>, StoreError> {
        let lease_until = add(now, self.options.lease);
        let rows = sqlx::query(sql::CLAIM_DUE)
            .bind(micros(now))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(micros(lease_until))
            .bind(self.options.dead_letter_keys.holds())
            .fetch_all(&self.pool)
            .await?;
        let one_statement = OneStatementClaim::of(
            rows.iter().map(claim_due_row).collect::<Result<_, _>>()?,
            now,
            lease_until,
        );
        let mut claimed = Claimed {
            claims: one_statement.claims,
            dead_lettered: 0,
            quarantined: Vec::new(),
        };
        if one_statement.needs_transaction {
            let rest = limit.saturating_sub(claimed.claims.len());
            self.claim_in_transaction(now, limit, rest, one_statement.unreadable, &mut claimed)
                .await?;
        }
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
            sqlx::query("SAVEPOINT iap_admit").execute(&mut *tx).await?;
            // A database error ends the whole batch; a settled key, this envelope.
            let envelope = match claim_key(&mut tx, &envelope, &event_text, now, fresh_after)
                .await?
                .settle(envelope, now)
            {
                Ok(envelope) => envelope,
                Err(answer) => {
                    sqlx::query("RELEASE iap_admit").execute(&mut *tx).await?;
                    results.push(answer);
                    continue;
                }
            };
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
        let (_, raw) = {
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
                .quarantine_if_unreadable::<P>(source_system, event_id)
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
                        let (seq, raw) = raw_row(row)?;
                        Ok(((row.try_get(ROW_COLUMNS)?, seq), raw))
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?
            };
            match sort_dead_letters(rows, &mut letters, &mut unreadable, |_, raw| {
                (raw.source.clone(), raw.event_id.clone())
            }) {
                Some(last) => after = last,
                None => break,
            }
        }
        let mut quarantined = Vec::new();
        for (source, event_id) in unreadable {
            quarantined.extend(
                self.quarantine_if_unreadable::<P>(&source, &event_id)
                    .await?,
            );
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
        let rows = select_rows(&mut tx, sqlx::query(sql::LOCK_DEAD_LETTERS)).await?;
        let mut redriven = Redriven::default();
        for (_, raw) in rows {
            let (source, event_id) = (raw.source.clone(), raw.event_id.clone());
            match raw
                .read::<P>()
                .and_then(|checked| typed::<Failed, P>(checked.envelope))
            {
                Ok(failed) => {
                    write_row(&mut tx, &failed.redrive_at(reason, now), Some(now)).await?;
                    redriven.redriven += 1;
                }
                Err(error) => {
                    quarantine(&mut tx, &source, &event_id, &error).await?;
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
                    source_system: row.try_get(0)?,
                    event_id: row.try_get(1)?,
                    reason: row.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                    content: row.try_get::<String, _>(3)?.into_bytes(),
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
        let (_, raw) = select_rows(
            &mut tx,
            sqlx::query(sql::LOCK_ROW)
                .bind(source_system)
                .bind(event_id),
        )
        .await?
        .pop()
        .filter(|(_, raw)| raw.status.as_deref() == Ok(QUARANTINED))
        .ok_or_else(|| not_quarantined(source_system, event_id))?;
        let envelope = match raw.read_set_aside::<P>() {
            Ok(envelope) => envelope,
            Err(error) => {
                quarantine(&mut tx, source_system, event_id, &error).await?;
                tx.commit().await?;
                return Err(error);
            }
        };
        sqlx::query(sql::RELEASE_QUARANTINED)
            .bind(source_system)
            .bind(event_id)
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
            let (status, count): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
            counts.add_outbox_rows(&status, count);
        }
        let keys: i64 = sqlx::query(sql::COUNT_INBOX)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        counts.inbox_keys = u64::try_from(keys).unwrap_or_default();
        Ok(counts)
    }
}

/// The outbox rows a query selects (its columns are `row_columns!`), unchecked;
/// the schema types every column, so each reads as what it should hold.
async fn select_rows(
    connection: &mut PgConnection,
    query: Query<'_>,
) -> Result<Vec<(i64, RawRow)>, StoreError> {
    let rows = query.fetch_all(connection).await?;
    rows.iter().map(raw_row).collect()
}

fn raw_row(row: &PgRow) -> Result<(i64, RawRow), StoreError> {
    let raw = RawRow {
        source: row.try_get(1)?,
        event_id: row.try_get(2)?,
        status: Ok(row.try_get(3)?),
        attempts: Ok(row.try_get(4)?),
        due_at: Ok(row.try_get(5)?),
        renewed_at: row.try_get(6)?,
        envelope: Ok(row.try_get(7)?),
        problem: row.try_get(8)?,
        claimed_at: row.try_get(9)?,
        ordering_key: Ok(row.try_get(10)?),
        held_back: Ok(row.try_get(11)?),
    };
    Ok((row.try_get(0)?, raw))
}

/// Reads a row of `CLAIM_DUE`, as the blocking store does.
fn claim_due_row(row: &PgRow) -> Result<ClaimDueRow, StoreError> {
    let claimed = match row.try_get::<Option<i64>, _>(0)? {
        None => None,
        Some(_) => Some(raw_row(row)?.1),
    };
    Ok(ClaimDueRow {
        claimed,
        leftovers: row.try_get(ROW_COLUMNS)?,
    })
}

/// Takes the inbox key for `envelope` in the transaction, as the blocking
/// store does: `New` if the effect should run (a new key, or one past the
/// retention window, renewed here), else what the fresh key says.
async fn claim_key<P: Serialize>(
    connection: &mut PgConnection,
    envelope: &Envelope<Pending, P>,
    event_text: &str,
    now: DateTime<Utc>,
    fresh_after: i64,
) -> Result<InboxKey, StoreError> {
    let inserted = sqlx::query(sql::INSERT_KEY)
        .bind(envelope.source_system())
        .bind(envelope.event_id())
        .bind(event_text)
        .bind(micros(now))
        .execute(&mut *connection)
        .await?
        .rows_affected();
    if inserted == 1 {
        return Ok(InboxKey::New);
    }
    let row = sqlx::query(sql::LOCK_KEY)
        .bind(envelope.source_system())
        .bind(envelope.event_id())
        .fetch_optional(&mut *connection)
        .await?
        .ok_or_else(|| not_found(envelope.source_system(), envelope.event_id()))?;
    let (stored, received_at): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
    if received_at < fresh_after {
        sqlx::query(sql::RENEW_KEY)
            .bind(envelope.source_system())
            .bind(envelope.event_id())
            .bind(event_text)
            .bind(micros(now))
            .execute(&mut *connection)
            .await?;
        return Ok(InboxKey::New);
    }
    Ok(InboxKey::of(&stored, event_text, envelope))
}

/// Gives back a claim that was never sent: its row as it was before the
/// claim, if the claim is still held; the number of rows given back.
async fn release_claim<P>(
    connection: &mut PgConnection,
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
        .bind(claim.prior.claimed_at)
        .execute(connection)
        .await?
        .rows_affected())
}

/// Writes an envelope's state over its row.
async fn write_row<S: State, P: Serialize>(
    connection: &mut PgConnection,
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
    connection: &mut PgConnection,
    source_system: &str,
    event_id: &str,
    error: &StoreError,
) -> Result<(), StoreError> {
    sqlx::query(sql::QUARANTINE)
        .bind(source_system)
        .bind(event_id)
        .bind(QUARANTINED)
        .bind(problem(error))
        .execute(connection)
        .await?;
    Ok(())
}
