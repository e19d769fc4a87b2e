//! The async relay: the loop that claims due envelopes from an async store,
//! sends them, and records each outcome, until it is told to stop.
//!
//! ```no_run
//! # async fn run(store: iap_store::sqlite::AsyncSqliteStore)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use integration_automation_patterns::Envelope;
//! use iap_relay::{Relay, RelayConfig};
//! use integration_automation_patterns::state::Dispatched;
//! use iap_store::{Delivery, SendError};
//! use serde_json::Value;
//!
//! let relay = Relay::new(store, |envelope: &Envelope<Dispatched, Value>| {
//!     let id = envelope.event_id().to_owned();
//!     async move {
//!         println!("sending {id}");
//!         Ok::<_, SendError>(Delivery::Processed)
//!     }
//! })
//! .with_config(RelayConfig::default());
//! let waker = relay.waker(); // producers call waker.wake() after they enqueue
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let running = tokio::spawn(relay.run(async { let _ = stopped.await; }));
//! // ... on shutdown:
//! let _ = stop.send(());
//! let report = running.await??;
//! println!("{report:?}");
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use iap_store::observe::{self, InSpan};
use iap_store::{AsyncDeliveryStore, Claim, Delivery, Outcome, RunReport, SendError, StoreError};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::state::Dispatched;

/// How often a relay sets its backlog gauges: the counts they come from read
/// every row of the outbox (about a second on a PostgreSQL table of 10
/// million rows), so not at every pass.
#[cfg(feature = "metrics")]
const BACKLOG_REFRESH: Duration = Duration::from_secs(5);

/// The shortest sleep of an idle relay.
const MIN_IDLE_WAIT: Duration = Duration::from_millis(5);

/// How often a relay measures the store's clock against this machine's.
const CLOCK_SYNC: Duration = Duration::from_secs(30);

/// The first wait before an operation the database refused as busy is tried
/// again; each refusal doubles it, up to [`MAX_BUSY_WAIT`].
const FIRST_BUSY_WAIT: Duration = Duration::from_millis(20);

/// The longest wait between two tries of an operation refused as busy.
const MAX_BUSY_WAIT: Duration = Duration::from_secs(1);

/// Sends one claimed envelope to its receiver: a closure
/// `|envelope| async { .. }` or a type of the caller's. The future must not
/// borrow the envelope (clone what it needs).
pub trait Sender<P>: Send + Sync + 'static {
    /// Sends `envelope`: delivered, or why not.
    fn send(
        &self,
        envelope: &Envelope<Dispatched, P>,
    ) -> impl Future<Output = Result<Delivery, SendError>> + Send + 'static;
}

impl<P, F, Fut> Sender<P> for F
where
    F: Fn(&Envelope<Dispatched, P>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Delivery, SendError>> + Send + 'static,
{
    fn send(
        &self,
        envelope: &Envelope<Dispatched, P>,
    ) -> impl Future<Output = Result<Delivery, SendError>> + Send + 'static {
        self(envelope)
    }
}

/// How a [`Relay`] works: the defaults, changed through the setters. The
/// fields are public to read; the struct is `#[non_exhaustive]`, so that a
/// new setting is not a breaking change.
///
/// ```
/// use std::time::Duration;
/// use iap_relay::{RelayConfig, Recording};
///
/// let config = RelayConfig::default()
///     .concurrency(4)
///     .recording(Recording::Batched)
///     .purge_every(None);
/// assert_eq!(config.batch, 100);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayConfig {
    /// How many envelopes one claim takes (default 100).
    pub batch: usize,
    /// How many sends run at once (default 16).
    pub concurrency: usize,
    /// How long one send may take before it counts as a transient failure
    /// (default 30 s).
    pub send_timeout: Duration,
    /// The longest sleep when nothing is due; the relay wakes earlier when
    /// the next envelope falls due or it is woken (default 1 s).
    pub idle_poll: Duration,
    /// How outcomes are made durable (default [`Recording::EachOutcome`]).
    pub recording: Recording,
    /// How often the relay deletes the envelopes that retention lets go
    /// ([`purge_delivered`](AsyncDeliveryStore::purge_delivered): delivered
    /// longer ago than
    /// [`StoreOptions::delivered_retention`](iap_store::StoreOptions::delivered_retention)).
    /// Default every 10 minutes; `None` for a service that purges on a
    /// schedule of its own.
    pub purge_every: Option<Duration>,
    /// How far this machine's clock may be from the store's before the
    /// relay warns (with feature `tracing`) and notes it in
    /// [`RelayReport::clock_offset`] (default 1 s). The relay goes by the
    /// store's clock ([`AsyncDeliveryStore::now`]) whatever the offset.
    pub max_clock_offset: Duration,
}

