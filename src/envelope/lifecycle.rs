//! The transitions of an envelope. Each consumes the envelope and returns it in
//! its next state; the capability bound on each method says from which states
//! it is legal, and rustc reports any other use by name.
//!
//! Every transition has a twin ending in `_at` that takes the time to record;
//! the plain one records `Utc::now()`.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::Envelope;
use super::history::Transition;
use super::state::{
    Acknowledged, AwaitsRetry, CanAcknowledge, CanDispatch, CanFail, CanFailPermanently,
    CanProcess, CanRedrive, CanSkip, Dispatched, Failed, HasFailed, Pending, Processed, Retrying,
    Skipped, State, WasSkipped,
};

/// Where a failed delivery attempt leads, decided by the retry budget.
///
/// Dropping it drops the event: deny `unused_must_use` in your crate, and
/// clippy's `let_underscore_must_use`, since rustc's suggestion for the
/// warning (`let _ = envelope.fail(..)`) compiles and loses the event just
/// the same.
#[must_use = "a failed envelope must be scheduled for retry or sent to the dead letters"]
#[derive(Clone, Debug, PartialEq)]
pub enum FailOutcome<P = serde_json::Value> {
    /// Budget left: the envelope waits for its next attempt.
    Retry(Envelope<Retrying, P>),
    /// Budget spent: the envelope is a dead letter.
    Exhausted(Envelope<Failed, P>),
}

impl<P> FailOutcome<P> {
    /// Whether the retry budget is spent.
    pub fn is_exhausted(&self) -> bool {
        matches!(self, FailOutcome::Exhausted(_))
    }

    /// The failed event's id.
    pub fn event_id(&self) -> &str {
        match self {
            FailOutcome::Retry(envelope) => envelope.event_id(),
            FailOutcome::Exhausted(envelope) => envelope.event_id(),
        }
    }

    /// Why the attempt failed.
    pub fn reason(&self) -> &str {
        match self {
            FailOutcome::Retry(envelope) => envelope.failure_reason(),
            FailOutcome::Exhausted(envelope) => envelope.failure_reason(),
        }
    }
}

/// The reason recorded for a failure, skip or redrive given an empty one.
const NO_REASON: &str = "no reason given";

impl<S: State, P> Envelope<S, P> {
    /// Appends the transition from `S` to `T` to the history and changes the type.
    ///
    /// The history only moves forward: a time earlier than the last change
    /// (a clock that went back, or an event stamped by a clock ahead of
    /// ours) is recorded as that last change's time, and an empty reason as
    /// "no reason given", so that the stored form always reads back.
    #[inline]
    fn record<T: State>(mut self, at: DateTime<Utc>, reason: Option<String>) -> Envelope<T, P> {
        let at = at.max(self.last_changed_at());
        let reason = reason.map(|reason| {
            if reason.is_empty() {
                NO_REASON.to_owned()
            } else {
                reason
            }
        });
        if self.data.history.is_empty() {
            // Room for a delivery with one retry (dispatch, fail, dispatch,
            // acknowledge, process) without growing the history again.
            self.data.history.reserve(6);
        }
        self.data.history.push(Transition::new(
            S::STATUS,
            T::STATUS,
            at,
            self.data.attempt_count,
            reason,
        ));
        self.into_state()
    }

    /// Sends the event: counts one attempt. From `Pending` or `Retrying`.
    ///
    /// Whether a `Retrying` envelope's wait is over is the caller's decision
    /// (see [`next_attempt_at`](Self::next_attempt_at)).
    pub fn dispatch(self) -> Envelope<Dispatched, P>
    where
        S: CanDispatch,
    {
        self.dispatch_at(Utc::now())
    }

    /// [`dispatch`](Self::dispatch), recorded at `at`.
    #[inline]
    pub fn dispatch_at(mut self, at: DateTime<Utc>) -> Envelope<Dispatched, P>
    where
        S: CanDispatch,
    {
        self.data.attempt_count = self.data.attempt_count.saturating_add(1);
        self.record(at, None)
    }

    /// [`dispatch_at`](Self::dispatch_at) with a note in its history line
    /// saying why it went ahead: a store sending an envelope past a dead
    /// letter of its ordering key says so.
    pub fn dispatch_noting_at(mut self, note: String, at: DateTime<Utc>) -> Envelope<Dispatched, P>
    where
        S: CanDispatch,
    {
        self.data.attempt_count = self.data.attempt_count.saturating_add(1);
        self.record(at, Some(note))
    }

    /// The downstream system confirmed receipt. From `Dispatched`.
    pub fn acknowledge(self) -> Envelope<Acknowledged, P>
    where
        S: CanAcknowledge,
    {
        self.acknowledge_at(Utc::now())
    }

    /// [`acknowledge`](Self::acknowledge), recorded at `at`.
    #[inline]
    pub fn acknowledge_at(self, at: DateTime<Utc>) -> Envelope<Acknowledged, P>
    where
        S: CanAcknowledge,
    {
        self.record(at, None)
    }

    /// Business processing completed. From `Dispatched` or `Acknowledged`.
    pub fn process(self) -> Envelope<Processed, P>
    where
        S: CanProcess,
    {
        self.process_at(Utc::now())
    }

