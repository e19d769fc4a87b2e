//! The storage and wire format: a CloudEvents 1.0 JSON event plus a `delivery`
//! object, read back only if it is consistent with the state it claims.
//!
//! ```json
//! {
//!   "specversion": "1.0",
//!   "id": "evt-1",
//!   "source": "crm",
//!   "type": "crm.contact.updated",
//!   "time": "2026-03-01T09:30:00Z",
//!   "datacontenttype": "application/json",
//!   "correlationid": "req-7",
//!   "schemaversion": "1.0",
//!   "data": { "contact_id": 42 },
//!   "delivery": {
//!     "status": "retrying",
//!     "attempts": 1,
//!     "policy": { "max_attempts": 3, "backoff": { "secs": 30, "nanos": 0 }, ... },
//!     "tags": { "region": "emea" },
//!     "history": [
//!       { "from": "pending", "to": "dispatched", "at": "...", "attempt": 1 },
//!       { "from": "dispatched", "to": "retrying", "at": "...", "attempt": 1, "reason": "503" }
//!     ]
//!   }
//! }
//! ```
//!
//! Without `delivery` the document is a plain CloudEvent, and it reads as a
//! fresh `Pending` envelope with the default retry policy.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::any::{AnyEnvelope, each_state};
use super::builder::DEFAULT_SCHEMA_VERSION;
use super::error::{EnvelopeError, Field, check_text};
use super::history::Transition;
use super::state::{DeliveryStatus, Pending, State};
use super::{Envelope, EnvelopeData};
use crate::retry::RetryPolicy;

const SPEC_VERSION: &str = "1.0";
const CONTENT_TYPE: &str = "application/json";

/// Why a serialized envelope was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// `specversion` is not the CloudEvents version this crate reads.
    #[error("specversion {0:?} is not supported (expected \"1.0\")")]
    SpecVersion(String),
    /// `datacontenttype` is not JSON.
    #[error("datacontenttype {0:?} is not supported (expected \"application/json\")")]
    ContentType(String),
    /// A text attribute is empty or holds a control character.
    #[error(transparent)]
    Text(#[from] EnvelopeError),
    /// A history entry does not start where the previous one ended.
    #[error("history entry {index} starts from `{found}`, but the envelope was `{expected}` then")]
    HistoryGap {
        /// Position of the entry in the history.
        index: usize,
        /// The state the previous entry ended in (`pending` for the first).
        expected: DeliveryStatus,
        /// The state the entry claims to start from.
        found: DeliveryStatus,
    },
    /// A history entry is not a legal transition.
    #[error("history entry {index} goes from `{from}` to `{to}`, which is not a legal transition")]
    IllegalStep {
        /// Position of the entry in the history.
        index: usize,
        /// Where it starts.
        from: DeliveryStatus,
        /// Where it ends.
        to: DeliveryStatus,
    },
    /// A history entry records another attempt count than its transitions give.
    #[error(
        "history entry {index} records attempt {recorded}, but the transitions before it count {counted}"
    )]
    HistoryAttempts {
        /// Position of the entry in the history.
        index: usize,
        /// The attempt count the entry records.
        recorded: u32,
        /// The attempt count its transitions give.
        counted: u32,
    },
    /// A failure, skip or redrive without its reason.
    #[error("history entry {index} (to `{to}`) has no reason")]
    MissingReason {
        /// Position of the entry in the history.
        index: usize,
        /// The state it enters.
        to: DeliveryStatus,
    },
    /// A retry was scheduled after the retry budget was spent.
    #[error(
        "history entry {index} schedules a retry after attempt {attempt}, but max_attempts is {max_attempts}"
    )]
    RetryBeyondBudget {
        /// Position of the entry in the history.
        index: usize,
        /// The attempt count at that retry.
        attempt: u32,
        /// The policy's budget.
        max_attempts: u32,
    },
    /// The status is not where the history leads.
    #[error("status is `{status}`, but the history leads to `{history}`")]
    Status {
        /// The status written in `delivery`.
        status: DeliveryStatus,
        /// The state the history ends in (`pending` if it is empty).
        history: DeliveryStatus,
    },
    /// The attempt count is not what the history counts.
    #[error("attempts is {attempts}, but the history counts {counted}")]
    Attempts {
        /// The count written in `delivery`.
        attempts: u32,
        /// The count the history gives.
        counted: u32,
    },
}

/// The document, borrowed from an envelope for writing.
#[derive(Serialize)]
struct OutgoingEvent<'a, P> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    time: DateTime<Utc>,
    datacontenttype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlationid: Option<&'a str>,
    schemaversion: &'a str,
    data: &'a P,
    delivery: OutgoingDelivery<'a>,
}

#[derive(Serialize)]
struct OutgoingDelivery<'a> {
    status: DeliveryStatus,
    attempts: u32,
    policy: &'a RetryPolicy,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tags: &'a BTreeMap<String, String>,
    history: &'a [Transition],
}

/// The document as read, before its consistency is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncomingEvent<P> {
    specversion: String,
    id: String,
    source: String,
    #[serde(rename = "type")]
    event_type: String,
    time: DateTime<Utc>,
    #[serde(default)]
    datacontenttype: Option<String>,
    #[serde(default)]
    correlationid: Option<String>,
    #[serde(default)]
    schemaversion: Option<String>,
    data: P,
    #[serde(default)]
    delivery: Option<IncomingDelivery>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncomingDelivery {
    status: DeliveryStatus,
    attempts: u32,
    policy: RetryPolicy,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    history: Vec<Transition>,
}

