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

use chrono::{DateTime, Utc};
use postgres::{Client, Config, NoTls, Transaction};
use serde::Serialize;

#[cfg(feature = "async-postgres")]
mod async_driver;
#[cfg(feature = "async-postgres")]
mod asynchronous;
pub(crate) mod driver;

#[cfg(feature = "async-postgres")]
pub use asynchronous::AsyncPostgresStore;
/// The blocking PostgreSQL driver the store is built on: the exact version
/// this crate uses.
pub use postgres;
/// The async PostgreSQL driver whose transactions `enqueue_with_tokio_postgres`
/// takes: the exact version this crate uses.
#[cfg(feature = "async-postgres")]
pub use tokio_postgres;

use driver::{PgDriver, Prepared};

use super::engine::blocking::delivery_store;
use super::engine::sql::postgres as sql;
use super::engine::{run_ready, schema};
use super::{DeliveryStore, StoreError, StoreOptions};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::state::Pending;

/// The newest store schema this crate writes and reads.
pub const SCHEMA_VERSION: i64 = schema::SCHEMA_VERSION;

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
    /// The statements prepared on the connection.
    statements: Prepared,
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
            statements: Prepared::new(),
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
            statements: Prepared::new(),
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
            statements: Prepared::new(),
        }
    }
}

impl<C: BorrowMut<Client> + Send> PostgresStore<C> {
    /// Creates the store's tables, migrates them from an older version of
    /// this crate, or checks that they are at its schema version. Versioned
    /// and safe to run twice, or from several processes at once; a newer or
    /// unknown schema is refused, never guessed.
    pub fn migrate(&mut self) -> Result<(), StoreError> {
        self.run(async |driver| schema::migrate(driver).await)
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
            let found = run_ready(schema::schema_version(&mut tx))?;
            tx.commit()?;
            schema::require_current(found, || StoreError::NoStore {
                location: format!("PostgreSQL database {database:?}, schema {schema:?}"),
                reason: "it has no iap store tables".into(),
            })
        })
    }

    /// The schema version in the database; `None` before [`migrate`](Self::migrate).
    pub fn schema_version(&mut self) -> Result<Option<i64>, StoreError> {
        self.run(async |driver| schema::recorded_version(driver).await)
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

    /// The store's settings.
    fn settings(&self) -> StoreOptions {
        self.options
    }

    /// Runs an engine operation on the store's connection (made again first
    /// if it broke and the store knows where to reconnect), to its end.
    fn run<T>(
        &mut self,
        operation: impl AsyncFnOnce(&mut PgDriver<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        off_runtime(|| run_ready(operation(&mut self.driver()?)))
    }

    /// Begins a transaction on the store's connection (made again first if
    /// it broke and the store knows where to reconnect).
    pub(crate) fn begin(&mut self) -> Result<Transaction<'_>, StoreError> {
        Ok(self.client()?.transaction()?)
    }

    /// The store's connection (made again first if it broke and the store
    /// knows where to reconnect), as the engine drives it.
    pub(crate) fn driver(&mut self) -> Result<PgDriver<'_>, StoreError> {
        self.client()?;
        let client = self.client.as_mut().ok_or_else(no_connection)?.borrow_mut();
        Ok(PgDriver {
            client,
            prepared: &mut self.statements,
        })
    }

    /// Runs `work` in one transaction, committed if it returns `Ok`.
    fn transaction<T, E: From<StoreError>>(
        &mut self,
        work: impl FnOnce(&mut Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        off_runtime(|| {
            let mut tx = self.begin().map_err(E::from)?;
            let value = work(&mut tx)?;
            tx.commit().map_err(|error| E::from(error.into()))?;
            Ok(value)
        })
    }
}

/// Runs a blocking operation of the `postgres` client where it may block.
/// Outside tokio it runs as it is; on a multi-threaded runtime's worker it
/// runs in `block_in_place`, so that the client's own runtime can start; on
/// a current-thread runtime, which nothing may block, it is refused with
/// [`StoreError::InsideAsyncRuntime`].
pub(crate) fn off_runtime<T, E: From<StoreError>>(
    operation: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
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

delivery_store!(
    impl[C: BorrowMut<Client> + Send] for PostgresStore<C>,
    Tx<'t> = Transaction<'t>
);