    /// [`process`](Self::process), recorded at `at`.
    #[inline]
    pub fn process_at(self, at: DateTime<Utc>) -> Envelope<Processed, P>
    where
        S: CanProcess,
    {
        self.record(at, None)
    }

    /// The attempt failed for a reason that may pass (a timeout, a 503).
    /// From `Dispatched` or `Acknowledged`.
    ///
    /// The envelope is [`FailOutcome::Retry`] while the policy allows another
    /// attempt and [`FailOutcome::Exhausted`] once `attempt_count` reaches
    /// `max_attempts`: with the default policy, the third failure is final.
    ///
    /// ```
    /// use integration_automation_patterns::{Envelope, FailOutcome};
    ///
    /// let envelope = Envelope::builder()
    ///     .event_id("evt-1")
    ///     .event_type("erp.invoice.created")
    ///     .source_system("erp")
    ///     .payload(serde_json::json!({ "invoice": 7 }))
    ///     .build()?;
    /// match envelope.dispatch().fail("503 from the ledger") {
    ///     FailOutcome::Retry(retrying) => assert_eq!(retrying.attempt_count(), 1),
    ///     FailOutcome::Exhausted(dead) => unreachable!("{dead:?}"),
    /// }
    /// # Ok::<(), integration_automation_patterns::EnvelopeError>(())
    /// ```
    pub fn fail(self, reason: impl Into<String>) -> FailOutcome<P>
    where
        S: CanFail,
    {
        self.fail_at(reason, Utc::now())
    }

    /// [`fail`](Self::fail), recorded at `at`.
    #[inline]
    pub fn fail_at(self, reason: impl Into<String>, at: DateTime<Utc>) -> FailOutcome<P>
    where
        S: CanFail,
    {
        let reason = Some(reason.into());
        if self.data.retry_policy.is_exhausted(self.data.attempt_count) {
            FailOutcome::Exhausted(self.record(at, reason))
        } else {
            FailOutcome::Retry(self.record(at, reason))
        }
    }

    /// The attempt failed for a reason that retrying cannot fix (a payload the
    /// receiver rejects as invalid): a dead letter at once, whatever budget is
    /// left. From `Dispatched` or `Acknowledged`.
    pub fn fail_permanently(self, reason: impl Into<String>) -> Envelope<Failed, P>
    where
        S: CanFailPermanently,
    {
        self.fail_permanently_at(reason, Utc::now())
    }

    /// [`fail_permanently`](Self::fail_permanently), recorded at `at`.
    #[inline]
    pub fn fail_permanently_at(
        self,
        reason: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Envelope<Failed, P>
    where
        S: CanFailPermanently,
    {
        self.record(at, Some(reason.into()))
    }

    /// Deliberately not processed (a duplicate, an obsolete update).
    /// From `Pending` or `Retrying`.
    pub fn skip(self, reason: impl Into<String>) -> Envelope<Skipped, P>
    where
        S: CanSkip,
    {
        self.skip_at(reason, Utc::now())
    }

    /// [`skip`](Self::skip), recorded at `at`.
    #[inline]
    pub fn skip_at(self, reason: impl Into<String>, at: DateTime<Utc>) -> Envelope<Skipped, P>
    where
        S: CanSkip,
    {
        self.record(at, Some(reason.into()))
    }

    /// An operator sends a dead letter back for delivery, after fixing its
    /// cause. From `Failed`. The envelope gets a fresh retry budget (its
    /// attempt count starts again at 0); its history keeps every earlier
    /// attempt and this redrive with its reason.
    pub fn redrive(self, reason: impl Into<String>) -> Envelope<Pending, P>
    where
        S: CanRedrive,
    {
        self.redrive_at(reason, Utc::now())
    }

    /// [`redrive`](Self::redrive), recorded at `at`.
    #[inline]
    pub fn redrive_at(
        mut self,
        reason: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Envelope<Pending, P>
    where
        S: CanRedrive,
    {
        self.data.attempt_count = 0;
        self.record(at, Some(reason.into()))
    }

    /// How long to wait after the failure before the next attempt: the
    /// policy's wait for this retry, with its jitter. On `Retrying` only.
    ///
    /// The first retry waits the base backoff. (The reference package passed
    /// the attempt count to a formula indexed from zero, so its first retry
    /// waited twice the base; this is fixed here.)
    pub fn next_retry_wait(&self) -> Duration
    where
        S: AwaitsRetry,
    {
        let retry = self.data.attempt_count.saturating_sub(1);
        self.data
            .retry_policy
            .jittered_wait(&self.data.event_id, retry)
    }

    /// When the next attempt is due: the time of the failure plus
    /// [`next_retry_wait`](Self::next_retry_wait), saturating at the latest
    /// representable time. On `Retrying` only.
    pub fn next_attempt_at(&self) -> DateTime<Utc>
    where
        S: AwaitsRetry,
    {
        let failed_at = self.last_changed_at();
        TimeDelta::from_std(self.next_retry_wait())
            .ok()
            .and_then(|wait| failed_at.checked_add_signed(wait))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Why the envelope was skipped. On `Skipped` only.
    pub fn skip_reason(&self) -> &str
    where
        S: WasSkipped,
    {
        self.last_reason()
    }

    /// Why the last attempt failed. On `Retrying` and `Failed` only.
    pub fn failure_reason(&self) -> &str
    where
        S: HasFailed,
    {
        self.last_reason()
    }
}
