//! The store's schema: which version a database holds, and the migration
//! that takes it to this crate's (creating it in an empty one).

use super::driver::{Decode, Dialect, Driver, Param, Row, Statements, Transaction};
use super::sql::{postgres, sqlite};
use super::statement::statements;
use crate::StoreError;

/// The newest store schema this crate writes and reads, on either database.
pub(crate) const SCHEMA_VERSION: i64 = 7;

/// The number that serializes concurrent migrations on PostgreSQL (an
/// advisory lock, held to the end of the migrating transaction).
const MIGRATION_LOCK: i64 = 0x1a9_0717;

statements! {
    SCHEMA_STATEMENTS:
    /// Whether the database has the version table.
    HAS_META => sqlite: Some(sqlite::HAS_META), postgres: Some(postgres::HAS_META);
    /// Whether the database has store tables.
    HAS_TABLES => sqlite: Some(sqlite::HAS_TABLES), postgres: Some(postgres::HAS_TABLES);
    /// The schema version.
    SELECT_VERSION => sqlite: Some(sqlite::SELECT_VERSION),
        postgres: Some(postgres::SELECT_VERSION);
    /// The schema version of a new store.
    INSERT_VERSION => sqlite: Some(sqlite::INSERT_VERSION),
        postgres: Some(postgres::INSERT_VERSION);
    /// Serializes concurrent migrations (SQLite's write lock does so itself).
    TAKE_MIGRATION_LOCK => sqlite: None, postgres: Some(postgres::TAKE_MIGRATION_LOCK);
    /// The schema of a new store (a script of several statements).
    CREATE_SCHEMA => sqlite: Some(sqlite::SCHEMA), postgres: Some(postgres::SCHEMA);
    /// Schema version 1 to 2.
    MIGRATE_FROM_1 => sqlite: Some(sqlite::MIGRATE_FROM_1),
        postgres: Some(postgres::MIGRATE_FROM_1);
    /// Schema version 2 to 3.
    MIGRATE_FROM_2 => sqlite: Some(sqlite::MIGRATE_FROM_2),
        postgres: Some(postgres::MIGRATE_FROM_2);
    /// Schema version 3 to 4.
    MIGRATE_FROM_3 => sqlite: Some(sqlite::MIGRATE_FROM_3),
        postgres: Some(postgres::MIGRATE_FROM_3);
    /// Schema version 4 to 5.
    MIGRATE_FROM_4 => sqlite: Some(sqlite::MIGRATE_FROM_4),
        postgres: Some(postgres::MIGRATE_FROM_4);
    /// Schema version 5 to 6.
    MIGRATE_FROM_5 => sqlite: Some(sqlite::MIGRATE_FROM_5),
        postgres: Some(postgres::MIGRATE_FROM_5);
    /// Schema version 6 to 7.
    MIGRATE_FROM_6 => sqlite: Some(sqlite::MIGRATE_FROM_6),
        postgres: Some(postgres::MIGRATE_FROM_6);
}

/// The migrations in order: the one at index `v - 1` takes a store from
/// version `v` to `v + 1`.
static MIGRATIONS: [&super::statement::Statement; 6] = [
    &MIGRATE_FROM_1,
    &MIGRATE_FROM_2,
    &MIGRATE_FROM_3,
    &MIGRATE_FROM_4,
    &MIGRATE_FROM_5,
    &MIGRATE_FROM_6,
];

/// The migrations that take a store at schema version `found` to the
/// current one.
fn migrations_from(found: i64) -> &'static [&'static super::statement::Statement] {
    let start = usize::try_from(found - 1).unwrap_or(0);
    MIGRATIONS.get(start..).unwrap_or_default()
}

/// Whether something is there ([`HAS_META`], [`HAS_TABLES`]).
struct Present(bool);

