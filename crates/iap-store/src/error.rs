//! Why a store operation failed.

use std::path::PathBuf;

use integration_automation_patterns::DeliveryStatus;

/// Why a store operation failed. Every variant that concerns one envelope
/// names it by source system and event id.
///
/// [`Busy`](StoreError::Busy) and [`StorageFull`](StoreError::StorageFull)
/// are passing conditions: the operation wrote nothing and can be retried
/// (see [`is_retryable`](StoreError::is_retryable)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file could not be opened as a store.
    #[error("cannot open {path:?} as a store: {reason}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The database server could not be reached.
    #[error("cannot connect to the store's database: {reason}")]
    Connect {
        /// What went wrong, naming the host and user (never the password).
        reason: String,
    },
    /// The file holds a newer store schema than this version of the crate knows.
    #[error(
        "the store schema is version {found}, newer than version {supported} that this crate reads; upgrade the crate"
    )]
    SchemaTooNew {
        /// The version in the file.
        found: i64,
        /// The newest version this crate reads.
        supported: i64,
    },
    /// The store's schema is older than this version of the crate reads, and
    /// the store was opened as an existing one, which migrates nothing
    /// (`SqliteStore::open_existing`, `PostgresStore::connect_existing`,
    /// `AnyStore::open_existing`). Nothing was changed.
    #[error(
        "the store schema is version {found}, older than version {current} that this crate reads; migrate it first (nothing was changed)"
    )]
    SchemaTooOld {
        /// The version the store is at.
        found: i64,
        /// The version this crate reads.
        current: i64,
    },
    /// There is no store where the caller said, and the constructor that
    /// was called opens existing stores only: no such SQLite file, a file or
    /// a PostgreSQL schema without the store's tables. Nothing was created.
    #[error("no store at {location}: {reason}")]
    NoStore {
        /// Where the store was looked for (an SQLite path, or a PostgreSQL
        /// database and schema; never a password).
        location: String,
        /// What is there instead.
        reason: String,
    },
    /// The file holds store tables in a shape this crate did not make.
    #[error("the store schema is not recognised: {reason}")]
    UnknownSchema {
        /// What was found.
        reason: String,
    },
    /// A stored row does not read back: a column of the wrong type, text that
    /// is not UTF-8, JSON that does not parse or holds another event, a status,
    /// attempt count or due time that disagrees with the envelope, or a
    /// history that does not replay. The row is quarantined; no other row is
    /// touched.
    #[error("stored envelope {source_system}/{event_id} is unreadable: {reason}")]
    CorruptRow {
        /// The source system of the row.
        source_system: String,
        /// The event id of the row.
        event_id: String,
        /// Why it does not read back.
        reason: String,
    },
    /// The inbox already holds this key with a different event (another
    /// payload, type, subject or any other attribute): the sender reused an
    /// event id. Nothing was written.
    #[error(
        "event {source_system}/{event_id} was received before as a different event (its payload or attributes differ); an event id must not be reused"
    )]
    KeyReused {
        /// The source system.
        source_system: String,
        /// The event id.
        event_id: String,
    },
    /// The outbox already holds this key.
    #[error("event {source_system}/{event_id} is already in the outbox")]
    AlreadyEnqueued {
        /// The source system.
        source_system: String,
        /// The event id.
        event_id: String,
    },
    /// No envelope has this key.
    #[error("no stored envelope {source_system}/{event_id}")]
    NotFound {
        /// The source system.
        source_system: String,
        /// The event id.
        event_id: String,
    },
    /// No quarantined row has this key.
    #[error("no quarantined row {source_system}/{event_id}")]
    NotQuarantined {
        /// The source system.
        source_system: String,
        /// The event id.
        event_id: String,
    },
    /// The envelope is not in the state asked for.
    #[error("stored envelope {source_system}/{event_id} is `{found}`, not `{expected}`")]
    WrongState {
        /// The source system.
        source_system: String,
        /// The event id.
        event_id: String,
        /// The state asked for.
        expected: DeliveryStatus,
        /// The state it is in.
        found: DeliveryStatus,
    },
    /// An outcome was recorded for a claim that is no longer held: its lease
    /// ran out and another worker took the envelope over. The outcome was not
    /// written.
    #[error(
        "the claim on {source_system}/{event_id} (attempt {attempt}) is no longer held; its outcome was not recorded"
    )]
    ClaimLost {
        /// The source system.
        source_system: String,
        /// The event id.
        event_id: String,
        /// The attempt the outcome was for.
        attempt: u32,
    },
    /// Only the outcome of a delivery attempt (processed, acknowledged,
    /// retrying or failed) can be recorded for a claim.
    #[error("`{status}` is not the outcome of a delivery attempt ({source_system}/{event_id})")]
    NotAnOutcome {
        /// The source system.
        source_system: String,
        /// The event id.
        event_id: String,
        /// The state that was offered.
        status: DeliveryStatus,
    },
    /// An envelope could not be encoded.
    #[error("cannot encode envelope {source_system}/{event_id}: {reason}")]
    Encode {
        /// The source system.
        source_system: String,
        /// The event id.
        event_id: String,
        /// What went wrong.
        reason: String,
    },
    /// Another connection holds the lock this operation needs (past the
    /// store's busy timeout), or the server is too busy to serve it now.
    /// Nothing was written; the operation can be retried.
    #[error(
        "the database is busy ({reason}); nothing was written, and the operation can be retried"
    )]
    Busy {
        /// What the database reported.
        reason: String,
    },
    /// The disk (or the database's quota) is full. Nothing of this operation
    /// was written, and everything committed before is kept; once there is
    /// room, the operation can be retried.
    #[error("the database's storage is full ({reason}); nothing was written: free space and retry")]
    StorageFull {
        /// What the database reported.
        reason: String,
    },
    /// The blocking PostgreSQL store was called on a tokio current-thread
    /// runtime, where nothing may block.
    #[error(
        "the blocking PostgreSQL store cannot run on a current-thread tokio runtime: use AsyncPostgresStore (feature async-postgres), or a multi-threaded runtime"
    )]
    InsideAsyncRuntime,
    /// The store met a state its own code should never reach (a statement
    /// without a text for the database, a blocking operation that waited):
    /// a defect of this crate, to report. Nothing of the operation was
    /// committed.
    #[error("a defect of iap-store, to report: {reason}")]
    Defect {
        /// What happened.
        reason: String,
    },
    /// Recording an outcome failed part-way through a relay batch, and the
    /// claims that were never sent could not be given back either: they will
    /// count a failed attempt when their lease runs out.
    #[error(
        "{recording}; besides, {unsent} claims that were never sent could not be released ({releasing})"
    )]
    ClaimsNotReleased {
        /// Why recording the outcome failed.
        recording: Box<StoreError>,
        /// Why releasing the unsent claims failed.
        releasing: Box<StoreError>,
        /// How many claims were never sent.
        unsent: usize,
    },
    /// The SQLite database reported an error.
    #[cfg(feature = "sqlite")]
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// The PostgreSQL server reported an error.
    #[cfg(feature = "postgres")]
    #[error("database error: {}", postgres_reason(.0))]
    Postgres(postgres::Error),
    /// The async driver (sqlx) reported an error.
    #[cfg(any(feature = "async-sqlite", feature = "async-postgres"))]
    #[error("database error: {0}")]
    Sqlx(sqlx::Error),
}