/// How a [`Relay`] records the outcomes of its sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Recording {
    /// Each outcome in its own commit, as its send finishes. After a crash
    /// at most the envelope whose record was under way is sent again.
    #[default]
    EachOutcome,
    /// The outcomes of a whole pass (up to [`RelayConfig::batch`] sends) in
    /// one commit, once its last send finishes
    /// ([`record_batch`](iap_store::AsyncDeliveryStore::record_batch)):
    /// one synced commit for the pass instead of one per envelope. After a
    /// crash every envelope of the pass under way may be sent again (the
    /// inbox takes the copies as duplicates); a claim another worker took
    /// over meanwhile is counted in [`RunReport::lost`] and not recorded.
    Batched,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            batch: 100,
            concurrency: 16,
            send_timeout: Duration::from_secs(30),
            idle_poll: Duration::from_secs(1),
            recording: Recording::EachOutcome,
            purge_every: Some(Duration::from_secs(600)),
            max_clock_offset: Duration::from_secs(1),
        }
    }
}

impl RelayConfig {
    /// Sets [`batch`](Self::batch).
    #[must_use]
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }

    /// Sets [`concurrency`](Self::concurrency).
    #[must_use]
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Sets [`send_timeout`](Self::send_timeout).
    #[must_use]
    pub fn send_timeout(mut self, send_timeout: Duration) -> Self {
        self.send_timeout = send_timeout;
        self
    }

    /// Sets [`idle_poll`](Self::idle_poll).
    #[must_use]
    pub fn idle_poll(mut self, idle_poll: Duration) -> Self {
        self.idle_poll = idle_poll;
        self
    }

    /// Sets [`recording`](Self::recording).
    #[must_use]
    pub fn recording(mut self, recording: Recording) -> Self {
        self.recording = recording;
        self
    }

    /// Sets [`purge_every`](Self::purge_every).
    #[must_use]
    pub fn purge_every(mut self, purge_every: Option<Duration>) -> Self {
        self.purge_every = purge_every;
        self
    }

    /// Sets [`max_clock_offset`](Self::max_clock_offset).
    #[must_use]
    pub fn max_clock_offset(mut self, max_clock_offset: Duration) -> Self {
        self.max_clock_offset = max_clock_offset;
        self
    }
}

/// Wakes a sleeping [`Relay`] at once, for a producer that has just
/// enqueued an event. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct RelayWaker(Arc<Notify>);

impl RelayWaker {
    /// Ends the relay's sleep, or its next one if it is busy.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// What a relay did, from its start to its stop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayReport {
    /// The totals of its passes.
    pub sent: RunReport,
    /// Claims it gave back unsent when it was told to stop.
    pub released: usize,
    /// Leases it extended for sends that took long.
    pub leases_extended: usize,
    /// Delivered envelopes it deleted past their retention.
    pub purged: usize,
    /// The largest offset of the store's clock from this machine's that it
    /// measured past [`RelayConfig::max_clock_offset`] (zero if none was):
    /// how far off this machine's clock was.
    pub clock_offset: TimeDelta,
}

/// Drives an async store: claims due envelopes in batches, hands each to the
/// sender with up to [`RelayConfig::concurrency`] sends at once, records
/// each outcome as [`Outcome::of_send`] maps it, and sleeps until the next
/// envelope is due, or until an enqueue wakes it (the store's
/// [`wakeups`](AsyncDeliveryStore::wakeups), or a [`RelayWaker`]). It
/// deletes delivered envelopes past their retention now and then
/// ([`RelayConfig::purge_every`]). Stopping is graceful: sends in flight
/// finish and are recorded, claims not yet sent are given back without
/// spending an attempt, and leases of long sends are extended meanwhile.
pub struct Relay<S, D> {
    store: S,
    sender: Arc<D>,
    config: RelayConfig,
    waker: RelayWaker,
}