impl Decode for Present {
    fn decode(row: &impl Row) -> Result<Self, StoreError> {
        let present = row.column("present")?.flag();
        present
            .map(Present)
            .map_err(|held| super::driver::column_holds("present", &held))
    }
}

/// A schema version ([`SELECT_VERSION`]).
struct Version(i64);

impl Decode for Version {
    fn decode(row: &impl Row) -> Result<Self, StoreError> {
        row.integer("value").map(Version)
    }
}

/// Whether `statement` finds something.
async fn present<S: Statements>(
    statements: &mut S,
    statement: &'static super::statement::Statement,
) -> Result<bool, StoreError> {
    let found: Vec<Present> = statements.query(statement, &[]).await?;
    Ok(found.first().is_some_and(|present| present.0))
}

/// The schema version the database records; `None` if it records none.
pub(crate) async fn recorded_version<S: Statements>(
    statements: &mut S,
) -> Result<Option<i64>, StoreError> {
    if !present(statements, &HAS_META).await? {
        return Ok(None);
    }
    let versions: Vec<Version> = statements.query(&SELECT_VERSION, &[]).await?;
    match versions.first() {
        Some(version) => Ok(Some(version.0)),
        None => Err(StoreError::UnknownSchema {
            reason: "the schema version is missing".into(),
        }),
    }
}

/// The store's schema version in the database; `None` if it holds no store.
/// Store tables without a version are no store of this crate's.
pub(crate) async fn schema_version<S: Statements>(
    statements: &mut S,
) -> Result<Option<i64>, StoreError> {
    let version = recorded_version(statements).await?;
    if version.is_none() && present(statements, &HAS_TABLES).await? {
        return Err(StoreError::UnknownSchema {
            reason: "store tables exist without a schema version".into(),
        });
    }
    Ok(version)
}

/// Whether a store found at schema version `found` (`None`: no store) can be
/// used as it is, by a tool that must not create or migrate one: the error
/// says why not, `no_store` when there is none.
pub(crate) fn require_current(
    found: Option<i64>,
    no_store: impl FnOnce() -> StoreError,
) -> Result<(), StoreError> {
    match found {
        None => Err(no_store()),
        Some(SCHEMA_VERSION) => Ok(()),
        Some(found) if found > SCHEMA_VERSION => Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        }),
        Some(found) if found >= 1 => Err(StoreError::SchemaTooOld {
            found,
            current: SCHEMA_VERSION,
        }),
        Some(found) => Err(never_written(found)),
    }
}

/// The error for a schema version this crate never wrote.
fn never_written(found: i64) -> StoreError {
    StoreError::UnknownSchema {
        reason: format!("schema version {found} was never written by this crate"),
    }
}

/// Creates the schema in an empty database, migrates an older version,
/// accepts the current one and refuses others. A current store is only
/// read: no write lock is taken. Versioned and safe to run twice, or from
/// several processes at once.
pub(crate) async fn migrate<D: Driver>(driver: &mut D) -> Result<(), StoreError> {
    if schema_version(driver).await? == Some(SCHEMA_VERSION) {
        return Ok(());
    }
    let mut tx = driver.begin().await?;
    if tx.dialect() == Dialect::Postgres {
        tx.execute(&TAKE_MIGRATION_LOCK, &[Param::int(MIGRATION_LOCK)])
            .await?;
    }
    // Another connection may have set the store up since the first look.
    match schema_version(&mut tx).await? {
        None => {
            tx.execute_script(&CREATE_SCHEMA).await?;
            tx.execute(&INSERT_VERSION, &[Param::int(SCHEMA_VERSION)])
                .await?;
        }
        Some(found) if (1..SCHEMA_VERSION).contains(&found) => {
            for migration in migrations_from(found) {
                tx.execute_script(migration).await?;
            }
        }
        Some(SCHEMA_VERSION) => {}
        Some(found) if found > SCHEMA_VERSION => {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Some(found) => return Err(never_written(found)),
    }
    tx.commit().await
}
