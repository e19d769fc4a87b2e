//! What the store's operations hand back.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::StoreError;
use crate::envelope::state::{Dispatched, Processed, Skipped};
use crate::{DeliveryStatus, Envelope, FailOutcome};

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

/// An envelope a relay has claimed: send it, then record the outcome.
#[must_use = "a claim must be sent and its outcome recorded, or it is retried when its lease runs out"]
#[derive(Debug)]
pub struct Claim<P = serde_json::Value> {
    /// The envelope, dispatched (its attempt counted).
    pub envelope: Envelope<Dispatched, P>,
    /// Until when the claim is held; after that another worker may take it over.
    pub lease_until: DateTime<Utc>,
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendError {
    /// A failure that may pass (a timeout, a 503): retried while the budget
    /// lasts. A `retry_after` from the receiver wins over the policy's wait
    /// when it is later.
    Transient {
        /// Why.
        reason: String,
        /// The receiver's "not before", if it gave one.
        retry_after: Option<DateTime<Utc>>,
    },
    /// A failure retrying cannot fix (a rejected payload): a dead letter at once.
    Permanent {
        /// Why.
        reason: String,
    },
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
