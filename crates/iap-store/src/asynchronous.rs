//! The store's operations for async services: the operations of
//! [`DeliveryStore`](super::DeliveryStore), with the same names and the same
//! behaviour, as futures that a tokio service awaits. The operator's
//! filtered dead-letter operations (`dead_letters_matching`,
//! `count_dead_letters`, `redrive_matching`) are on the blocking stores only,
//! which `iap` uses.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::backend::{RELEASE_PAUSE, RELEASE_TRIES, Recorded};
use super::rows::typed;
use super::{
    Admission, AdmissionResult, Claim, Claimed, DeadLetters, Delivery, HeldKey, Outcome,
    QuarantinedRow, Redriven, RunReport, SendError, StatusCounts, StoreError, StoreOptions,
    Wakeups,
};
use integration_automation_patterns::envelope::state::{
    Dispatched, Pending, Retrying, Skipped, State,
};
use integration_automation_patterns::{AnyEnvelope, Envelope};

/// A boxed future that may be sent across threads: what an inbox effect
/// returns, so that it can borrow the admitting transaction.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Gives back the claims of a relay pass that stopped at a failed record,
/// trying again for a short while; returns the error the pass ends with.
async fn release_after<S: AsyncDeliveryStore, P: Send + Sync>(
    store: &S,
    recording: StoreError,
    unsent: &[Claim<P>],
) -> StoreError {
    if unsent.is_empty() {
        return recording;
    }
    let mut last_error = None;
    for attempt in 0..RELEASE_TRIES {
        if attempt > 0 {
            tokio::time::sleep(RELEASE_PAUSE).await;
        }
        match store.release_unsent(unsent).await {
            Ok(_) => return recording,
            Err(error) => last_error = Some(error),
        }
    }
    match last_error {
        Some(releasing) => StoreError::ClaimsNotReleased {
            recording: Box::new(recording),
            releasing: Box::new(releasing),
            unsent: unsent.len(),
        },
        None => recording,
    }
}

