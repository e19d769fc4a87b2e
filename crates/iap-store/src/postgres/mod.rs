//! The store on a PostgreSQL server: the same operations as the SQLite store,
//! for many relay workers and consumers on many machines.
//!
//! Claims take due rows with `FOR UPDATE SKIP LOCKED`, so workers never wait
//! for each other and never hold the same envelope; a worker that dies loses
//! its claims when their lease runs out. A claim is one statement that
//! records the claim in the row (`claimed_at`) and leaves the envelope as it
//! was: reading the row dispatches the envelope at that time, and the
//! envelope is written once, with its outcome. An inbox admission inserts its key
//! with `ON CONFLICT DO NOTHING` in the effect's transaction, so concurrent
//! duplicates apply the effect once. Every operation is one transaction and
//! returns only once PostgreSQL has committed it.
//!
//! Inside a tokio service, prefer `AsyncPostgresStore` (feature
//! `async-postgres`). The blocking store still works there on a
//! multi-threaded runtime (each call runs in `block_in_place`, so the
//! `postgres` client's own runtime can start, and a store dropped inside a
//! runtime drops its connection on a helper thread); on a current-thread
//! runtime, which nothing may block, each call is refused with
//! [`StoreError::InsideAsyncRuntime`].
//!
//! The schema is created and migrated by an explicit call,
//! [`PostgresStore::migrate`], which is versioned and safe to run twice (or
//! from two processes at once). A store made with [`PostgresStore::connect`]
//! reconnects by itself after the server restarts: the operations that meet
//! the broken connection fail and change nothing, and once the client knows
//! the connection is closed, the next one runs on a new connection.
//!
//! ```no_run
//! use iap_store::DeliveryStore;
//! use iap_store::postgres::PostgresStore;
//!
//! let mut store = PostgresStore::connect("host=localhost user=app dbname=orders", Default::default())?;
//! store.migrate()?;
//! println!("{:?}", store.counts()?);
//! # Ok::<(), iap_store::StoreError>(())
//! ```

use std::borrow::BorrowMut;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use postgres::{Client, Config, NoTls, Statement, ToStatement, Transaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[cfg(feature = "async-postgres")]
mod asynchronous;
mod claim;
mod sql;
mod writes;

#[cfg(feature = "async-postgres")]
pub use asynchronous::AsyncPostgresStore;
/// The blocking PostgreSQL driver the store is built on: the exact version
/// this crate uses.
pub use postgres;
/// The async PostgreSQL driver whose transactions `enqueue_with_tokio_postgres`
/// takes: the exact version this crate uses.
#[cfg(feature = "async-postgres")]
pub use tokio_postgres;

use claim::{ClaimDueRow, OneStatementClaim, Unreadable};
use writes::{RecordColumns, RowWrites};

use super::batch_record::BatchRecord;
use super::rows::{
    BEFORE_FIRST_DEAD_LETTER, FailedOrder, InboxKey, QUARANTINED, RawRow, add, claim_lost, encode,
    encode_any, inbox_text, micros, not_found, not_quarantined, outcome_due_at, problem, recorded,
    release_due_at, run_effect, settled_at, sort_dead_letters, subtract, typed, waited_since,
};
use super::{
    Admission, AdmissionResult, Claim, Claimed, DeadLetterFilter, DeadLetters, DeliveryStore,
    HeldKey, Outcome, QuarantinedRow, Recorded, RedriveBatch, Redriven, StatusCounts, StoreError,
    StoreOptions,
};
use super::{PURGE_BATCH, migrations_from, purge_done};
use crate::observe::admission_span;
use integration_automation_patterns::envelope::state::{
    Dispatched, Failed, Pending, Skipped, State,
};
use integration_automation_patterns::{AnyEnvelope, Envelope};

/// The newest store schema this crate writes and reads.
pub const SCHEMA_VERSION: i64 = 7;

/// A lock number that serializes concurrent migrations.
const MIGRATION_LOCK: i64 = 0x1a9_0717;

/// Inbox, outbox and dead letters in a PostgreSQL database.
///
/// `C` is how the store holds its connection: its own `Client` (the default,
/// from [`connect`](PostgresStore::connect) or
/// [`from_client`](PostgresStore::from_client)), or a `&mut Client` borrowed
/// from the caller, such as a connection checked out of a pool
/// ([`with_client`](PostgresStore::with_client)).
pub struct PostgresStore<C: BorrowMut<Client> + Send = Client> {
    /// Always there but while the store is dropped or gives its connection back.
    client: Option<C>,
    /// Where to reconnect after the connection breaks, for stores that made it.
    config: Option<Config>,
    options: StoreOptions,
    /// The hot path's statements, prepared once per connection (each is
    /// closed on the server when it is dropped).
    statements: HashMap<&'static str, Statement>,
}

impl<C: BorrowMut<Client> + Send> std::fmt::Debug for PostgresStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field(
                "closed",
                &self
                    .client
                    .as_ref()
                    .map(|client| client.borrow().is_closed()),
            )
            .field("reconnects", &self.config.is_some())
            .field("options", &self.options)
            .finish()
    }
}

