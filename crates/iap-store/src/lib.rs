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
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// The statuses of settled rows as an SQL list, for both backends: delivered
/// (processed or acknowledged) or skipped, the rows retention deletes once
/// they have been settled long enough (`rows::settled_at` gives the time,
/// which dead letters keep too, as the time they failed).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! settled_statuses {
    () => {
        "('processed', 'acknowledged', 'skipped')"
    };
}

/// The statuses of rows that can hold their ordering key back, as an SQL
/// list: waiting, in flight, or (with [`DeadLetterKeys::Hold`]) a dead
/// letter or quarantined. The index of keyed rows covers these, and each
/// query over it names the list itself, so that SQLite sees it may use the
/// partial index.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! holding_statuses {
    () => {
        "('pending', 'dispatched', 'retrying', 'failed', 'quarantined')"
    };
}

/// Whether a keyed row (of the outbox, unaliased) is free to be claimed: no
/// earlier row of its ordering key is waiting or in flight, nor, where
/// `$hold` is true, a dead letter or quarantined. `$order` is the column of
/// enqueue order (`seq`, or SQLite's `rowid`); `$hold` the parameter of the
/// store's [`DeadLetterKeys`] setting.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! key_is_free {
    ($order:literal, $hold:literal) => {
        concat!(
            "(iap_outbox.ordering_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM iap_outbox AS earlier
                WHERE earlier.ordering_key = iap_outbox.ordering_key
                    AND earlier.",
            $order,
            " < iap_outbox.",
            $order,
            "
                    AND earlier.status IN ",
            holding_statuses!(),
            "
                    AND (earlier.status IN ('pending', 'dispatched', 'retrying') OR ",
            $hold,
            ")))"
        )
    };
}

/// The earliest dead letter (or quarantined row) of a keyed row's ordering
/// key before it, as `source/event_id`, or null: what a row claimed past it
/// (the store releasing keys of dead letters) notes in its history.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! dead_letter_passed {
    ($order:literal) => {
        concat!(
            "(SELECT earlier.source || '/' || earlier.event_id FROM iap_outbox AS earlier
              WHERE earlier.ordering_key = iap_outbox.ordering_key
                  AND earlier.",
            $order,
            " < iap_outbox.",
            $order,
            "
                  AND earlier.status IN ",
            holding_statuses!(),
            "
                  AND earlier.status IN ('failed', 'quarantined')
              ORDER BY earlier.",
            $order,
            " LIMIT 1)"
        )
    };
}

/// The index that [`key_is_free!`] reads: the keyed rows that can hold
/// their key back, by key in enqueue order (`$columns`: the key, then `seq`;
/// on SQLite the key alone, the rowid following in every index).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! key_order_index {
    ($columns:literal) => {
        concat!(
            "CREATE INDEX iap_outbox_key_order ON iap_outbox (",
            $columns,
            ")
                 WHERE ordering_key IS NOT NULL AND status IN ",
            holding_statuses!(),
            ";"
        )
    };
}

/// The index that [`dead_letter_passed!`] and [`held_keys!`] read: the
/// dead letters and quarantined rows by key in enqueue order (`$columns` as
/// for [`key_order_index!`]). Few rows, so a claim asks each row it may take
/// for a dead letter before it at the cost of one probe (and the planner
/// knows it).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! key_dead_letters_index {
    ($columns:literal) => {
        concat!(
            "CREATE INDEX iap_outbox_key_dead_letters ON iap_outbox (",
            $columns,
            ")
                 WHERE ordering_key IS NOT NULL AND status IN ('failed', 'quarantined');"
        )
    };
}

/// The keys held by a dead letter (or a quarantined row) at their head, at
/// most `$limit`, oldest first: the key, the holding row's source, event id
/// and status, and how many envelopes of the key wait behind it (`waiting`).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! held_keys {
    ($order:literal, $limit:literal) => {
        concat!(
            "SELECT head.ordering_key, head.source, head.event_id, head.status,
                 (SELECT COUNT(*) FROM iap_outbox AS behind
                  WHERE behind.ordering_key = head.ordering_key
                      AND behind.",
            $order,
            " > head.",
            $order,
            "
                      AND behind.status IN ",
            holding_statuses!(),
            "
                      AND behind.status IN ('pending', 'dispatched', 'retrying')) AS waiting
             FROM iap_outbox AS head
             WHERE head.ordering_key IS NOT NULL AND head.status IN ",
            holding_statuses!(),
            "
                 AND head.status IN ('failed', 'quarantined')
                 AND NOT EXISTS (
                     SELECT 1 FROM iap_outbox AS earlier
                     WHERE earlier.ordering_key = head.ordering_key
                         AND earlier.",
            $order,
            " < head.",
            $order,
            "
                         AND earlier.status IN ",
            holding_statuses!(),
            ")
             ORDER BY head.",
            $order,
            " LIMIT ",
            $limit
        )
    };
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod any_store;
#[cfg(feature = "async")]
mod asynchronous;
mod backend;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod batch_record;
#[cfg(feature = "async-postgres")]
mod clock;
mod dead_letter_filter;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod engine;
mod error;
#[doc(hidden)]
pub mod observe;
mod outcome;
#[cfg(feature = "postgres")]
pub mod postgres;
mod rows;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "async")]
mod wakeup;

