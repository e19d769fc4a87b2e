//! The store backends, as the conformance suite opens them: a fresh, empty
//! store per test, on a temporary SQLite file or in a schema of its own on the
//! PostgreSQL server named by `IAP_POSTGRES_URL`.

use integration_automation_patterns::store::{DeliveryStore, StoreError};

/// A backend the conformance suite runs against.
pub trait Backend: DeliveryStore + Sized {
    /// Where a test's store lives; shared by the threads of a test.
    type Place: Sync;

    /// A fresh, empty place for the test `name`; `None` when the backend is
    /// not available here (which fails the test under CI).
    fn place(name: &str) -> Option<Self::Place>;

    /// A connection to the store at `place`, its schema in place.
    fn open(place: &Self::Place) -> Self;

    /// Runs one SQL statement in the store's transaction (for test effects).
    fn exec(tx: &mut Self::Tx<'_>, sql: &str) -> Result<u64, StoreError>;

    /// The one number a query returns.
    fn number(&mut self, sql: &str) -> i64;
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use integration_automation_patterns::store::sqlite::SqliteStore;
    use integration_automation_patterns::store::{DeliveryStore, StoreError};

    use super::super::temp_db::TempDb;

    impl super::Backend for SqliteStore {
        type Place = TempDb;

        fn place(name: &str) -> Option<TempDb> {
            Some(TempDb::new(name))
        }

        fn open(place: &TempDb) -> Self {
            SqliteStore::open(place.path()).unwrap()
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

    /// The connection string of a test's own schema.
    pub struct Schema(String);

    impl super::Backend for PostgresStore {
        type Place = Schema;

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
            Some(Schema(format!("{url} options='-c search_path={schema}'")))
        }

        fn open(place: &Schema) -> Self {
            let mut store = PostgresStore::connect(&place.0, StoreOptions::default()).unwrap();
            store.migrate().unwrap();
            store
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