impl PostgresStore {
    /// Connects with a connection string (`host=... user=... dbname=...` or a
    /// `postgres://` URL). The store reconnects by itself after the
    /// connection breaks.
    pub fn connect(connection_string: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let config: Config = connection_string
            .parse()
            .map_err(|error: postgres::Error| StoreError::Connect {
                reason: format!("the connection string does not parse: {error}"),
            })?;
        let client = off_runtime(|| open(&config))?;
        Ok(PostgresStore {
            client: Some(client),
            config: Some(config),
            options,
            statements: HashMap::new(),
        })
    }

    /// Connects as [`connect`](Self::connect) does, to a store that exists at
    /// this crate's schema version, creating and migrating nothing: for
    /// tools that must not add the store's tables to a database that was
    /// named by mistake, nor change a store they only meant to read. The
    /// schema is looked at in a read-only transaction.
    ///
    /// - No schema of the connection's `search_path` exists, or it has none
    ///   of the store's tables: [`StoreError::NoStore`], naming the database
    ///   and schema.
    /// - A store of an older schema version: [`StoreError::SchemaTooOld`]
    ///   ([`migrate`](Self::migrate) migrates it); of a newer one:
    ///   [`StoreError::SchemaTooNew`]; tables without a version:
    ///   [`StoreError::UnknownSchema`].
    pub fn connect_existing(
        connection_string: &str,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let mut store = PostgresStore::connect(connection_string, options)?;
        store.check_schema()?;
        Ok(store)
    }

    /// A store on a connection the caller made. It does not reconnect by
    /// itself; [`into_client`](Self::into_client) gives the connection back.
    pub fn from_client(client: Client, options: StoreOptions) -> Self {
        PostgresStore {
            client: Some(client),
            config: None,
            options,
            statements: HashMap::new(),
        }
    }

    /// The connection, for the caller's own use.
    pub fn into_client(mut self) -> Result<Client, StoreError> {
        self.client.take().ok_or_else(no_connection)
    }

    /// [`DeliveryStore::enqueue`], callable as `PostgresStore::enqueue` for a
    /// store of any kind of connection.
    pub fn enqueue<P: Serialize>(
        tx: &mut Transaction<'_>,
        envelope: &Envelope<Pending, P>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        <PostgresStore as DeliveryStore>::enqueue(tx, envelope, now)
    }
}

impl<'c> PostgresStore<&'c mut Client> {
    /// A store on a connection the caller lends, for as long as the loan
    /// lasts: a connection checked out of a pool, say
    /// (`PostgresStore::with_client(&mut pooled, options)`). It does not
    /// reconnect by itself.
    pub fn with_client(client: &'c mut Client, options: StoreOptions) -> Self {
        PostgresStore {
            client: Some(client),
            config: None,
            options,
            statements: HashMap::new(),
        }
    }
}

