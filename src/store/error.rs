//! Why a store operation failed.

use std::path::PathBuf;

use crate::DeliveryStatus;

/// Why a store operation failed. Every variant that concerns one envelope
/// names it by source system and event id.
#[derive(Debug, thiserror::Error)]
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
    /// The file holds store tables in a shape this crate did not make.
    #[error("the store schema is not recognised: {reason}")]
    UnknownSchema {
        /// What was found.
        reason: String,
    },
    /// A stored envelope does not read back: its JSON does not parse, or its
    /// state is inconsistent. The row is quarantined; no other row is touched.
    #[error("stored envelope {source_system}/{event_id} is unreadable: {reason}")]
    CorruptRow {
        /// The source system of the row.
        source_system: String,
        /// The event id of the row.
        event_id: String,
        /// Why it does not read back.
        reason: String,
    },
    /// The inbox already holds this key with a different payload: the sender
    /// reused an event id. Nothing was written.
    #[error(
        "event {source_system}/{event_id} was received before with a different payload; an event id must not be reused"
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
    /// The SQLite database reported an error.
    #[cfg(feature = "sqlite")]
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL server reported an error.
    #[cfg(feature = "postgres")]
    #[error("database error: {0}")]
    Postgres(#[from] postgres::Error),
}
