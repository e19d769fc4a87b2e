//! One store type for either backend, chosen at run time (feature `sqlite`,
//! `postgres`, or both): a service that reads its database from
//! configuration holds an [`AnyStore`] and calls the same operations
//! whichever it is. A build with one backend has that variant alone.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[cfg(feature = "postgres")]
use super::postgres::PostgresStore;
#[cfg(feature = "sqlite")]
use super::sqlite::SqliteStore;
use super::{
    Admission, AdmissionResult, Claim, Claimed, DeadLetterFilter, DeadLetters, Delivery,
    DeliveryStore, HeldKey, QuarantinedRow, RedriveBatch, Redriven, RunReport, SendError,
    StatusCounts, StoreError, StoreOptions,
};
use integration_automation_patterns::envelope::state::{
    Dispatched, Pending, Retrying, Skipped, State,
};
use integration_automation_patterns::{AnyEnvelope, Envelope};

/// A store on SQLite or on PostgreSQL, chosen at run time.
///
/// It has the operations of [`DeliveryStore`], each passed to the backend
/// it holds. Work done in the store's transaction (a business write beside
/// [`enqueue`](AnyStore::enqueue), an inbox effect) receives an [`AnyTx`], the
/// backend's own transaction, since the business SQL is the caller's and is
/// written for one database or the other.
///
/// ```no_run
/// # #[cfg(all(feature = "sqlite", feature = "postgres"))] {
/// use iap_store::{AnyStore, AnyTx, StoreOptions};
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
pub enum AnyTx<'a, 'c> {
    /// An SQLite transaction.
    #[cfg(feature = "sqlite")]
    Sqlite(&'a mut rusqlite::Transaction<'c>),
    /// A PostgreSQL transaction.
    #[cfg(feature = "postgres")]
    Postgres(&'a mut postgres::Transaction<'c>),
}

