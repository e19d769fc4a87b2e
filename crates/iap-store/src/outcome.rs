//! What the store's operations hand back.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::StoreError;
use super::rows::Prior;
use integration_automation_patterns::envelope::state::{
    Dispatched, Failed, Pending, Processed, Skipped,
};
use integration_automation_patterns::{AnyEnvelope, DeliveryStatus, Envelope, FailOutcome};

/// What admitting a received envelope through the inbox did.
#[must_use = "an admission tells whether the effect ran, was a duplicate, or failed"]
#[derive(Debug)]
pub enum Admission<T, P = serde_json::Value> {
    /// First delivery: the effect ran and its result is here; its key is recorded.
    Processed(Envelope<Processed, P>, T),
    /// The key was seen before with the same payload: the effect did not run.
    Duplicate(Envelope<Skipped, P>),
    /// The effect failed: nothing was recorded, and the envelope went through
    /// its own fail path (retry while its budget lasts, else a dead letter).
    Failed(FailOutcome<P>),
}

/// An envelope a relay has claimed: send it, then record the outcome, or
/// [`release_unsent`](super::DeliveryStore::release_unsent) it unsent.
#[must_use = "a claim must be sent and its outcome recorded, or it is retried when its lease runs out"]
#[derive(Debug)]
pub struct Claim<P = serde_json::Value> {
    /// The envelope, dispatched (its attempt counted).
    pub envelope: Envelope<Dispatched, P>,
    /// Until when the claim is held; after that another worker may take it
    /// over. [`extend_lease`](super::DeliveryStore::extend_lease) moves it on.
    pub lease_until: DateTime<Utc>,
    /// The row as it was before the claim, to give it back unsent.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) prior: Prior,
}

/// What to record for a sent envelope: its next state, and for a retry the
/// receiver's "not before". The one mapping from a send's result to a stored
/// outcome, used by the relay and by anyone writing their own loop.
#[derive(Debug)]
pub struct Outcome<P = serde_json::Value> {
    /// The envelope in its next state: processed, acknowledged, retrying or failed.
    pub envelope: AnyEnvelope<P>,
    /// For a retry, the receiver's "not before" (it wins when later than the
    /// retry policy's time).
    pub retry_after: Option<DateTime<Utc>>,
}

impl<P> Outcome<P> {
    /// The outcome of sending `envelope` at `now` with `result`:
    ///
    /// | send result | recorded as |
    /// |---|---|
    /// | `Ok(Delivery::Processed)` | processed |
    /// | `Ok(Delivery::Acknowledged)` | acknowledged |
    /// | `Err(SendError::Transient { .. })` | retrying while the budget lasts, else failed |
    /// | `Err(SendError::Permanent { .. })` | failed (a dead letter) at once |
    pub fn of_send(
        envelope: Envelope<Dispatched, P>,
        result: Result<Delivery, SendError>,
        now: DateTime<Utc>,
    ) -> Self {
        let (envelope, retry_after) = match result {
            Ok(Delivery::Processed) => (envelope.process_at(now).into(), None),
            Ok(Delivery::Acknowledged) => (envelope.acknowledge_at(now).into(), None),
            Err(SendError::Transient {
                reason,
                retry_after,
            }) => match envelope.fail_at(reason, now) {
                FailOutcome::Retry(retrying) => (retrying.into(), retry_after),
                FailOutcome::Exhausted(failed) => (failed.into(), None),
            },
            Err(SendError::Permanent { reason }) => {
                (envelope.fail_permanently_at(reason, now).into(), None)
            }
        };
        Outcome {
            envelope,
            retry_after,
        }
    }
}

/// The result of one claim: the envelopes claimed, and the stored rows that
/// could not be read and were quarantined.
#[derive(Debug, Default)]
pub struct Claimed<P = serde_json::Value> {
    /// The claims, oldest due first.
    pub claims: Vec<Claim<P>>,
    /// Envelopes whose lease had run out with no budget left: now dead letters.
    pub dead_lettered: usize,
    /// Rows that do not read back; each is quarantined and named.
    pub quarantined: Vec<StoreError>,
}

/// A successful send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The receiver processed the event.
    Processed,
    /// The receiver acknowledged receipt and will process it itself.
    Acknowledged,
}

/// A failed send.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A failure that may pass (a timeout, a 503): retried while the budget
    /// lasts. A `retry_after` from the receiver wins over the policy's wait
    /// when it is later.
    #[error("the send failed, for now: {reason}")]
    Transient {
        /// Why.
        reason: String,
        /// The receiver's "not before", if it gave one.
        retry_after: Option<DateTime<Utc>>,
    },
    /// A failure retrying cannot fix (a rejected payload): a dead letter at once.
    #[error("the send failed for good: {reason}")]
    Permanent {
        /// Why.
        reason: String,
    },
}

/// Dead letters, oldest first, and the failed rows met on the way that do not
/// read back (now quarantined).
#[derive(Debug)]
pub struct DeadLetters<P = serde_json::Value> {
    /// The dead letters.
    pub letters: Vec<Envelope<Failed, P>>,
    /// Rows that do not read back; each is quarantined and named.
    pub quarantined: Vec<StoreError>,
}