use std::time::Duration;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use any_store::{AnyStore, AnyTx};
#[cfg(feature = "async")]
pub use asynchronous::{AsyncDeliveryStore, BoxFuture};
pub use backend::{AdmissionResult, DeliveryStore, Recorded};
pub use dead_letter_filter::DeadLetterFilter;
pub use error::StoreError;
pub use outcome::{
    Admission, Claim, Claimed, DeadLetters, Delivery, HeldKey, Outcome, QuarantinedRow,
    RedriveBatch, Redriven, RunReport, SendError, StatusCounts,
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

/// What a dead letter does to its ordering key
/// ([`StoreOptions::dead_letter_keys`]). Envelopes with an ordering key are
/// sent one at a time in the order they were enqueued; this says whether
/// that order may skip an envelope that will not be delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeadLetterKeys {
    /// The envelopes after a dead letter (or a quarantined row) of their
    /// key wait until an operator redrives it (it is then sent first) or
    /// skips it: nothing is ever sent out of order (the default). The
    /// operator sees the held keys with `held_keys`.
    #[default]
    Hold,
    /// The envelopes after a dead letter go on; each says in its history
    /// which dead letter of its key it was sent past.
    Release,
}

impl DeadLetterKeys {
    /// Whether dead letters hold their keys, as the statements' parameter.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    fn holds(self) -> bool {
        self == DeadLetterKeys::Hold
    }
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

/// Settings of a store: the defaults, changed through the setters. The
/// fields are public to read; the struct is `#[non_exhaustive]`, so that a
/// new setting is not a breaking change.
///
/// ```
/// use std::time::Duration;
/// use iap_store::{Durability, StoreOptions};
///
/// let options = StoreOptions::default()
///     .lease(Duration::from_secs(60))
///     .durability(Durability::Normal);
/// assert_eq!(options.lease, Duration::from_secs(60));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// What a dead letter does to the envelopes after it with the same
    /// ordering key (default [`DeadLetterKeys::Hold`]).
    pub dead_letter_keys: DeadLetterKeys,
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
            dead_letter_keys: DeadLetterKeys::Hold,
        }
    }
}

impl StoreOptions {
    /// Sets [`durability`](Self::durability).
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets [`lease`](Self::lease).
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Sets [`inbox_retention`](Self::inbox_retention).
    #[must_use]
    pub fn inbox_retention(mut self, inbox_retention: Duration) -> Self {
        self.inbox_retention = inbox_retention;
        self
    }

    /// Sets [`delivered_retention`](Self::delivered_retention).
    #[must_use]
    pub fn delivered_retention(mut self, delivered_retention: Duration) -> Self {
        self.delivered_retention = delivered_retention;
        self
    }

    /// Sets [`busy_timeout`](Self::busy_timeout).
    #[must_use]
    pub fn busy_timeout(mut self, busy_timeout: Duration) -> Self {
        self.busy_timeout = busy_timeout;
        self
    }

    /// Sets [`wakeups`](Self::wakeups).
    #[must_use]
    pub fn wakeups(mut self, wakeups: WakeupMode) -> Self {
        self.wakeups = wakeups;
        self
    }

    /// Sets [`dead_letter_keys`](Self::dead_letter_keys).
    #[must_use]
    pub fn dead_letter_keys(mut self, dead_letter_keys: DeadLetterKeys) -> Self {
        self.dead_letter_keys = dead_letter_keys;
        self
    }
}

/// The README's examples, run as doctests.
#[cfg(all(
    doctest,
    feature = "sqlite",
    feature = "postgres",
    feature = "async-sqlite",
    feature = "async-postgres"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