impl<S, D> Relay<S, D> {
    /// A relay from `store` to `sender`, with the default [`RelayConfig`].
    pub fn new(store: S, sender: D) -> Self {
        Relay {
            store,
            sender: Arc::new(sender),
            config: RelayConfig::default(),
            waker: RelayWaker::default(),
        }
    }

    /// The relay with these settings.
    pub fn with_config(mut self, config: RelayConfig) -> Self {
        self.config = config;
        self
    }

    /// A handle that wakes the relay.
    pub fn waker(&self) -> RelayWaker {
        self.waker.clone()
    }
}

impl<S, D> Relay<S, D>
where
    S: AsyncDeliveryStore,
{
    /// Runs until `shutdown` completes, then stops gracefully; returns what
    /// it did. A busy database (a write lock held elsewhere, say) is waited
    /// out, and a claim another worker took over is counted as lost and
    /// left to it; any other database error ends the run (after the sends in
    /// flight finish and what it had not sent is given back); run it again
    /// to go on.
    pub async fn run<P>(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<RelayReport, StoreError>
    where
        P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        D: Sender<P>,
    {
        let mut shutdown = pin!(shutdown);
        // Set once `shutdown` has completed: it is never polled again.
        let mut stopping = false;
        let mut report = RelayReport::default();
        // Subscribed before the first claim: an enqueue that commits after
        // a claim found nothing still ends the wait that follows.
        let mut wakeups = self.store.wakeups().await?;
        #[cfg(feature = "metrics")]
        let mut backlog_refreshed: Option<std::time::Instant> = None;
        let mut purged_at: Option<std::time::Instant> = None;
        let mut clock_synced: Option<std::time::Instant> = None;
        let mut busy_wait = FIRST_BUSY_WAIT;
        while !stopping {
            let pass = async {
                if clock_synced.is_none_or(|at| at.elapsed() >= CLOCK_SYNC) {
                    self.sync_clock(&mut report).await?;
                    clock_synced = Some(std::time::Instant::now());
                }
                let now = self.store.now();
                if let Some(every) = self.config.purge_every
                    && purged_at.is_none_or(|at| at.elapsed() >= every)
                {
                    report.purged += self.store.purge_delivered(now).await?;
                    purged_at = Some(std::time::Instant::now());
                }
                // Before the claim: an error here must not strand claims.
                #[cfg(feature = "metrics")]
                if backlog_refreshed.is_none_or(|at| at.elapsed() >= BACKLOG_REFRESH) {
                    self.refresh_backlog(now).await?;
                    backlog_refreshed = Some(std::time::Instant::now());
                }
                let claimed = self
                    .store
                    .claim_due::<P>(now, self.config.batch.max(1))
                    .await?;
                report.sent.dead_lettered += claimed.dead_lettered;
                report.sent.quarantined += claimed.quarantined.len();
                observe::count_dead_letters(claimed.dead_lettered);
                if claimed.claims.is_empty() {
                    let wait = self.idle_wait(now).await?;
                    tokio::select! {
                        () = &mut shutdown => stopping = true,
                        () = self.waker.0.notified() => {}
                        () = wakeups.next() => {}
                        () = tokio::time::sleep(wait) => {}
                    }
                    return Ok(());
                }
                report.sent.claimed += claimed.claims.len();
                let span = observe::pass_span(claimed.claims.len());
                self.send_batch(claimed.claims, &mut shutdown, &mut stopping, &mut report)
                    .in_span(span)
                    .await
            };
            match pass.await {
                Ok(()) => busy_wait = FIRST_BUSY_WAIT,
                // Told to stop meanwhile: what is left is left to the leases.
                Err(error) if error.is_retryable() && stopping => {}
                Err(error) if error.is_retryable() => {
                    tokio::select! {
                        () = &mut shutdown => stopping = true,
                        () = tokio::time::sleep(busy_wait) => {}
                    }
                    busy_wait = (busy_wait * 2).min(MAX_BUSY_WAIT);
                }
                Err(error) => return Err(error),
            }
        }
        Ok(report)
    }

    /// Measures the store's clock, and notes (and, with feature `tracing`,
    /// warns of) an offset past [`RelayConfig::max_clock_offset`].
    async fn sync_clock(&self, report: &mut RelayReport) -> Result<(), StoreError> {
        let offset = self.store.sync_clock().await?;
        let bound = TimeDelta::from_std(self.config.max_clock_offset).unwrap_or(TimeDelta::MAX);
        if offset.abs() > bound {
            observe::clock_off(offset);
            if offset.abs() > report.clock_offset.abs() {
                report.clock_offset = offset;
            }
        }
        Ok(())
    }

    /// Sets the backlog gauges from the store's counts.
    #[cfg(feature = "metrics")]
    async fn refresh_backlog(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let counts = self.store.counts().await?;
        let waiting = [
            integration_automation_patterns::DeliveryStatus::Pending,
            integration_automation_patterns::DeliveryStatus::Retrying,
        ]
        .iter()
        .filter_map(|status| counts.outbox.get(status))
        .sum();
        observe::set_backlog(waiting, self.store.oldest_due_age(now).await?);
        Ok(())
    }

    /// How long to sleep when nothing is due: until the next envelope falls
    /// due, at most [`RelayConfig::idle_poll`], and never so little that a
    /// row another worker holds makes the relay spin.
    async fn idle_wait(&self, now: DateTime<Utc>) -> Result<Duration, StoreError> {
        let next = self.store.next_due_at().await?;
        let until_next = next
            .map(|due| (due - now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(self.config.idle_poll);
        Ok(until_next.clamp(MIN_IDLE_WAIT, self.config.idle_poll.max(MIN_IDLE_WAIT)))
    }

    /// Sends one batch with up to `concurrency` sends at once, recording each
    /// outcome, extending the leases of sends still in flight, and stopping
    /// early (in-flight sends finish; the rest are released) if `shutdown`
    /// completes, which it notes in `told_to_stop`. A database error that
    /// waiting cannot cure stops it the same way, and is returned once the
    /// sends in flight have finished and their outcomes have been tried: a
    /// send is never cut off midway.
    async fn send_batch<P>(
        &self,
        claims: Vec<Claim<P>>,
        shutdown: &mut std::pin::Pin<&mut (impl Future<Output = ()> + Send)>,
        told_to_stop: &mut bool,
        report: &mut RelayReport,
    ) -> Result<(), StoreError>
    where
        P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        D: Sender<P>,
    {
        let lease = self.store.options().lease;
        let mut waiting: std::collections::VecDeque<Claim<P>> = claims.into();
        let mut in_flight: Vec<Option<Claim<P>>> = Vec::new();
        let mut sends: JoinSet<(usize, Result<Delivery, SendError>)> = JoinSet::new();
        let mut outcomes: Vec<Outcome<P>> = Vec::new();
        let mut sent: Vec<Claim<P>> = Vec::new();
        let mut renew = tokio::time::interval((lease / 3).max(Duration::from_millis(10)));
        renew.tick().await;
        // No new send starts: told to stop, or a record failed.
        let mut stopping = *told_to_stop;
        let mut failed: Option<StoreError> = None;
        loop {
            while !stopping && sends.len() < self.config.concurrency.max(1) {
                let Some(claim) = waiting.pop_front() else {
                    break;
                };
                let slot = in_flight.len();
                let send = self
                    .sender
                    .send(&claim.envelope)
                    .in_span(observe::send_span(&claim.envelope));
                let timeout = self.config.send_timeout;
                sends.spawn(async move {
                    let result = match tokio::time::timeout(timeout, send).await {
                        Ok(result) => result,
                        Err(_) => Err(SendError::Transient {
                            reason: format!("the send timed out after {timeout:?}"),
                            retry_after: None,
                        }),
                    };
                    (slot, result)
                });
                in_flight.push(Some(claim));
            }
            if sends.is_empty() {
                break;
            }
            tokio::select! {
                done = sends.join_next() => {
                    let Some(done) = done else { break };
                    let (slot, result) = done.unwrap_or_else(|panicked| {
                        (usize::MAX, Err(SendError::Transient {
                            reason: format!("the sender panicked: {panicked}"),
                            retry_after: None,
                        }))
                    });
                    if let Some(claim) = in_flight.get_mut(slot).and_then(Option::take) {
                        match self.config.recording {
                            // After a failure, the outcomes of the sends
                            // still in flight are tried all the same (the
                            // failure may be one row's); the first error is
                            // the one returned.
                            Recording::EachOutcome => {
                                let outcome =
                                    Outcome::of_send(claim.envelope, result, self.store.now());
                                if let Err(error) = self.record_one(outcome, report).await {
                                    failed.get_or_insert(error);
                                }
                            }
                            // Held (and its lease kept) until the pass records.
                            Recording::Batched => {
                                let envelope = claim.envelope.clone();
                                outcomes.push(Outcome::of_send(envelope, result, self.store.now()));
                                sent.push(claim);
                            }
                        }
                    }
                    if failed.is_some() && !stopping {
                        stopping = true;
                        let unsent: Vec<Claim<P>> = waiting.drain(..).collect();
                        let _ = self.store.release_unsent(&unsent).await;
                    }
                }
                _ = renew.tick() => {
                    let now = self.store.now();
                    for claim in in_flight.iter_mut().flatten().chain(sent.iter_mut()) {
                        if claim.lease_until - now < TimeDelta::from_std(lease / 2).unwrap_or_default()
                            && self.store.extend_lease(claim, now).await.is_ok()
                        {
                            report.leases_extended += 1;
                        }
                    }
                }
                () = &mut *shutdown, if !*told_to_stop => {
                    *told_to_stop = true;
                    stopping = true;
                    let unsent: Vec<Claim<P>> = waiting.drain(..).collect();
                    match self.until_not_busy(|| self.store.release_unsent(&unsent)).await {
                        Ok(released) => report.released += released,
                        Err(error) => {
                            failed.get_or_insert(error);
                        }
                    }
                }
            }
        }
        if !outcomes.is_empty()
            && let Err(error) = self.record_pass(&outcomes, report).await
        {
            failed.get_or_insert(error);
        }
        failed.map_or(Ok(()), Err)
    }

    /// Runs `operation` until the database does not refuse it as busy,
    /// waiting longer after each refusal (up to [`MAX_BUSY_WAIT`]), for at
    /// most half a lease: past that, the leases of the other claims in hand
    /// (which cannot be extended meanwhile) would run out, and the refusal
    /// is returned.
    async fn until_not_busy<T, F>(&self, mut operation: impl FnMut() -> F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        let give_up = tokio::time::Instant::now() + self.store.options().lease / 2;
        let mut wait = FIRST_BUSY_WAIT;
        loop {
            match operation().await {
                Err(error) if error.is_retryable() && tokio::time::Instant::now() < give_up => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_BUSY_WAIT);
                }
                done => return done,
            }
        }
    }

    /// Records one outcome in its own commit, and counts it: a claim another
    /// worker took over meanwhile is counted as lost (that worker sends it
    /// again), and a busy database is waited out.
    async fn record_one<P>(
        &self,
        outcome: Outcome<P>,
        report: &mut RelayReport,
    ) -> Result<(), StoreError>
    where
        P: Serialize + Clone + Send + Sync,
    {
        let status = outcome.envelope.status();
        let span = observe::record_span(outcome.envelope.event_id(), status);
        let recorded = self
            .until_not_busy(|| {
                self.store
                    .record_not_before(outcome.envelope.clone(), outcome.retry_after)
            })
            .in_span(span)
            .await;
        match recorded {
            Ok(_) => report.sent.count(status),
            Err(StoreError::ClaimLost { .. }) => report.sent.lost += 1,
            Err(error) => return Err(error),
        }
        Ok(())
    }

    /// Records a pass's outcomes in one commit (waiting out a busy
    /// database), and counts each: a claim another worker took over is
    /// counted as lost.
    async fn record_pass<P>(
        &self,
        outcomes: &[Outcome<P>],
        report: &mut RelayReport,
    ) -> Result<(), StoreError>
    where
        P: Serialize + Send + Sync,
    {
        let recorded = self
            .until_not_busy(|| self.store.record_batch(outcomes))
            .await?;
        report.sent.count_batch(outcomes, recorded)
    }
}

/// The README's examples, run as doctests.
#[cfg(all(doctest, feature = "tracing"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