impl<C: BorrowMut<Client> + Send> PostgresStore<C> {
    /// Creates the store's tables, migrates them from an older version of
    /// this crate, or checks that they are at its schema version. Versioned
    /// and safe to run twice, or from several processes at once; a newer or
    /// unknown schema is refused, never guessed.
    pub fn migrate(&mut self) -> Result<(), StoreError> {
        off_runtime(|| {
            let mut tx = self.client()?.transaction()?;
            tx.execute(sql::TAKE_MIGRATION_LOCK, &[&MIGRATION_LOCK])?;
            match schema_version(&mut tx)? {
                None => {
                    let exists = tx.query_one(sql::HAS_TABLES, &[])?.try_get::<_, bool>(0)?;
                    if exists {
                        return Err(StoreError::UnknownSchema {
                            reason: "store tables exist without a schema version".into(),
                        });
                    }
                    tx.batch_execute(sql::SCHEMA)?;
                    tx.execute(sql::INSERT_VERSION, &[&SCHEMA_VERSION])?;
                }
                Some(found) if (1..SCHEMA_VERSION).contains(&found) => {
                    for migration in migrations_from(&sql::MIGRATIONS, found) {
                        tx.batch_execute(migration)?;
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
        })
    }

    /// Checks, changing nothing, that the connection's schema holds a store
    /// at this crate's schema version.
    fn check_schema(&mut self) -> Result<(), StoreError> {
        off_runtime(|| {
            let mut tx = self.client()?.build_transaction().read_only(true).start()?;
            let names = tx.query_one(sql::DATABASE_AND_SCHEMA, &[])?;
            let database: String = names.try_get(0)?;
            let Some(schema) = names.try_get::<_, Option<String>>(1)? else {
                return Err(StoreError::NoStore {
                    location: format!("PostgreSQL database {database:?}"),
                    reason: "no schema of the connection's search path exists".into(),
                });
            };
            let found = schema_version(&mut tx)?;
            let has_tables = tx.query_one(sql::HAS_TABLES, &[])?.try_get::<_, bool>(0)?;
            tx.commit()?;
            match found {
                None if has_tables => Err(StoreError::UnknownSchema {
                    reason: "store tables exist without a schema version".into(),
                }),
                None => Err(StoreError::NoStore {
                    location: format!("PostgreSQL database {database:?}, schema {schema:?}"),
                    reason: "it has no iap store tables".into(),
                }),
                Some(SCHEMA_VERSION) => Ok(()),
                Some(found) if found > SCHEMA_VERSION => Err(StoreError::SchemaTooNew {
                    found,
                    supported: SCHEMA_VERSION,
                }),
                Some(found) if found >= 1 => Err(StoreError::SchemaTooOld {
                    found,
                    current: SCHEMA_VERSION,
                }),
                Some(found) => Err(StoreError::UnknownSchema {
                    reason: format!("schema version {found} was never written by this crate"),
                }),
            }
        })
    }

    /// The schema version in the database; `None` before [`migrate`](Self::migrate).
    pub fn schema_version(&mut self) -> Result<Option<i64>, StoreError> {
        off_runtime(|| {
            let mut tx = self.client()?.transaction()?;
            let version = schema_version(&mut tx)?;
            tx.commit()?;
            Ok(version)
        })
    }

    /// The server's time now (the schema's `iap_clock()`): the time to pass
    /// to the methods that take one (`claim_due`, `run_once`, `record`...)
    /// when workers on several machines share the store, so that leases,
    /// due times and per-key order are written on one clock, whatever each
    /// machine's own says.
    pub fn server_time(&mut self) -> Result<DateTime<Utc>, StoreError> {
        off_runtime(|| {
            let micros: i64 = self
                .client()?
                .query_one(sql::SERVER_CLOCK, &[])?
                .try_get(0)?;
            DateTime::from_timestamp_micros(micros).ok_or_else(|| StoreError::UnknownSchema {
                reason: format!("iap_clock() reads {micros} microseconds, no time"),
            })
        })
    }

    /// The connection, made again first if it broke and the store knows where
    /// to reconnect.
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        let client = self.client.as_mut().ok_or_else(no_connection)?.borrow_mut();
        if client.is_closed()
            && let Some(config) = &self.config
        {
            *client = open(config)?;
            // Prepared on the connection that broke.
            self.statements.clear();
        }
        Ok(client)
    }

    /// `sql` prepared on the store's connection, once.
    fn statement(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        // Reconnects (and forgets the old statements) first, if need be.
        self.client()?;
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client()?.prepare(sql)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    fn begin(&mut self) -> Result<Transaction<'_>, StoreError> {
        Ok(self.client()?.transaction()?)
    }

    /// Quarantines the row with this key, in a transaction of its own, if it
    /// still does not read back; returns why, if it was quarantined.
    /// Rewrites a dead letter as `step` makes it, due at `due_at`, in one
    /// transaction; a row that does not read back is quarantined instead.
    fn rewrite_dead_letter<S: State, P: Serialize + DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
        due_at: Option<DateTime<Utc>>,
        step: impl FnOnce(Envelope<Failed, P>) -> Envelope<S, P>,
    ) -> Result<Envelope<S, P>, StoreError> {
        off_runtime(|| {
            let mut tx = self.begin()?;
            let raw = select_key(&mut tx, source_system, event_id, true)?
                .ok_or_else(|| not_found(source_system, event_id))?;
            let checked = match raw.read::<P>() {
                Ok(checked) => checked,
                Err(error) => {
                    quarantine(&mut tx, source_system, event_id, &error)?;
                    tx.commit()?;
                    return Err(error);
                }
            };
            let rewritten = step(typed(checked.envelope)?);
            write_row(&mut tx, &rewritten, due_at)?;
            tx.commit()?;
            Ok(rewritten)
        })
    }

    /// The claim's transaction, for what one statement cannot claim: it
    /// quarantines the `unreadable` rows the statement claimed and up to
    /// `strays` rows no claim would reach, then claims up to `due` due rows
    /// of any state (a lease run out counts as a failed attempt), adding to
    /// `claimed`.
    fn claim_in_transaction<P: Serialize + DeserializeOwned>(
        &mut self,
        now: DateTime<Utc>,
        strays: usize,
        due: usize,
        unreadable: Vec<Unreadable>,
        claimed: &mut Claimed<P>,
    ) -> Result<(), StoreError> {
        let lease_until = add(now, self.options.lease);
        let (select_strays, select_due, write_rows) = (
            self.statement(sql::SELECT_STRAYS)?,
            self.statement(sql::SELECT_DUE)?,
            self.statement(sql::WRITE_ROWS)?,
        );
        let holds = self.options.dead_letter_keys.holds();
        let mut tx = self.begin()?;
        for (source, event_id, error) in unreadable {
            quarantine(&mut tx, &source, &event_id, &error)?;
            claimed.quarantined.push(error);
        }
        let strays = i64::try_from(strays).unwrap_or(i64::MAX);
        for (_, raw) in select_rows(&mut tx, &select_strays, &[&strays])? {
            let (source, event_id) = (raw.source.clone(), raw.event_id.clone());
            let error = raw.stray_error::<P>();
            quarantine(&mut tx, &source, &event_id, &error)?;
            claimed.quarantined.push(error);
        }
        let due = i64::try_from(due).unwrap_or(i64::MAX);
        let due = tx
            .query(&select_due, &[&micros(now), &due, &holds])?
            .iter()
            .map(|row| Ok((raw_row(row)?.1, row.try_get(ROW_COLUMNS)?)))
            .collect::<Result<_, StoreError>>()?;
        let (writes, unreadable) = RowWrites::of_due(due, now, lease_until, claimed)?;
        for (source, event_id, error) in unreadable {
            quarantine(&mut tx, &source, &event_id, &error)?;
            claimed.quarantined.push(error);
        }
        if !writes.is_empty() {
            tx.execute(
                &write_rows,
                &[
                    &writes.sources,
                    &writes.event_ids,
                    &writes.statuses,
                    &writes.attempts,
                    &writes.due_ats,
                    &writes.envelopes,
                    &writes.settled_ats,
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn quarantine_if_unreadable<P: DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
    ) -> Result<Option<StoreError>, StoreError> {
        let mut tx = self.begin()?;
        let mut quarantined = None;
        if let Some(raw) = select_key(&mut tx, source_system, event_id, true)?
            && raw.status.as_deref() != Ok(QUARANTINED)
            && let Err(error) = raw.read::<P>()
        {
            quarantine(&mut tx, source_system, event_id, &error)?;
            quarantined = Some(error);
        }
        tx.commit()?;
        Ok(quarantined)
    }
}

/// Runs a blocking operation of the `postgres` client where it may block.
/// Outside tokio it runs as it is; on a multi-threaded runtime's worker it
/// runs in `block_in_place`, so that the client's own runtime can start; on
/// a current-thread runtime, which nothing may block, it is refused with
/// [`StoreError::InsideAsyncRuntime`].
fn off_runtime<T, E: From<StoreError>>(operation: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    match tokio::runtime::Handle::try_current() {
        Err(_) => operation(),
        Ok(handle) => match handle.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(operation),
            _ => Err(E::from(StoreError::InsideAsyncRuntime)),
        },
    }
}

/// The error for a store whose connection was given back.
fn no_connection() -> StoreError {
    StoreError::Connect {
        reason: "the store gave its connection back".into(),
    }
}

impl<C: BorrowMut<Client> + Send> Drop for PostgresStore<C> {
    /// The `postgres` client owns a runtime of its own, which must not be
    /// dropped where tokio is running: inside a runtime, the connection is
    /// dropped on a helper thread.
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            std::thread::scope(|scope| {
                scope.spawn(move || drop(client));
            });
        }
    }
}

fn open(config: &Config) -> Result<Client, StoreError> {
    config.connect(NoTls).map_err(|error| StoreError::Connect {
        reason: format!(
            "cannot connect to {:?} as {:?}: {error}",
            config.get_hosts(),
            config.get_user().unwrap_or("the default user")
        ),
    })
}

fn schema_version(tx: &mut Transaction<'_>) -> Result<Option<i64>, StoreError> {
    let has_meta = tx.query_one(sql::HAS_META, &[])?.try_get::<_, bool>(0)?;
    if !has_meta {
        return Ok(None);
    }
    let row = tx.query_opt(sql::SELECT_VERSION, &[])?;
    match row {
        Some(row) => Ok(Some(row.try_get(0)?)),
        None => Err(StoreError::UnknownSchema {
            reason: "the schema version is missing".into(),
        }),
    }
}

impl<C: BorrowMut<Client> + Send> DeliveryStore for PostgresStore<C> {
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
        off_runtime(|| {
            let mut tx = self.begin().map_err(E::from)?;
            let value = work(&mut tx)?;
            tx.commit().map_err(|error| E::from(error.into()))?;
            Ok(value)
        })
    }