impl StoreError {
    /// Whether the operation wrote nothing and may succeed if tried again
    /// later: a busy database or a full disk.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Busy { .. } | StoreError::StorageFull { .. }
        )
    }
}

#[cfg(feature = "sqlite")]
impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match error.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy {
                reason: error.to_string(),
            },
            Some(ErrorCode::DiskFull) => StoreError::StorageFull {
                reason: error.to_string(),
            },
            _ => StoreError::Sqlite(error),
        }
    }
}

#[cfg(feature = "postgres")]
impl From<postgres::Error> for StoreError {
    fn from(error: postgres::Error) -> Self {
        use postgres::error::SqlState;
        let Some(code) = error.code() else {
            return StoreError::Postgres(error);
        };
        if [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::CANNOT_CONNECT_NOW,
        ]
        .contains(code)
        {
            StoreError::Busy {
                reason: postgres_reason(&error),
            }
        } else if *code == SqlState::DISK_FULL {
            StoreError::StorageFull {
                reason: postgres_reason(&error),
            }
        } else {
            StoreError::Postgres(error)
        }
    }
}

/// What the server said, with its detail, where the driver's own message
/// (`db error`) would hide it.
#[cfg(feature = "postgres")]
fn postgres_reason(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => error.to_string(),
    }
}

#[cfg(any(feature = "async-sqlite", feature = "async-postgres"))]
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let reason = error.to_string();
        if matches!(error, sqlx::Error::PoolTimedOut) {
            return StoreError::Busy { reason };
        }
        let code = error
            .as_database_error()
            .and_then(|database| database.code())
            .map(|code| code.into_owned());
        match code.as_deref() {
            // SQLite reports its (extended) result code; the primary code is
            // its low byte: BUSY, LOCKED, FULL.
            Some(code) if code.parse::<u32>().is_ok() => {
                match code.parse::<u32>().map(|c| c & 0xff) {
                    Ok(5 | 6) => StoreError::Busy { reason },
                    Ok(13) => StoreError::StorageFull { reason },
                    _ => StoreError::Sqlx(error),
                }
            }
            // PostgreSQL reports its SQLSTATE.
            Some("40001" | "40P01" | "55P03" | "53300" | "57P03") => StoreError::Busy { reason },
            Some("53100") => StoreError::StorageFull { reason },
            _ => StoreError::Sqlx(error),
        }
    }
}
