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

use std::path::Path;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

#[cfg(feature = "async-sqlite")]
mod async_driver;
#[cfg(feature = "async-sqlite")]
mod asynchronous;
pub(crate) mod driver;

#[cfg(feature = "async-sqlite")]
pub use asynchronous::AsyncSqliteStore;
/// The SQLite driver the store is built on, for the caller's own queries in
/// the store's transactions: the exact version this crate uses.
pub use rusqlite;

pub(crate) use driver::SqliteDriver;

use super::engine::blocking::delivery_store;
use super::engine::{run_ready, schema};
use super::{Durability, StoreError, StoreOptions};

/// The newest store schema this crate writes and reads.
pub const SCHEMA_VERSION: i64 = schema::SCHEMA_VERSION;

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
        schema::require_current(found, || no_store("the file holds no store tables"))?;
        set_journal(&connection, path, options)?;
        Ok(SqliteStore {
            connection,
            options,
        })
    }

    /// The store's settings.
    fn settings(&self) -> StoreOptions {
        self.options
    }

    /// Runs an engine operation on the store's connection, to its end.
    fn run<T>(
        &mut self,
        operation: impl AsyncFnOnce(&mut SqliteDriver<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        run_ready(operation(&mut self.driver()))
    }

    /// The store's connection, as the engine drives it.
    pub(crate) fn driver(&self) -> SqliteDriver<'_> {
        SqliteDriver {
            connection: &self.connection,
        }
    }

    /// Begins a write transaction, taking the file's write lock at once.
    pub(crate) fn begin(&mut self) -> Result<Transaction<'_>, StoreError> {
        Ok(self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// Runs `work` in one write transaction, taking the file's write lock at
    /// once; committed if it returns `Ok`.
    fn transaction<T, E: From<StoreError>>(
        &mut self,
        work: impl FnOnce(&mut Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut tx = self.begin().map_err(E::from)?;
        let value = work(&mut tx)?;
        tx.commit().map_err(|error| E::from(error.into()))?;
        Ok(value)
    }
}

delivery_store!(impl[] for SqliteStore, Tx<'t> = Transaction<'t>);

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
    run_ready(schema::migrate(&mut SqliteDriver { connection }))
}

/// The store's schema version in the file; `None` if the file holds no store.
fn schema_version(connection: &Connection) -> Result<Option<i64>, StoreError> {
    run_ready(schema::schema_version(&mut SqliteDriver { connection }))
}