    fn enqueue<P: Serialize>(
        tx: &mut Transaction<'_>,
        envelope: &Envelope<Pending, P>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let inserted = tx.execute(
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
        off_runtime(|| {
            let lease_until = add(now, self.options.lease);
            let claim_due = self.statement(sql::CLAIM_DUE)?;
            let holds = self.options.dead_letter_keys.holds();
            let rows = self.client()?.query(
                &claim_due,
                &[
                    &micros(now),
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                    &micros(lease_until),
                    &holds,
                ],
            )?;
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
                self.claim_in_transaction(
                    now,
                    limit,
                    rest,
                    one_statement.unreadable,
                    &mut claimed,
                )?;
            }
            Ok(claimed)
        })
    }

    fn record_not_before<P: Serialize>(
        &mut self,
        outcome: AnyEnvelope<P>,
        retry_after: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        off_runtime(|| {
            let due_at = outcome_due_at(&outcome, retry_after)?.map(micros);
            let record = self.statement(sql::RECORD)?;
            // One statement, so one implicit transaction: no begin and commit
            // to send on top of it.
            let updated = self.client()?.execute(
                &record,
                &[
                    &outcome.source_system(),
                    &outcome.event_id(),
                    &outcome.status().as_str(),
                    &due_at,
                    &encode_any(&outcome)?,
                    &i64::from(outcome.attempt_count()),
                    &settled_at(outcome.status(), outcome.last_transition()),
                ],
            )?;
            recorded(updated, &outcome)
        })
    }

