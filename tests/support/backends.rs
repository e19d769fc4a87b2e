//! The store backends, as the conformance suite opens them: a fresh, empty
//! store per test, on a temporary SQLite file or in a schema of its own on the
//! PostgreSQL server named by `IAP_POSTGRES_URL`.
// Each suite that includes this module uses a part of it.
#![allow(dead_code)]

use integration_automation_patterns::store::{DeliveryStore, StoreError, StoreOptions};

/// A database fault in progress, over when dropped.
pub struct Fault(Option<Box<dyn FnOnce()>>);

impl Drop for Fault {
    fn drop(&mut self) {
        if let Some(end) = self.0.take() {
            end();
        }
    }
}

/// A backend the conformance suite runs against.
pub trait Backend: DeliveryStore + Sized {
    /// Where a test's store lives; shared by the threads of a test.
    type Place: Sync;

    /// A fresh, empty place for the test `name`; `None` when the backend is
    /// not available here (which fails the test under CI).
    fn place(name: &str) -> Option<Self::Place>;

    /// A connection to the store at `place`, its schema in place.
    fn open(place: &Self::Place) -> Self {
        Self::open_with(place, StoreOptions::default())
    }

    /// A connection to the store at `place` with these settings.
    fn open_with(place: &Self::Place, options: StoreOptions) -> Self;

    /// Makes the next write of the store's connections at `place` fail, as a
    /// short database fault would: on SQLite another connection holds the
    /// write lock for a while; on PostgreSQL the connections are terminated.
    /// The fault is over once the returned value is dropped.
    fn interrupt(place: &Self::Place) -> Fault;

    /// Edits by hand that only this backend's column types let through: an
    /// `UPDATE … SET` clause, and words the quarantine reason must hold.
    const TYPE_TAMPERS: &'static [(&'static str, &'static str, &'static str)];

    /// Runs one SQL statement in the store's transaction (for test effects).
    fn exec(tx: &mut Self::Tx<'_>, sql: &str) -> Result<u64, StoreError>;

    /// The one number a query returns.
    fn number(&mut self, sql: &str) -> i64;
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::sync::mpsc;
    use std::time::Duration;

    use integration_automation_patterns::store::sqlite::SqliteStore;
    use integration_automation_patterns::store::{DeliveryStore, StoreError, StoreOptions};

    use super::super::temp_db::TempDb;
    use super::Fault;

    impl super::Backend for SqliteStore {
        type Place = TempDb;

        const TYPE_TAMPERS: &'static [(&'static str, &'static str, &'static str)] = &[
            (
                "an envelope stored as a BLOB",
                "envelope = CAST(envelope AS BLOB)",
                "the envelope column holds a BLOB of",
            ),
            (
                "an envelope that is not UTF-8",
                "envelope = CAST(X'7B22FF22' AS TEXT)",
                "text that is not valid UTF-8",
            ),
            (
                "a status stored as a BLOB",
                "status = CAST(status AS BLOB)",
                "the status column holds a BLOB of",
            ),
            (
                "an attempt count that is text",
                "attempts = 'two'",
                "the attempt count holds the text \"two\"",
            ),
            (
                "a due time that is text",
                "due_at = 'tomorrow'",
                "the due time holds the text \"tomorrow\"",
            ),
        ];

        fn place(name: &str) -> Option<TempDb> {
            Some(TempDb::new(name))
        }

        fn open_with(place: &TempDb, options: StoreOptions) -> Self {
            SqliteStore::open_with(place.path(), options).unwrap()
        }

        fn interrupt(place: &TempDb) -> Fault {
            let (locked, is_locked) = mpsc::channel();
            let path = place.path().to_owned();
            let holder = std::thread::spawn(move || {
                let connection = rusqlite::Connection::open(path).unwrap();
                connection.execute_batch("BEGIN IMMEDIATE").unwrap();
                locked.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(250));
                connection.execute_batch("COMMIT").unwrap();
            });
            is_locked.recv().unwrap();
            Fault(Some(Box::new(move || holder.join().unwrap())))
        }

        fn exec(tx: &mut rusqlite::Transaction<'_>, sql: &str) -> Result<u64, StoreError> {
            Ok(tx.execute(sql, [])? as u64)
        }

        fn number(&mut self, sql: &str) -> i64 {
            self.write(|tx| Ok::<_, StoreError>(tx.query_row(sql, [], |row| row.get(0))?))
                .unwrap()
        }
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use integration_automation_patterns::store::postgres::PostgresStore;
    use integration_automation_patterns::store::{DeliveryStore, StoreError, StoreOptions};

    use super::Fault;

    /// The connection string of a test's own schema, and the schema's name
    /// (also the connections' `application_name`).
    pub struct Schema {
        url: String,
        connection: String,
        name: String,
    }

    impl super::Backend for PostgresStore {
        type Place = Schema;

        // The schema types every column: no edit can store another type.
        const TYPE_TAMPERS: &'static [(&'static str, &'static str, &'static str)] = &[];

        fn place(name: &str) -> Option<Schema> {
            let Ok(url) = std::env::var("IAP_POSTGRES_URL") else {
                if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                    panic!("IAP_POSTGRES_URL is not set: the PostgreSQL tests cannot run under CI");
                }
                eprintln!(
                    "skipping the PostgreSQL run of `{name}`: set IAP_POSTGRES_URL to run it"
                );
                return None;
            };
            let schema = format!("iap_test_{name}_{}", std::process::id());
            let mut admin =
                postgres::Client::connect(&url, postgres::NoTls).unwrap_or_else(|error| {
                    panic!("cannot reach the PostgreSQL server at {url:?}: {error}")
                });
            admin
                .batch_execute(&format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
                ))
                .unwrap();
            Some(Schema {
                connection: format!(
                    "{url} application_name={schema} options='-c search_path={schema}'"
                ),
                url,
                name: schema,
            })
        }

        fn open_with(place: &Schema, options: StoreOptions) -> Self {
            let mut store = PostgresStore::connect(&place.connection, options).unwrap();
            store.migrate().unwrap();
            store
        }

        fn interrupt(place: &Schema) -> Fault {
            let mut admin = postgres::Client::connect(&place.url, postgres::NoTls).unwrap();
            admin
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                    &[&place.name],
                )
                .unwrap();
            Fault(None)
        }

        fn exec(tx: &mut postgres::Transaction<'_>, sql: &str) -> Result<u64, StoreError> {
            Ok(tx.execute(sql, &[])?)
        }

        fn number(&mut self, sql: &str) -> i64 {
            self.write(|tx| Ok::<_, StoreError>(tx.query_one(sql, &[])?.get(0)))
                .unwrap()
        }
    }
}
