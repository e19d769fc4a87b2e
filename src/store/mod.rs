//! Durable delivery: envelopes kept in a database so that their lifecycle
//! survives a crash. An idempotent inbox, a transactional outbox with a relay,
//! and dead letters that an operator can inspect and redrive.
//!
//! The store never does network I/O itself. A relay *claims* what is due,
//! sends each claimed envelope however it likes (blocking or async), and
//! *records* the outcome; each of these is one database transaction, so a
//! crash between any two of them loses nothing: a claim whose worker died is
//! claimed again when its lease runs out.
//!
//! Every row is checked as it is read. One that does not read back (edited by
//! hand, say) is quarantined with its reason and named in the call's result,
//! and the call goes on with the other rows; operators list, release and
//! delete quarantined rows, and [`DeliveryStore::verify`] checks them all.
//! A busy database or a full disk is an error that wrote nothing and can be
//! retried ([`StoreError::is_retryable`]).

#[cfg(all(feature = "sqlite", feature = "postgres"))]
mod any_store;
#[cfg(feature = "async")]
mod asynchronous;
mod backend;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod batch_record;
mod error;
mod outcome;
#[cfg(feature = "postgres")]
pub mod postgres;
mod rows;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use std::time::Duration;

#[cfg(all(feature = "sqlite", feature = "postgres"))]
pub use any_store::{AnyStore, AnyTx};
#[cfg(feature = "async")]
pub use asynchronous::{AsyncDeliveryStore, BoxFuture};
pub use backend::{AdmissionResult, DeliveryStore, Recorded};
pub use error::StoreError;
pub use outcome::{
    Admission, Claim, Claimed, DeadLetters, Delivery, Outcome, QuarantinedRow, Redriven, RunReport,
    SendError, StatusCounts,
};
/// The async driver the async stores are built on, for the caller's own
/// queries and transactions: the exact version this crate uses.
#[cfg(any(feature = "async-sqlite", feature = "async-postgres"))]
pub use sqlx;

/// How durable a commit is when the call that made it returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Every operation that returns success is on disk: SQLite's
    /// `synchronous = FULL` (the write-ahead log is synced at each commit).
    #[default]
    Full,
    /// Faster: SQLite's `synchronous = NORMAL` in WAL mode. The database is
    /// never corrupted, but the last commits before a power loss or an
    /// operating-system crash may be lost (a crash of the process alone loses
    /// nothing).
    Normal,
}

/// Settings of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// How durable a commit is at return (default [`Durability::Full`]).
    pub durability: Durability,
    /// How long a claim is held before another worker may take the envelope
    /// over (default 30 s).
    pub lease: Duration,
    /// How long the inbox remembers a key (default 7 days).
    pub inbox_retention: Duration,
    /// How long to wait for another connection's write lock (default 5 s).
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::Full,
            lease: Duration::from_secs(30),
            inbox_retention: Duration::from_secs(7 * 24 * 3600),
            busy_timeout: Duration::from_secs(5),
        }
    }
}