    fn record_batch<P: Serialize>(
        &mut self,
        outcomes: &[Outcome<P>],
    ) -> Result<Vec<Recorded>, StoreError> {
        off_runtime(|| {
            let batch = BatchRecord::new(outcomes);
            let mut written = HashSet::new();
            if !batch.rows().is_empty() {
                let columns = RecordColumns::of(batch.rows());
                let record_rows = self.statement(sql::RECORD_ROWS)?;
                let rows = self.client()?.query(
                    &record_rows,
                    &[
                        &columns.sources,
                        &columns.event_ids,
                        &columns.statuses,
                        &columns.due_ats,
                        &columns.envelopes,
                        &columns.attempts,
                        &columns.settled_ats,
                    ],
                )?;
                for row in rows {
                    written.insert((row.try_get(0)?, row.try_get(1)?));
                }
            }
            Ok(batch.results(&written))
        })
    }

    fn extend_lease<P>(
        &mut self,
        claim: &mut Claim<P>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        off_runtime(|| {
            let lease_until = add(now, self.options.lease);
            let envelope = &claim.envelope;
            let mut tx = self.begin()?;
            let updated = tx.execute(
                sql::EXTEND_LEASE,
                &[
                    &envelope.source_system(),
                    &envelope.event_id(),
                    &micros(lease_until),
                    &micros(now),
                    &i64::from(envelope.attempt_count()),
                ],
            )?;
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
        })
    }

