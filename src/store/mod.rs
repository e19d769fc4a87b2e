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

/// The statuses of settled rows as an SQL list, for both backends: delivered
/// (processed or acknowledged) or skipped, the rows retention deletes once
/// they have been settled long enough (`rows::settled_at` gives the time).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! settled_statuses {
    () => {
        "('processed', 'acknowledged', 'skipped')"
    };
}

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
#[cfg(feature = "async")]
mod wakeup;

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
#[cfg(feature = "async")]
pub use wakeup::Wakeups;

/// Where a store's relays learn of new work
/// ([`StoreOptions::wakeups`]); a relay subscribes to them through
/// `AsyncDeliveryStore::wakeups` (feature `async`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WakeupMode {
    /// Woken as soon as an enqueue commits: PostgreSQL's `LISTEN/NOTIFY`,
    /// or the commits of the same process on SQLite (the default).
    #[default]
    Notify,
    /// Polling only. The setting for PostgreSQL behind a proxy that pools
    /// connections per transaction (PgBouncer's `pool_mode = transaction`),
    /// where no session stays to listen on.
    Poll,
}

/// The migrations, of a backend's list in order (the one at index `v - 1`
/// takes a store from version `v` to `v + 1`), that take a store at schema
/// version `found` to the current one.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn migrations_from(migrations: &'static [&'static str], found: i64) -> &'static [&'static str] {
    let start = usize::try_from(found - 1).unwrap_or(0);
    migrations.get(start..).unwrap_or_default()
}

/// How many rows [`DeliveryStore::purge_delivered`] deletes per transaction.
pub const PURGE_BATCH: u32 = 1000;

/// Whether a purge whose last batch deleted `deleted` rows is done.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn purge_done(deleted: u64) -> bool {
    deleted < u64::from(PURGE_BATCH)
}

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
    /// How long delivered and skipped envelopes are kept before
    /// [`purge_delivered`](DeliveryStore::purge_delivered) deletes them
    /// (default 7 days). Dead letters are kept until an operator acts.
    pub delivered_retention: Duration,
    /// How long to wait for another connection's write lock (default 5 s).
    pub busy_timeout: Duration,
    /// How relays learn of new work (default [`WakeupMode::Notify`]).
    pub wakeups: WakeupMode,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::Full,
            lease: Duration::from_secs(30),
            inbox_retention: Duration::from_secs(7 * 24 * 3600),
            delivered_retention: Duration::from_secs(7 * 24 * 3600),
            busy_timeout: Duration::from_secs(5),
            wakeups: WakeupMode::Notify,
        }
    }
}