impl<S: State, P: Serialize> Serialize for Envelope<S, P> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        OutgoingEvent {
            specversion: SPEC_VERSION,
            id: &self.data.event_id,
            source: &self.data.source_system,
            event_type: &self.data.event_type,
            time: self.data.created_at,
            datacontenttype: CONTENT_TYPE,
            correlationid: self.data.correlation_id.as_deref(),
            schemaversion: &self.data.schema_version,
            data: &self.data.payload,
            delivery: OutgoingDelivery {
                status: S::STATUS,
                attempts: self.data.attempt_count,
                policy: &self.data.retry_policy,
                tags: &self.data.tags,
                history: &self.data.history,
            },
        }
        .serialize(serializer)
    }
}

impl<P: Serialize> Serialize for AnyEnvelope<P> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        each_state!(self, e => e.serialize(serializer))
    }
}

impl<'de, P: Deserialize<'de>> Deserialize<'de> for AnyEnvelope<P> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let event = IncomingEvent::<P>::deserialize(deserializer)?;
        event.into_envelope().map_err(de::Error::custom)
    }
}

impl<'de, S: State, P: Deserialize<'de>> Deserialize<'de> for Envelope<S, P> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let any = AnyEnvelope::<P>::deserialize(deserializer)?;
        Envelope::try_from(any).map_err(de::Error::custom)
    }
}

impl<P> IncomingEvent<P> {
    fn into_envelope(self) -> Result<AnyEnvelope<P>, FormatError> {
        if self.specversion != SPEC_VERSION {
            return Err(FormatError::SpecVersion(self.specversion));
        }
        if let Some(content_type) = self.datacontenttype
            && content_type != CONTENT_TYPE
        {
            return Err(FormatError::ContentType(content_type));
        }
        let schema_version = match self.schemaversion {
            Some(schema_version) if schema_version != DEFAULT_SCHEMA_VERSION => {
                Cow::Owned(schema_version)
            }
            _ => Cow::Borrowed(DEFAULT_SCHEMA_VERSION),
        };
        check_text(Field::EventId, &self.id)?;
        check_text(Field::EventType, &self.event_type)?;
        check_text(Field::SourceSystem, &self.source)?;
        check_text(Field::SchemaVersion, &schema_version)?;
        if let Some(correlation_id) = &self.correlationid {
            check_text(Field::CorrelationId, correlation_id)?;
        }
        let delivery = match self.delivery {
            Some(delivery) => {
                for key in delivery.tags.keys() {
                    check_text(Field::TagKey, key)?;
                }
                check_consistency(&delivery)?;
                delivery
            }
            None => IncomingDelivery {
                status: DeliveryStatus::Pending,
                attempts: 0,
                policy: RetryPolicy::default(),
                tags: BTreeMap::new(),
                history: Vec::new(),
            },
        };
        let envelope = Envelope::<Pending, P>::from_data(EnvelopeData {
            event_id: self.id,
            event_type: self.event_type,
            source_system: self.source,
            payload: self.data,
            correlation_id: self.correlationid,
            schema_version,
            created_at: self.time,
            attempt_count: delivery.attempts,
            retry_policy: delivery.policy,
            tags: delivery.tags,
            history: delivery.history,
        });
        Ok(AnyEnvelope::with_status(envelope, delivery.status))
    }
}

/// Replays the history from `Pending` and checks that it is a sequence of legal
/// transitions that ends in the written status with the written attempt count.
fn check_consistency(delivery: &IncomingDelivery) -> Result<(), FormatError> {
    let mut state = DeliveryStatus::Pending;
    let mut attempts: u32 = 0;
    for (index, step) in delivery.history.iter().enumerate() {
        let (from, to) = (step.from(), step.to());
        if from != state {
            return Err(FormatError::HistoryGap {
                index,
                expected: state,
                found: from,
            });
        }
        if !from.can_transition_to(to) {
            return Err(FormatError::IllegalStep { index, from, to });
        }
        attempts = match to {
            DeliveryStatus::Dispatched => attempts.saturating_add(1),
            DeliveryStatus::Pending => 0,
            _ => attempts,
        };
        if step.attempt() != attempts {
            return Err(FormatError::HistoryAttempts {
                index,
                recorded: step.attempt(),
                counted: attempts,
            });
        }
        let needs_reason = matches!(
            to,
            DeliveryStatus::Retrying
                | DeliveryStatus::Failed
                | DeliveryStatus::Skipped
                | DeliveryStatus::Pending
        );
        if needs_reason && step.reason().is_none() {
            return Err(FormatError::MissingReason { index, to });
        }
        if to == DeliveryStatus::Retrying && delivery.policy.is_exhausted(attempts) {
            return Err(FormatError::RetryBeyondBudget {
                index,
                attempt: attempts,
                max_attempts: delivery.policy.max_attempts(),
            });
        }
        state = to;
    }
    if delivery.status != state {
        return Err(FormatError::Status {
            status: delivery.status,
            history: state,
        });
    }
    if delivery.attempts != attempts {
        return Err(FormatError::Attempts {
            attempts: delivery.attempts,
            counted: attempts,
        });
    }
    Ok(())
}