    fn release_unsent<P>(&mut self, claims: &[Claim<P>]) -> Result<usize, StoreError> {
        off_runtime(|| {
            let mut tx = self.begin()?;
            let mut released = 0;
            for Claim {
                envelope, prior, ..
            } in claims
            {
                released += tx.execute(
                    sql::RELEASE_CLAIM,
                    &[
                        &envelope.source_system(),
                        &envelope.event_id(),
                        &prior.status,
                        &prior.attempts,
                        &prior.due_at,
                        &prior.renewed_at,
                        &prior.envelope,
                        &i64::from(envelope.attempt_count()),
                        &prior.claimed_at,
                    ],
                )?;
            }
            tx.commit()?;
            Ok(usize::try_from(released).unwrap_or(usize::MAX))
        })
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
        off_runtime(|| {
            let event_text = inbox_text(&envelope)?;
            let fresh_after = micros(subtract(now, self.options.inbox_retention));
            let mut tx = self.begin()?;
            let envelope = match claim_key(&mut tx, &envelope, &event_text, now, fresh_after)?
                .settle(envelope, now)
            {
                Ok(envelope) => envelope,
                Err(answer) => return answer,
            };
            let admission = run_effect(envelope, now, |event| effect(&mut tx, event));
            if let Admission::Processed(..) = admission {
                tx.commit()?;
            }
            Ok(admission)
        })
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
        off_runtime(|| {
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
                let mut savepoint = tx.savepoint("iap_admit")?;
                // A database error ends the whole batch; a settled key, this envelope.
                let key = claim_key(&mut savepoint, &envelope, &event_text, now, fresh_after)?;
                let envelope = match key.settle(envelope, now) {
                    Ok(envelope) => envelope,
                    Err(answer) => {
                        results.push(answer);
                        continue;
                    }
                };
                let admission = run_effect(envelope, now, |event| effect(&mut savepoint, event));
                if let Admission::Processed(..) = admission {
                    savepoint.commit()?;
                }
                results.push(Ok(admission));
            }
            tx.commit()?;
            Ok(results)
        })
    }

    fn purge_inbox(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        off_runtime(|| {
            let cutoff = micros(subtract(now, self.options.inbox_retention));
            let purged = self.client()?.execute(sql::PURGE_INBOX, &[&cutoff])?;
            Ok(usize::try_from(purged).unwrap_or(usize::MAX))
        })
    }

    fn purge_delivered(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        off_runtime(|| {
            let cutoff = micros(subtract(now, self.options.delivered_retention));
            let purge = self.statement(sql::PURGE_SETTLED)?;
            let mut purged = 0;
            loop {
                let deleted = self
                    .client()?
                    .execute(&purge, &[&cutoff, &i64::from(PURGE_BATCH)])?;
                purged += usize::try_from(deleted).unwrap_or(usize::MAX);
                if purge_done(deleted) {
                    return Ok(purged);
                }
            }
        })
    }

    fn load_any<P: DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
    ) -> Result<AnyEnvelope<P>, StoreError> {
        off_runtime(|| {
            let mut tx = self.begin()?;
            let raw = select_key(&mut tx, source_system, event_id, false)?
                .ok_or_else(|| not_found(source_system, event_id))?;
            tx.commit()?;
            match raw.read::<P>() {
                Ok(checked) => Ok(checked.envelope),
                Err(error) => Err(self
                    .quarantine_if_unreadable::<P>(source_system, event_id)?
                    .unwrap_or(error)),
            }
        })
    }

    fn dead_letters_matching<P: DeserializeOwned>(
        &mut self,
        filter: &DeadLetterFilter,
        limit: usize,
    ) -> Result<DeadLetters<P>, StoreError> {
        off_runtime(|| {
            let mut letters = Vec::new();
            let mut unreadable = Vec::new();
            let mut after = BEFORE_FIRST_DEAD_LETTER;
            while letters.len() < limit {
                let wanted = limit - letters.len();
                let mut tx = self.begin()?;
                let rows = select_dead_letters(
                    &mut tx,
                    sql::SELECT_DEAD_LETTERS_PAGE,
                    filter,
                    after,
                    wanted,
                )?;
                tx.commit()?;
                match sort_dead_letters(rows, &mut letters, &mut unreadable, |_, raw| {
                    (raw.source.clone(), raw.event_id.clone())
                }) {
                    Some(last) => after = last,
                    None => break,
                }
            }
            let mut quarantined = Vec::new();
            for (source, event_id) in unreadable {
                quarantined.extend(self.quarantine_if_unreadable::<P>(&source, &event_id)?);
            }
            Ok(DeadLetters {
                letters,
                quarantined,
            })
        })
    }

    fn count_dead_letters(&mut self, filter: &DeadLetterFilter) -> Result<u64, StoreError> {
        off_runtime(|| {
            let count: i64 = self
                .client()?
                .query_one(
                    sql::COUNT_DEAD_LETTERS,
                    &[
                        &filter.source_system,
                        &filter.event_type,
                        &filter.failed_by.map(micros),
                    ],
                )?
                .try_get(0)?;
            Ok(u64::try_from(count).unwrap_or_default())
        })
    }

    fn redrive_matching<P: Serialize + DeserializeOwned>(
        &mut self,
        filter: &DeadLetterFilter,
        limit: usize,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<RedriveBatch<P>, StoreError> {
        off_runtime(|| {
            let mut tx = self.begin()?;
            let rows = select_dead_letters(
                &mut tx,
                sql::LOCK_DEAD_LETTERS_PAGE,
                filter,
                BEFORE_FIRST_DEAD_LETTER,
                limit,
            )?;
            let mut batch = RedriveBatch {
                redriven: Vec::with_capacity(rows.len()),
                quarantined: Vec::new(),
            };
            for (_, raw) in rows {
                let (source, event_id) = (raw.source.clone(), raw.event_id.clone());
                match raw
                    .read::<P>()
                    .and_then(|checked| typed::<Failed, P>(checked.envelope))
                {
                    Ok(failed) => {
                        let pending = failed.redrive_at(reason, now);
                        write_row(&mut tx, &pending, Some(now))?;
                        batch.redriven.push(pending);
                    }
                    Err(error) => {
                        quarantine(&mut tx, &source, &event_id, &error)?;
                        batch.quarantined.push(error);
                    }
                }
            }
            tx.commit()?;
            Ok(batch)
        })
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
        off_runtime(|| {
            let rows = self
                .client()?
                .query(sql::HELD_KEYS, &[&i64::try_from(limit).unwrap_or(i64::MAX)])?;
            rows.iter()
                .map(|row| {
                    Ok(HeldKey::from_columns(
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                        row.try_get(4)?,
                    ))
                })
                .collect()
        })
    }

    fn redrive_all<P: Serialize + DeserializeOwned>(
        &mut self,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Redriven, StoreError> {
        off_runtime(|| {
            let mut tx = self.begin()?;
            let rows = select_rows(&mut tx, sql::LOCK_DEAD_LETTERS, &[])?;
            let mut redriven = Redriven::default();
            for (_, raw) in rows {
                let (source, event_id) = (raw.source.clone(), raw.event_id.clone());
                match raw
                    .read::<P>()
                    .and_then(|checked| typed::<Failed, P>(checked.envelope))
                {
                    Ok(failed) => {
                        write_row(&mut tx, &failed.redrive_at(reason, now), Some(now))?;
                        redriven.redriven += 1;
                    }
                    Err(error) => {
                        quarantine(&mut tx, &source, &event_id, &error)?;
                        redriven.quarantined.push(error);
                    }
                }
            }
            tx.commit()?;
            Ok(redriven)
        })
    }

    fn quarantined(&mut self, limit: usize) -> Result<Vec<QuarantinedRow>, StoreError> {
        off_runtime(|| {
            let rows = self.client()?.query(
                sql::SELECT_QUARANTINED,
                &[&i64::try_from(limit).unwrap_or(i64::MAX)],
            )?;
            rows.iter()
                .map(|row| {
                    Ok(QuarantinedRow {
                        source_system: row.try_get(0)?,
                        event_id: row.try_get(1)?,
                        reason: row.try_get::<_, Option<String>>(2)?.unwrap_or_default(),
                        content: row.try_get::<_, String>(3)?.into_bytes(),
                    })
                })
                .collect()
        })
    }

    fn release_quarantined<P: DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<AnyEnvelope<P>, StoreError> {
        off_runtime(|| {
            let mut tx = self.begin()?;
            let raw = select_key(&mut tx, source_system, event_id, true)?
                .filter(|raw| raw.status.as_deref() == Ok(QUARANTINED))
                .ok_or_else(|| not_quarantined(source_system, event_id))?;
            let envelope = match raw.read_set_aside::<P>() {
                Ok(envelope) => envelope,
                Err(error) => {
                    quarantine(&mut tx, source_system, event_id, &error)?;
                    tx.commit()?;
                    return Err(error);
                }
            };
            tx.execute(
                sql::RELEASE_QUARANTINED,
                &[
                    &source_system,
                    &event_id,
                    &envelope.status().as_str(),
                    &release_due_at(&envelope, now).map(micros),
                    &settled_at(envelope.status(), envelope.last_transition()),
                ],
            )?;
            tx.commit()?;
            Ok(envelope)
        })
    }

    fn delete_quarantined(
        &mut self,
        source_system: &str,
        event_id: &str,
    ) -> Result<(), StoreError> {
        off_runtime(|| {
            let deleted = self
                .client()?
                .execute(sql::DELETE_QUARANTINED, &[&source_system, &event_id])?;
            if deleted == 0 {
                return Err(not_quarantined(source_system, event_id));
            }
            Ok(())
        })
    }

    fn verify(&mut self) -> Result<Vec<StoreError>, StoreError> {
        off_runtime(|| {
            let mut tx = self.begin()?;
            let rows = select_rows(&mut tx, sql::SELECT_UNQUARANTINED, &[])?;
            tx.commit()?;
            Ok(rows
                .into_iter()
                .filter_map(|(_, raw)| raw.read::<serde_json::Value>().err())
                .collect())
        })
    }

    fn counts(&mut self) -> Result<StatusCounts, StoreError> {
        off_runtime(|| {
            let client = self.client()?;
            let mut counts = StatusCounts::default();
            for row in client.query(sql::COUNT_BY_STATUS, &[])? {
                let (status, count): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
                counts.add_outbox_rows(&status, count);
            }
            let keys: i64 = client.query_one(sql::COUNT_INBOX, &[])?.try_get(0)?;
            counts.inbox_keys = u64::try_from(keys).unwrap_or_default();
            Ok(counts)
        })
    }

    fn next_due_at(&mut self) -> Result<Option<DateTime<Utc>>, StoreError> {
        off_runtime(|| {
            let next: Option<i64> = self
                .client()?
                .query_one(
                    sql::MIN_DUE_BETWEEN,
                    &[
                        &micros(DateTime::<Utc>::MIN_UTC),
                        &micros(DateTime::<Utc>::MAX_UTC),
                    ],
                )?
                .try_get(0)?;
            Ok(next.and_then(DateTime::from_timestamp_micros))
        })
    }

    fn oldest_due_age(&mut self, now: DateTime<Utc>) -> Result<Option<Duration>, StoreError> {
        off_runtime(|| {
            let oldest: Option<i64> = self
                .client()?
                .query_one(
                    sql::OLDEST_DUE_BETWEEN,
                    &[&micros(DateTime::<Utc>::MIN_UTC), &micros(now)],
                )?
                .try_get(0)?;
            Ok(oldest.map(|due| waited_since(due, now)))
        })
    }
}

/// Takes the inbox key for `envelope` in `tx`: `New` if the effect should run
/// (a new key, or one past the retention window, renewed here), else what the
/// fresh key says. A concurrent admission of the same key waits on the key's
/// index entry until this transaction ends.
fn claim_key<P: Serialize>(
    tx: &mut Transaction<'_>,
    envelope: &Envelope<Pending, P>,
    event_text: &str,
    now: DateTime<Utc>,
    fresh_after: i64,
) -> Result<InboxKey, StoreError> {
    let inserted = tx.execute(
        sql::INSERT_KEY,
        &[
            &envelope.source_system(),
            &envelope.event_id(),
            &event_text,
            &micros(now),
        ],
    )?;
    if inserted == 1 {
        return Ok(InboxKey::New);
    }
    let row = tx
        .query_opt(
            sql::LOCK_KEY,
            &[&envelope.source_system(), &envelope.event_id()],
        )?
        .ok_or_else(|| not_found(envelope.source_system(), envelope.event_id()))?;
    let (stored, received_at): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
    if received_at < fresh_after {
        tx.execute(
            sql::RENEW_KEY,
            &[
                &envelope.source_system(),
                &envelope.event_id(),
                &event_text,
                &micros(now),
            ],
        )?;
        return Ok(InboxKey::New);
    }
    Ok(InboxKey::of(&stored, event_text, envelope))
}

/// The outbox rows `sql` selects (its columns are [`row_columns!`]), unchecked.
fn select_rows<T: ?Sized + ToStatement>(
    tx: &mut Transaction<'_>,
    sql: &T,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<Vec<(i64, RawRow)>, StoreError> {
    tx.query(sql, params)?.iter().map(raw_row).collect()
}

/// Up to `limit` of the dead letters `filter` takes, in the order they
/// failed, after the place `after` in that order, unchecked, each with its
/// place: read with `sql`, one of the statements of a page of dead letters.
fn select_dead_letters(
    tx: &mut Transaction<'_>,
    sql: &str,
    filter: &DeadLetterFilter,
    after: FailedOrder,
    limit: usize,
) -> Result<Vec<(FailedOrder, RawRow)>, StoreError> {
    tx.query(
        sql,
        &[
            &filter.source_system,
            &filter.event_type,
            &filter.failed_by.map(micros),
            &after.0,
            &after.1,
            &i64::try_from(limit).unwrap_or(i64::MAX),
        ],
    )?
    .iter()
    .map(|row| {
        let (seq, raw) = raw_row(row)?;
        Ok(((row.try_get(ROW_COLUMNS)?, seq), raw))
    })
    .collect()
}

/// The outbox row with this key, unchecked; locked for this transaction if `lock`.
fn select_key(
    tx: &mut Transaction<'_>,
    source_system: &str,
    event_id: &str,
    lock: bool,
) -> Result<Option<RawRow>, StoreError> {
    let sql = if lock { sql::LOCK_ROW } else { sql::SELECT_KEY };
    Ok(select_rows(tx, sql, &[&source_system, &event_id])?
        .pop()
        .map(|(_, raw)| raw))
}

/// Reads the columns of [`row_columns!`]; the schema types every column, so
/// each reads as what it should hold.
fn raw_row(row: &postgres::Row) -> Result<(i64, RawRow), StoreError> {
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

/// How many columns [`row_columns!`] names.
const ROW_COLUMNS: usize = 12;

/// Reads a row of [`CLAIM_DUE`](sql::CLAIM_DUE): the claimed row as it was
/// before the claim, and the count of rows left over.
fn claim_due_row(row: &postgres::Row) -> Result<ClaimDueRow, StoreError> {
    let claimed = match row.try_get::<_, Option<i64>>(0)? {
        None => None,
        Some(_) => Some(raw_row(row)?.1),
    };
    Ok(ClaimDueRow {
        claimed,
        leftovers: row.try_get(ROW_COLUMNS)?,
    })
}

/// Writes an envelope's state over its row.
fn write_row<S: State, P: Serialize>(
    tx: &mut Transaction<'_>,
    envelope: &Envelope<S, P>,
    due_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    tx.execute(
        sql::WRITE_ROW,
        &[
            &envelope.source_system(),
            &envelope.event_id(),
            &S::STATUS.as_str(),
            &i64::from(envelope.attempt_count()),
            &due_at.map(micros),
            &encode(envelope)?,
            &settled_at(S::STATUS, envelope.last_transition()),
        ],
    )?;
    Ok(())
}

/// Takes an unreadable row out of circulation, keeping its content and saying why.
fn quarantine(
    tx: &mut Transaction<'_>,
    source_system: &str,
    event_id: &str,
    error: &StoreError,
) -> Result<(), StoreError> {
    tx.execute(
        sql::QUARANTINE,
        &[&source_system, &event_id, &QUARANTINED, &problem(error)],
    )?;
    Ok(())
}