/// A durable home for envelopes in an async service: transactional outbox
/// with a leased relay, idempotent inbox, dead letters, typed loads and
/// monitoring, each operation one database transaction on a pooled
/// connection.
///
/// Every method takes `&self`, and the stores are cheap to clone (they share
/// one pool), so one store serves every task of a service. The schema is the
/// blocking stores' own: a blocking relay and an async service can share a
/// database. The rules of each operation are those of the blocking method of
/// the same name in [`DeliveryStore`](super::DeliveryStore).
pub trait AsyncDeliveryStore: Clone + Send + Sync + 'static {
    /// A write transaction of the store's driver: the store's own
    /// ([`begin`](Self::begin)) or one the caller opened on the same
    /// database, for [`enqueue`](Self::enqueue) and inbox effects.
    type Tx: Send;

    /// The store's settings.
    fn options(&self) -> StoreOptions;

    /// The time this store goes by, which the relay and the inboxes use for
    /// claims, leases, due times and outcomes: on SQLite (one machine) this
    /// machine's clock; on PostgreSQL the server's, as last measured by
    /// [`sync_clock`](Self::sync_clock), so that workers whose clocks
    /// disagree still agree on when a lease runs out. The methods that take
    /// a time take it as given, for tests and for history.
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// Measures the store's clock against this machine's, so that
    /// [`now`](Self::now) follows it, and returns the store's time less this
    /// machine's (zero on SQLite). A relay measures it when it starts and
    /// every 30 seconds, and warns when it is past its
    /// `RelayConfig::max_clock_offset` (crate `iap-relay`).
    fn sync_clock(&self) -> impl Future<Output = Result<TimeDelta, StoreError>> + Send {
        async { Ok(TimeDelta::zero()) }
    }

    /// Opens a write transaction on a pooled connection: the way to put a
    /// business write and its [`enqueue`](Self::enqueue) in one commit when
    /// the caller has no transaction of its own.
    fn begin(&self) -> impl Future<Output = Result<Self::Tx, StoreError>> + Send;

    /// Commits a transaction opened by [`begin`](Self::begin).
    fn commit(tx: Self::Tx) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Adds a new envelope to the outbox inside the transaction `tx`, due at
    /// `now`. It commits with the caller's own writes, or not at all.
    fn enqueue<P: Serialize + Sync>(
        tx: &mut Self::Tx,
        envelope: &Envelope<Pending, P>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// See [`DeliveryStore::claim_due`](super::DeliveryStore::claim_due).
    fn claim_due<P: Serialize + DeserializeOwned + Send + Sync>(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Claimed<P>, StoreError>> + Send;

    /// See [`DeliveryStore::record`](super::DeliveryStore::record).
    fn record<P: Serialize + Send + Sync>(
        &self,
        outcome: impl Into<AnyEnvelope<P>> + Send,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.record_not_before(outcome.into(), None)
    }

    /// See [`DeliveryStore::record_retry_after`](super::DeliveryStore::record_retry_after).
    fn record_retry_after<P: Serialize + Send + Sync>(
        &self,
        retrying: Envelope<Retrying, P>,
        retry_after: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.record_not_before(retrying.into(), Some(retry_after))
    }

    /// See [`DeliveryStore::record_not_before`](super::DeliveryStore::record_not_before).
    fn record_not_before<P: Serialize + Send + Sync>(
        &self,
        outcome: AnyEnvelope<P>,
        retry_after: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// See [`DeliveryStore::record_batch`](super::DeliveryStore::record_batch).
    fn record_batch<P: Serialize + Send + Sync>(
        &self,
        outcomes: &[Outcome<P>],
    ) -> impl Future<Output = Result<Vec<Recorded>, StoreError>> + Send;

    /// A subscription to this store's wakeups, for a relay about to wait
    /// for work: it completes when an enqueue commits (see [`Wakeups`]).
    /// Subscribe before the claim that may find nothing, so that an enqueue
    /// between the two still wakes the waiter. Polling only under
    /// [`WakeupMode::Poll`](super::WakeupMode::Poll).
    fn wakeups(&self) -> impl Future<Output = Result<Wakeups, StoreError>> + Send;

    /// See [`DeliveryStore::extend_lease`](super::DeliveryStore::extend_lease).
    fn extend_lease<P: Send + Sync>(
        &self,
        claim: &mut Claim<P>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// See [`DeliveryStore::release_unsent`](super::DeliveryStore::release_unsent).
    fn release_unsent<P: Send + Sync>(
        &self,
        claims: &[Claim<P>],
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// One relay pass at `now`, as
    /// [`DeliveryStore::run_once`](super::DeliveryStore::run_once) does it
    /// with an async sender: claims up to `limit` due envelopes, awaits
    /// `send` for each in turn, and records each outcome as
    /// [`Outcome::of_send`] maps it. If recording fails, the claims not yet
    /// sent are released at once, with no attempt spent.
    fn run_once<P, F, Fut>(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        mut send: F,
    ) -> impl Future<Output = Result<RunReport, StoreError>> + Send
    where
        P: Serialize + DeserializeOwned + Send + Sync,
        F: FnMut(&Envelope<Dispatched, P>) -> Fut + Send,
        Fut: Future<Output = Result<Delivery, SendError>> + Send,
    {
        async move {
            let claimed = self.claim_due::<P>(now, limit).await?;
            let mut report = RunReport::of_claim(&claimed);
            let mut claims = claimed.claims.into_iter();
            while let Some(Claim { envelope, .. }) = claims.next() {
                let result = send(&envelope).await;
                let outcome = Outcome::of_send(envelope, result, now);
                let status = outcome.envelope.status();
                if let Err(recording) = self
                    .record_not_before(outcome.envelope, outcome.retry_after)
                    .await
                {
                    let unsent: Vec<Claim<P>> = claims.collect();
                    return Err(release_after(self, recording, &unsent).await);
                }
                report.count(status);
            }
            Ok(report)
        }
    }

    /// See [`DeliveryStore::admit`](super::DeliveryStore::admit). The effect
    /// runs inside the admitting transaction and may await (a boxed future
    /// borrowing the transaction: `|tx, event| Box::pin(async move { .. })`).
    fn admit<P, T, E, F>(
        &self,
        envelope: Envelope<Pending, P>,
        now: DateTime<Utc>,
        effect: F,
    ) -> impl Future<Output = Result<Admission<T, P>, StoreError>> + Send
    where
        P: Serialize + Send + Sync,
        T: Send,
        E: std::fmt::Display + Send,
        F: for<'t> FnOnce(
                &'t mut Self::Tx,
                &'t Envelope<Dispatched, P>,
            ) -> BoxFuture<'t, Result<T, E>>
            + Send;

    /// See [`DeliveryStore::admit_batch`](super::DeliveryStore::admit_batch).
    fn admit_batch<P, T, E, F>(
        &self,
        envelopes: Vec<Envelope<Pending, P>>,
        now: DateTime<Utc>,
        effect: F,
    ) -> impl Future<Output = Result<Vec<AdmissionResult<T, P>>, StoreError>> + Send
    where
        P: Serialize + Send + Sync,
        T: Send,
        E: std::fmt::Display + Send,
        F: for<'t> FnMut(
                &'t mut Self::Tx,
                &'t Envelope<Dispatched, P>,
            ) -> BoxFuture<'t, Result<T, E>>
            + Send;

    /// See [`DeliveryStore::purge_inbox`](super::DeliveryStore::purge_inbox).
    fn purge_inbox(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// See [`DeliveryStore::purge_delivered`](super::DeliveryStore::purge_delivered).
    fn purge_delivered(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// See [`DeliveryStore::load_any`](super::DeliveryStore::load_any).
    fn load_any<P: DeserializeOwned + Send + Sync>(
        &self,
        source_system: &str,
        event_id: &str,
    ) -> impl Future<Output = Result<AnyEnvelope<P>, StoreError>> + Send;

    /// See [`DeliveryStore::load`](super::DeliveryStore::load).
    fn load<S: State, P: DeserializeOwned + Send + Sync>(
        &self,
        source_system: &str,
        event_id: &str,
    ) -> impl Future<Output = Result<Envelope<S, P>, StoreError>> + Send {
        async move { typed(self.load_any(source_system, event_id).await?) }
    }

    /// See [`DeliveryStore::dead_letters`](super::DeliveryStore::dead_letters).
    fn dead_letters<P: DeserializeOwned + Send + Sync>(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<DeadLetters<P>, StoreError>> + Send;

    /// See [`DeliveryStore::redrive`](super::DeliveryStore::redrive).
    fn redrive<P: Serialize + DeserializeOwned + Send + Sync>(
        &self,
        source_system: &str,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Envelope<Pending, P>, StoreError>> + Send;

    /// See [`DeliveryStore::redrive_all`](super::DeliveryStore::redrive_all).
    fn redrive_all<P: Serialize + DeserializeOwned + Send + Sync>(
        &self,
        reason: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Redriven, StoreError>> + Send;

    /// See [`DeliveryStore::skip_dead_letter`](super::DeliveryStore::skip_dead_letter).
    fn skip_dead_letter<P: Serialize + DeserializeOwned + Send + Sync>(
        &self,
        source_system: &str,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Envelope<Skipped, P>, StoreError>> + Send;

    /// See [`DeliveryStore::held_keys`](super::DeliveryStore::held_keys).
    fn held_keys(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<HeldKey>, StoreError>> + Send;

    /// See [`DeliveryStore::quarantined`](super::DeliveryStore::quarantined).
    fn quarantined(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<QuarantinedRow>, StoreError>> + Send;

    /// See [`DeliveryStore::release_quarantined`](super::DeliveryStore::release_quarantined).
    fn release_quarantined<P: DeserializeOwned + Send + Sync>(
        &self,
        source_system: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<AnyEnvelope<P>, StoreError>> + Send;

    /// See [`DeliveryStore::delete_quarantined`](super::DeliveryStore::delete_quarantined).
    fn delete_quarantined(
        &self,
        source_system: &str,
        event_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// See [`DeliveryStore::verify`](super::DeliveryStore::verify).
    fn verify(&self) -> impl Future<Output = Result<Vec<StoreError>, StoreError>> + Send;

    /// See [`DeliveryStore::counts`](super::DeliveryStore::counts).
    fn counts(&self) -> impl Future<Output = Result<StatusCounts, StoreError>> + Send;

    /// See [`DeliveryStore::next_due_at`](super::DeliveryStore::next_due_at).
    fn next_due_at(&self)
    -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;

    /// See [`DeliveryStore::oldest_due_age`](super::DeliveryStore::oldest_due_age).
    fn oldest_due_age(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Duration>, StoreError>> + Send;
}
