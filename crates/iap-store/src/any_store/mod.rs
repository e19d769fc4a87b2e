//! One store type for either backend, chosen at run time (feature `sqlite`,
//! `postgres`, or both): a service that reads its database from
//! configuration holds an [`AnyStore`] and calls the same operations
//! whichever it is. A build with one backend has that variant alone.

use chrono::{DateTime, Utc};

use super::engine::blocking::delivery_store;
use super::engine::run_ready;
#[cfg(feature = "postgres")]
use super::postgres::{PostgresStore, off_runtime};
#[cfg(feature = "sqlite")]
use super::sqlite::SqliteStore;
use super::{DeliveryStore, StoreError, StoreOptions};

mod driver;

pub(crate) use driver::AnyDriver;

/// A store on SQLite or on PostgreSQL, chosen at run time.
///
/// It is a [`DeliveryStore`] whose operations run on the backend it holds.
/// Work done in the store's transaction (a business write beside
/// [`enqueue`](DeliveryStore::enqueue), an inbox effect) receives an
/// [`AnyTx`], the backend's own transaction, since the business SQL is the
/// caller's and is written for one database or the other.
///
/// ```no_run
/// # #[cfg(all(feature = "sqlite", feature = "postgres"))] {
/// use iap_store::{AnyStore, AnyTx, DeliveryStore, StoreOptions};
///
/// // From configuration: `sqlite:PATH`, or a PostgreSQL connection string.
/// let mut store = AnyStore::open(&std::env::var("ORDERS_STORE")?, StoreOptions::default())?;
/// println!("{:?}", store.counts()?);
/// store.write(|tx| {
///     match tx {
///         AnyTx::Sqlite(tx) => tx.execute("DELETE FROM drafts", [])?,
///         AnyTx::Postgres(tx) => tx.execute("DELETE FROM drafts", &[])? as usize,
///     };
///     Ok::<_, iap_store::StoreError>(())
/// })?;
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub enum AnyStore {
    /// A store on an SQLite file.
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteStore),
    /// A store on a PostgreSQL database (boxed: its connection settings make
    /// it several times the size of an SQLite store).
    #[cfg(feature = "postgres")]
    Postgres(Box<PostgresStore>),
}

/// The transaction of an [`AnyStore`]'s backend.
pub enum AnyTx<'c> {
    /// An SQLite transaction.
    #[cfg(feature = "sqlite")]
    Sqlite(rusqlite::Transaction<'c>),
    /// A PostgreSQL transaction.
    #[cfg(feature = "postgres")]
    Postgres(postgres::Transaction<'c>),
}

impl AnyTx<'_> {
    /// Commits the transaction.
    fn commit(self) -> Result<(), StoreError> {
        match self {
            #[cfg(feature = "sqlite")]
            AnyTx::Sqlite(tx) => Ok(tx.commit()?),
            #[cfg(feature = "postgres")]
            AnyTx::Postgres(tx) => Ok(tx.commit()?),
        }
    }
}

impl AnyStore {
    /// Opens the store named by `location`: `sqlite:PATH` for an SQLite file
    /// (created if needed), or a PostgreSQL connection string (a
    /// `postgres://` URL or `host=... dbname=...`), whose schema is migrated.
    /// A backend this build does not have is refused, saying which
    /// feature it needs.
    pub fn open(location: &str, options: StoreOptions) -> Result<AnyStore, StoreError> {
        match location.strip_prefix("sqlite:") {
            #[cfg(feature = "sqlite")]
            Some(path) => Ok(AnyStore::Sqlite(SqliteStore::open_with(path, options)?)),
            #[cfg(not(feature = "sqlite"))]
            Some(path) => Err(StoreError::Open {
                path: path.into(),
                reason: "this build has no SQLite backend (feature `sqlite`)".into(),
            }),
            #[cfg(feature = "postgres")]
            None => {
                let mut store = PostgresStore::connect(location, options)?;
                store.migrate()?;
                Ok(AnyStore::Postgres(Box::new(store)))
            }
            #[cfg(not(feature = "postgres"))]
            None => Err(StoreError::Connect {
                reason: "this build has no PostgreSQL backend (feature `postgres`); \
                         an SQLite store is named `sqlite:PATH`"
                    .into(),
            }),
        }
    }

    /// Opens the store named by `location` (as [`open`](Self::open) names
    /// it) if one exists there at this crate's schema version, creating and
    /// migrating nothing: `SqliteStore::open_existing` or
    /// `PostgresStore::connect_existing`. A tool that only reads a store,
    /// or that operates an existing one, opens it so: a mistyped
    /// `sqlite:orders.bd` is [`StoreError::NoStore`] ("no store at
    /// sqlite:orders.bd: there is no such file"), not a new file, and a
    /// database that is not a store gets no tables.
    pub fn open_existing(location: &str, options: StoreOptions) -> Result<AnyStore, StoreError> {
        match location.strip_prefix("sqlite:") {
            #[cfg(feature = "sqlite")]
            Some(path) => match SqliteStore::open_existing(path, options) {
                Ok(store) => Ok(AnyStore::Sqlite(store)),
                Err(StoreError::NoStore { reason, .. }) => Err(StoreError::NoStore {
                    location: location.to_owned(),
                    reason,
                }),
                Err(other) => Err(other),
            },
            #[cfg(feature = "postgres")]
            None => Ok(AnyStore::Postgres(Box::new(
                PostgresStore::connect_existing(location, options)?,
            ))),
            // The error that names the feature this build lacks.
            #[cfg(not(feature = "sqlite"))]
            Some(_) => AnyStore::open(location, options),
            #[cfg(not(feature = "postgres"))]
            None => AnyStore::open(location, options),
        }
    }

    /// The time on the store's clock: this machine's for SQLite, the
    /// server's for PostgreSQL (`PostgresStore::server_time`), so that a
    /// time compared with the stored ones (a failure time, say) is on the
    /// clock that wrote them.
    pub fn now(&mut self) -> Result<DateTime<Utc>, StoreError> {
        match self {
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite(_) => Ok(Utc::now()),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(store) => store.server_time(),
        }
    }

    /// The store's settings.
    fn settings(&self) -> StoreOptions {
        match self {
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite(store) => store.options(),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(store) => store.options(),
        }
    }

    /// Runs an engine operation on the backend's connection, to its end.
    fn run<T>(
        &mut self,
        operation: impl AsyncFnOnce(&mut AnyDriver<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite(store) => run_ready(operation(&mut AnyDriver::Sqlite(store.driver()))),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(store) => off_runtime(|| {
                let driver = store.driver()?;
                run_ready(operation(&mut AnyDriver::Postgres(driver)))
            }),
        }
    }

    /// Runs `work` in one transaction of the backend, committed if it
    /// returns `Ok`.
    fn transaction<T, E: From<StoreError>>(
        &mut self,
        work: impl FnOnce(&mut AnyTx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let commit_after = |mut tx: AnyTx<'_>| {
            let value = work(&mut tx)?;
            tx.commit().map_err(E::from)?;
            Ok(value)
        };
        match self {
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite(store) => commit_after(AnyTx::Sqlite(store.begin().map_err(E::from)?)),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(store) => off_runtime(|| {
                let tx = store.begin().map_err(E::from)?;
                commit_after(AnyTx::Postgres(tx))
            }),
        }
    }
}

delivery_store!(impl[] for AnyStore, Tx<'t> = AnyTx<'t>);
