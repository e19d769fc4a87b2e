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

/// The operations whose code is the same on both async stores: the stores'
/// SQL modules name their statements alike, and each store has a `pool`,
/// `options`, an `enqueue_in`, an `admit_here`, a `record_rows` and a
/// `rewrite_dead_letter`, and its module a `release_claim`. Expanded inside each store's
/// `impl AsyncDeliveryStore`, where those names resolve.
#[cfg(any(feature = "async-sqlite", feature = "async-postgres"))]
macro_rules! shared_async_operations {
    () => {
        async fn commit(tx: Self::Tx) -> Result<(), StoreError> {
            Ok(tx.commit().await?)
        }

        async fn enqueue<P: Serialize + Sync>(
            tx: &mut Self::Tx,
            envelope: &Envelope<Pending, P>,
            now: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            Self::enqueue_in(tx, envelope, now).await
        }

        async fn record_not_before<P: Serialize + Send + Sync>(
            &self,
            outcome: AnyEnvelope<P>,
            retry_after: Option<DateTime<Utc>>,
        ) -> Result<(), StoreError> {
            let due_at = outcome_due_at(&outcome, retry_after)?.map(micros);
            let text = encode_any(&outcome)?;
            // One statement, so one implicit transaction: no begin and commit
            // to send to the connection on top of it.
            let updated = sqlx::query(sql::RECORD)
                .bind(outcome.source_system())
                .bind(outcome.event_id())
                .bind(outcome.status().as_str())
                .bind(due_at)
                .bind(text)
                .bind(i64::from(outcome.attempt_count()))
                .bind(settled_at(outcome.status(), outcome.last_transition()))
                .execute(&self.pool)
                .await?
                .rows_affected();
            recorded(updated, &outcome)
        }

        async fn record_batch<P: Serialize + Send + Sync>(
            &self,
            outcomes: &[Outcome<P>],
        ) -> Result<Vec<Recorded>, StoreError> {
            let batch = BatchRecord::new(outcomes);
            let written = if batch.rows().is_empty() {
                std::collections::HashSet::new()
            } else {
                self.record_rows(batch.rows()).await?
            };
            Ok(batch.results(&written))
        }

        async fn extend_lease<P: Send + Sync>(
            &self,
            claim: &mut Claim<P>,
            now: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            let lease_until = add(now, self.options.lease);
            let envelope = &claim.envelope;
            let updated = sqlx::query(sql::EXTEND_LEASE)
                .bind(envelope.source_system())
                .bind(envelope.event_id())
                .bind(micros(lease_until))
                .bind(micros(now))
                .bind(i64::from(envelope.attempt_count()))
                .execute(&self.pool)
                .await?
                .rows_affected();
            if updated == 0 {
                return Err(claim_lost(
                    envelope.source_system(),
                    envelope.event_id(),
                    envelope.attempt_count(),
                ));
            }
            claim.lease_until = lease_until;
            Ok(())
        }

        async fn release_unsent<P: Send + Sync>(
            &self,
            claims: &[Claim<P>],
        ) -> Result<usize, StoreError> {
            let mut tx = self.begin().await?;
            let mut released = 0;
            for claim in claims {
                released += release_claim(&mut tx, claim).await?;
            }
            tx.commit().await?;
            Ok(usize::try_from(released).unwrap_or(usize::MAX))
        }

        async fn purge_inbox(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
            let cutoff = micros(subtract(now, self.options.inbox_retention));
            let purged = sqlx::query(sql::PURGE_INBOX)
                .bind(cutoff)
                .execute(&self.pool)
                .await?
                .rows_affected();
            Ok(usize::try_from(purged).unwrap_or(usize::MAX))
        }

        async fn purge_delivered(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
            let cutoff = micros(subtract(now, self.options.delivered_retention));
            let mut purged = 0;
            loop {
                let deleted = sqlx::query(sql::PURGE_SETTLED)
                    .bind(cutoff)
                    .bind(i64::from(crate::PURGE_BATCH))
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                purged += usize::try_from(deleted).unwrap_or(usize::MAX);
                if crate::purge_done(deleted) {
                    return Ok(purged);
                }
            }
        }

        async fn delete_quarantined(
            &self,
            source_system: &str,
            event_id: &str,
        ) -> Result<(), StoreError> {
            let deleted = sqlx::query(sql::DELETE_QUARANTINED)
                .bind(source_system)
                .bind(event_id)
                .execute(&self.pool)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Err(not_quarantined(source_system, event_id));
            }
            Ok(())
        }

        async fn verify(&self) -> Result<Vec<StoreError>, StoreError> {
            let mut connection = self.pool.acquire().await?;
            let rows = select_rows(&mut connection, sqlx::query(sql::SELECT_UNQUARANTINED)).await?;
            Ok(rows
                .into_iter()
                .filter_map(|(_, raw)| raw.read::<serde_json::Value>().err())
                .collect())
        }

        async fn redrive<P: Serialize + DeserializeOwned + Send + Sync>(
            &self,
            source_system: &str,
            event_id: &str,
            reason: &str,
            now: DateTime<Utc>,
        ) -> Result<Envelope<Pending, P>, StoreError> {
            self.rewrite_dead_letter(source_system, event_id, Some(now), |failed| {
                failed.redrive_at(reason, now)
            })
            .await
        }

        async fn skip_dead_letter<P: Serialize + DeserializeOwned + Send + Sync>(
            &self,
            source_system: &str,
            event_id: &str,
            reason: &str,
            now: DateTime<Utc>,
        ) -> Result<Envelope<Skipped, P>, StoreError> {
            self.rewrite_dead_letter(source_system, event_id, None, |failed| {
                failed.redrive_at(reason, now).skip_at(reason, now)
            })
            .await
        }

        async fn held_keys(&self, limit: usize) -> Result<Vec<HeldKey>, StoreError> {
            if !self.options.dead_letter_keys.holds() {
                return Ok(Vec::new());
            }
            let rows = sqlx::query(sql::HELD_KEYS)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(HeldKey::from_columns(
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                        row.try_get(4)?,
                    ))
                })
                .collect()
        }

        async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
            let next: Option<i64> = sqlx::query(sql::MIN_DUE_BETWEEN)
                .bind(micros(DateTime::<Utc>::MIN_UTC))
                .bind(micros(DateTime::<Utc>::MAX_UTC))
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
            Ok(next.and_then(DateTime::from_timestamp_micros))
        }

        async fn oldest_due_age(&self, now: DateTime<Utc>) -> Result<Option<Duration>, StoreError> {
            let oldest: Option<i64> = sqlx::query(sql::OLDEST_DUE_BETWEEN)
                .bind(micros(DateTime::<Utc>::MIN_UTC))
                .bind(micros(now))
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
            Ok(oldest.map(|due| waited_since(due, now)))
        }

        async fn admit<P, T, E, F>(
            &self,
            envelope: Envelope<Pending, P>,
            now: DateTime<Utc>,
            effect: F,
        ) -> Result<Admission<T, P>, StoreError>
        where
            P: Serialize + Send + Sync,
            T: Send,
            E: std::fmt::Display + Send,
            F: for<'t> FnOnce(
                    &'t mut Self::Tx,
                    &'t Envelope<Dispatched, P>,
                ) -> BoxFuture<'t, Result<T, E>>
                + Send,
        {
            let span = admission_span(&envelope);
            self.admit_here(envelope, now, effect).in_span(span).await
        }
    };
}
#[cfg(any(feature = "async-sqlite", feature = "async-postgres"))]
pub(crate) use shared_async_operations;