/// What redriving one batch of dead letters did
/// ([`redrive_matching`](super::DeliveryStore::redrive_matching)): the
/// dead letters sent back, and the failed rows met that do not read back.
#[derive(Debug)]
pub struct RedriveBatch<P = serde_json::Value> {
    /// The dead letters sent back for delivery, in the order they had failed:
    /// pending again, each with a fresh budget.
    pub redriven: Vec<Envelope<Pending, P>>,
    /// Failed rows that do not read back; each is quarantined and named.
    pub quarantined: Vec<StoreError>,
}

impl<P> RedriveBatch<P> {
    /// How many dead letters the batch took out of the dead letters: those
    /// redriven and those quarantined. A batch that took none was the last.
    pub fn taken(&self) -> usize {
        self.redriven.len().saturating_add(self.quarantined.len())
    }
}

/// What redriving every dead letter did.
#[derive(Debug, Default)]
pub struct Redriven {
    /// Dead letters sent back for delivery.
    pub redriven: usize,
    /// Failed rows that do not read back; each is quarantined and named.
    pub quarantined: Vec<StoreError>,
}

/// An ordering key held back by a dead letter at its head (with
/// [`DeadLetterKeys::Hold`](super::DeadLetterKeys::Hold)): nothing after the
/// dead letter is sent until an operator redrives or skips it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldKey {
    /// The ordering key.
    pub ordering_key: String,
    /// The source system of the dead letter that holds it.
    pub source_system: String,
    /// The event id of the dead letter that holds it.
    pub event_id: String,
    /// Whether the head is a quarantined row (to release or delete) rather
    /// than a dead letter (to redrive or skip).
    pub quarantined: bool,
    /// How many envelopes of the key wait behind it.
    pub waiting: u64,
}

impl HeldKey {
    /// A held key as the stores' `held_keys!` query returns it: the key, the
    /// holding row's source, event id and status, and how many wait behind.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn from_columns(
        ordering_key: String,
        source_system: String,
        event_id: String,
        status: &str,
        waiting: i64,
    ) -> HeldKey {
        HeldKey {
            ordering_key,
            source_system,
            event_id,
            quarantined: status == crate::rows::QUARANTINED,
            waiting: u64::try_from(waiting).unwrap_or_default(),
        }
    }
}

/// A stored row set aside because it does not read back, as an operator
/// sees it: the reason, and the envelope column's content as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuarantinedRow {
    /// The source system of the row.
    pub source_system: String,
    /// The event id of the row.
    pub event_id: String,
    /// Why it was quarantined.
    pub reason: String,
    /// The envelope column, byte for byte (not necessarily text).
    pub content: Vec<u8>,
}

impl QuarantinedRow {
    /// The content as text, with bytes that are not UTF-8 replaced.
    pub fn content_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.content)
    }
}

/// What one relay pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Envelopes claimed and sent.
    pub claimed: usize,
    /// Sends that succeeded.
    pub delivered: usize,
    /// Sends that failed and will be retried.
    pub retried: usize,
    /// Envelopes that became dead letters (failed sends and expired claims).
    pub dead_lettered: usize,
    /// Rows quarantined because they do not read back.
    pub quarantined: usize,
    /// Sends whose claim another worker took over before the outcome was
    /// recorded (a batch recorded after the lease ran out): not recorded,
    /// the other worker sends them again.
    pub lost: usize,
}

/// How many stored envelopes are in each state, for monitoring.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Outbox envelopes by state.
    pub outbox: BTreeMap<DeliveryStatus, u64>,
    /// Outbox rows quarantined as unreadable.
    pub quarantined: u64,
    /// Keys the inbox remembers.
    pub inbox_keys: u64,
}

impl RunReport {
    /// The report of a pass that has claimed, before anything is sent.
    pub(crate) fn of_claim<P>(claimed: &Claimed<P>) -> RunReport {
        RunReport {
            claimed: claimed.claims.len(),
            dead_lettered: claimed.dead_lettered,
            quarantined: claimed.quarantined.len(),
            ..RunReport::default()
        }
    }

    /// Counts a recorded outcome: delivered, retried or dead-lettered.
    pub fn count(&mut self, status: DeliveryStatus) {
        match status {
            DeliveryStatus::Retrying => self.retried += 1,
            DeliveryStatus::Failed => self.dead_lettered += 1,
            _ => self.delivered += 1,
        }
        crate::observe::count_outcome(status);
    }

    /// Counts what a batch record did with `outcomes`: each recorded outcome
    /// by its state, each claim taken over as lost. Any other refusal ends
    /// the count with that error.
    pub fn count_batch<P>(
        &mut self,
        outcomes: &[Outcome<P>],
        recorded: Vec<Result<(), StoreError>>,
    ) -> Result<(), StoreError> {
        for (outcome, recorded) in outcomes.iter().zip(recorded) {
            match recorded {
                Ok(()) => self.count(outcome.envelope.status()),
                Err(StoreError::ClaimLost { .. }) => self.lost += 1,
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl StatusCounts {
    /// Adds `count` outbox rows marked `status`; a mark that is no delivery
    /// state is a quarantined row.
    pub(crate) fn add_outbox_rows(&mut self, status: &str, count: i64) {
        let count = u64::try_from(count).unwrap_or_default();
        match DeliveryStatus::ALL
            .into_iter()
            .find(|candidate| candidate.as_str() == status)
        {
            Some(status) => *self.outbox.entry(status).or_default() += count,
            None => self.quarantined += count,
        }
    }
}