/// The same call on whichever backend the store holds.
macro_rules! on_backend {
    ($store:expr, $backend:ident => $call:expr) => {
        match $store {
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite($backend) => $call,
            #[cfg(feature = "postgres")]
            AnyStore::Postgres($backend) => $call,
        }
    };
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
    pub fn options(&self) -> StoreOptions {
        on_backend!(self, store => store.options())
    }

    /// See [`DeliveryStore::write`].
    pub fn write<T, E>(
        &mut self,
        work: impl FnOnce(&mut AnyTx<'_, '_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        match self {
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite(store) => store.write(|tx| work(&mut AnyTx::Sqlite(tx))),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(store) => store.write(|tx| work(&mut AnyTx::Postgres(tx))),
        }
    }

    /// See [`DeliveryStore::enqueue`].
    pub fn enqueue<P: Serialize>(
        tx: &mut AnyTx<'_, '_>,
        envelope: &Envelope<Pending, P>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match tx {
            #[cfg(feature = "sqlite")]
            AnyTx::Sqlite(tx) => SqliteStore::enqueue(tx, envelope, now),
            #[cfg(feature = "postgres")]
            AnyTx::Postgres(tx) => PostgresStore::enqueue(tx, envelope, now),
        }
    }

    /// See [`DeliveryStore::claim_due`].
    pub fn claim_due<P: Serialize + DeserializeOwned>(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Claimed<P>, StoreError> {
        on_backend!(self, store => store.claim_due(now, limit))
    }

    /// See [`DeliveryStore::record`].
    pub fn record<P: Serialize>(
        &mut self,
        outcome: impl Into<AnyEnvelope<P>>,
    ) -> Result<(), StoreError> {
        let outcome = outcome.into();
        on_backend!(self, store => store.record(outcome))
    }

    /// See [`DeliveryStore::record_retry_after`].
    pub fn record_retry_after<P: Serialize>(
        &mut self,
        retrying: Envelope<Retrying, P>,
        retry_after: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_backend!(self, store => store.record_retry_after(retrying, retry_after))
    }

    /// See [`DeliveryStore::extend_lease`].
    pub fn extend_lease<P>(
        &mut self,
        claim: &mut Claim<P>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_backend!(self, store => store.extend_lease(claim, now))
    }

    /// See [`DeliveryStore::release_unsent`].
    pub fn release_unsent<P>(&mut self, claims: &[Claim<P>]) -> Result<usize, StoreError> {
        on_backend!(self, store => store.release_unsent(claims))
    }

    /// See [`DeliveryStore::run_once`].
    pub fn run_once<P, F>(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
        send: F,
    ) -> Result<RunReport, StoreError>
    where
        P: Serialize + DeserializeOwned,
        F: FnMut(&Envelope<Dispatched, P>) -> Result<Delivery, SendError>,
    {
        on_backend!(self, store => store.run_once(now, limit, send))
    }

    /// See [`DeliveryStore::admit`]; the effect receives the backend's [`AnyTx`].
    pub fn admit<P, T, E, F>(
        &mut self,
        envelope: Envelope<Pending, P>,
        now: DateTime<Utc>,
        effect: F,
    ) -> Result<Admission<T, P>, StoreError>
    where
        P: Serialize,
        E: std::fmt::Display,
        F: FnOnce(&mut AnyTx<'_, '_>, &Envelope<Dispatched, P>) -> Result<T, E>,
    {
        match self {
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite(store) => store.admit(envelope, now, |tx, event| {
                effect(&mut AnyTx::Sqlite(tx), event)
            }),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(store) => store.admit(envelope, now, |tx, event| {
                effect(&mut AnyTx::Postgres(tx), event)
            }),
        }
    }

    /// See [`DeliveryStore::admit_batch`]; the effect receives the backend's [`AnyTx`].
    pub fn admit_batch<P, T, E, F>(
        &mut self,
        envelopes: Vec<Envelope<Pending, P>>,
        now: DateTime<Utc>,
        mut effect: F,
    ) -> Result<Vec<AdmissionResult<T, P>>, StoreError>
    where
        P: Serialize,
        E: std::fmt::Display,
        F: FnMut(&mut AnyTx<'_, '_>, &Envelope<Dispatched, P>) -> Result<T, E>,
    {
        match self {
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite(store) => store.admit_batch(envelopes, now, |tx, event| {
                effect(&mut AnyTx::Sqlite(tx), event)
            }),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(store) => store.admit_batch(envelopes, now, |tx, event| {
                effect(&mut AnyTx::Postgres(tx), event)
            }),
        }
    }

    /// See [`DeliveryStore::purge_delivered`].
    pub fn purge_delivered(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        on_backend!(self, store => store.purge_delivered(now))
    }

    /// See [`DeliveryStore::purge_inbox`].
    pub fn purge_inbox(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        on_backend!(self, store => store.purge_inbox(now))
    }

    /// See [`DeliveryStore::load_any`].
    pub fn load_any<P: DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
    ) -> Result<AnyEnvelope<P>, StoreError> {
        on_backend!(self, store => store.load_any(source_system, event_id))
    }

    /// See [`DeliveryStore::load`].
    pub fn load<S: State, P: DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
    ) -> Result<Envelope<S, P>, StoreError> {
        on_backend!(self, store => store.load(source_system, event_id))
    }

    /// See [`DeliveryStore::dead_letters`].
    pub fn dead_letters<P: DeserializeOwned>(
        &mut self,
        limit: usize,
    ) -> Result<DeadLetters<P>, StoreError> {
        on_backend!(self, store => store.dead_letters(limit))
    }

    /// See [`DeliveryStore::dead_letters_matching`].
    pub fn dead_letters_matching<P: DeserializeOwned>(
        &mut self,
        filter: &DeadLetterFilter,
        limit: usize,
    ) -> Result<DeadLetters<P>, StoreError> {
        on_backend!(self, store => store.dead_letters_matching(filter, limit))
    }

    /// See [`DeliveryStore::count_dead_letters`].
    pub fn count_dead_letters(&mut self, filter: &DeadLetterFilter) -> Result<u64, StoreError> {
        on_backend!(self, store => store.count_dead_letters(filter))
    }

    /// See [`DeliveryStore::redrive_matching`].
    pub fn redrive_matching<P: Serialize + DeserializeOwned>(
        &mut self,
        filter: &DeadLetterFilter,
        limit: usize,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<RedriveBatch<P>, StoreError> {
        on_backend!(self, store => store.redrive_matching(filter, limit, reason, now))
    }

    /// See [`DeliveryStore::redrive`].
    pub fn redrive<P: Serialize + DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Envelope<Pending, P>, StoreError> {
        on_backend!(self, store => store.redrive(source_system, event_id, reason, now))
    }

    /// See [`DeliveryStore::redrive_all`].
    pub fn redrive_all<P: Serialize + DeserializeOwned>(
        &mut self,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Redriven, StoreError> {
        on_backend!(self, store => store.redrive_all::<P>(reason, now))
    }

    /// See [`DeliveryStore::skip_dead_letter`].
    pub fn skip_dead_letter<P: Serialize + DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Envelope<Skipped, P>, StoreError> {
        on_backend!(self, store => store.skip_dead_letter(source_system, event_id, reason, now))
    }

    /// See [`DeliveryStore::held_keys`].
    pub fn held_keys(&mut self, limit: usize) -> Result<Vec<HeldKey>, StoreError> {
        on_backend!(self, store => store.held_keys(limit))
    }

    /// See [`DeliveryStore::quarantined`].
    pub fn quarantined(&mut self, limit: usize) -> Result<Vec<QuarantinedRow>, StoreError> {
        on_backend!(self, store => store.quarantined(limit))
    }

    /// See [`DeliveryStore::release_quarantined`].
    pub fn release_quarantined<P: DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<AnyEnvelope<P>, StoreError> {
        on_backend!(self, store => store.release_quarantined(source_system, event_id, now))
    }

    /// See [`DeliveryStore::delete_quarantined`].
    pub fn delete_quarantined(
        &mut self,
        source_system: &str,
        event_id: &str,
    ) -> Result<(), StoreError> {
        on_backend!(self, store => store.delete_quarantined(source_system, event_id))
    }

    /// See [`DeliveryStore::verify`].
    pub fn verify(&mut self) -> Result<Vec<StoreError>, StoreError> {
        on_backend!(self, store => store.verify())
    }

    /// See [`DeliveryStore::counts`].
    pub fn counts(&mut self) -> Result<StatusCounts, StoreError> {
        on_backend!(self, store => store.counts())
    }

    /// See [`DeliveryStore::next_due_at`].
    pub fn next_due_at(&mut self) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_backend!(self, store => store.next_due_at())
    }

    /// See [`DeliveryStore::oldest_due_age`].
    pub fn oldest_due_age(&mut self, now: DateTime<Utc>) -> Result<Option<Duration>, StoreError> {
        on_backend!(self, store => store.oldest_due_age(now))
    }
}
