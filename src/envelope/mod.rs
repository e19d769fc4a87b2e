//! The event envelope, whose delivery state is a type parameter.

mod any;
mod audit;
mod builder;
mod error;
mod history;
mod lifecycle;
mod serde;
pub mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};

use crate::retry::RetryPolicy;
use state::{DeliveryStatus, State};

pub use self::serde::FormatError;
pub use any::{AnyEnvelope, IllegalTransition, Operation, WrongState};
pub use builder::{EnvelopeBuilder, field};
pub use error::{EnvelopeError, Field};
pub use history::Transition;
pub use lifecycle::FailOutcome;

/// One unit of work in an integration flow: a payload with everything needed
/// to route, deduplicate, retry and audit it, in delivery state `S`.
///
/// `S` is one of the seven markers of [`state`]; a transition consumes the
/// envelope and returns it in its next state, and a transition that is not
/// legal from `S` does not compile. The states are reached in this order
/// (see the crate documentation for the diagram):
///
/// 1. [`Pending`](state::Pending), from [`Envelope::builder`], or from an
///    operator's [`redrive`](Envelope::redrive) of a dead letter;
/// 2. [`Dispatched`](state::Dispatched), by [`dispatch`](Envelope::dispatch),
///    which counts one attempt;
/// 3. [`Acknowledged`](state::Acknowledged) (optional), then
///    [`Processed`](state::Processed); or, by [`fail`](Envelope::fail),
///    [`Retrying`](state::Retrying) while the retry budget lasts and
///    [`Failed`](state::Failed) once it is spent;
/// 4. [`Skipped`](state::Skipped), from `Pending` or `Retrying`, when an event is
///    deliberately not processed.
///
/// Every `Envelope<S, P>` has the same size and layout: the state is only in
/// the type. The event id is the idempotency key: processing the same id twice
/// must have the effect of processing it once.
#[must_use = "an envelope that is dropped is an event that is lost"]
pub struct Envelope<S: State, P = serde_json::Value> {
    event_id: String,
    event_type: String,
    source_system: String,
    payload: P,
    correlation_id: Option<String>,
    schema_version: String,
    created_at: DateTime<Utc>,
    attempt_count: u32,
    retry_policy: RetryPolicy,
    tags: BTreeMap<String, String>,
    history: Vec<Transition>,
    state: PhantomData<fn() -> S>,
}

impl<S: State, P> Envelope<S, P> {
    /// The globally unique id of this event: its idempotency key.
    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// What happened, by convention `<domain>.<entity>.<action>`
    /// (`"enrollment.student.updated"`).
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The system the event came from.
    pub fn source_system(&self) -> &str {
        &self.source_system
    }

    /// The business data of the event.
    pub fn payload(&self) -> &P {
        &self.payload
    }

    /// Takes the payload out, dropping the envelope.
    pub fn into_payload(self) -> P {
        self.payload
    }

    /// The workflow, request or transaction this event belongs to, if any.
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }

    /// The version of the payload's schema (default `"1.0"`).
    pub fn schema_version(&self) -> &str {
        &self.schema_version
    }

    /// When the event was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The delivery state, as a runtime value: always `S::STATUS`.
    pub fn status(&self) -> DeliveryStatus {
        S::STATUS
    }

    /// How many delivery attempts have been made since the envelope was built
    /// or last redriven.
    pub fn attempt_count(&self) -> u32 {
        self.attempt_count
    }

    /// The retry budget and backoff of this event.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry_policy
    }

    /// Free-form metadata for routing, filtering and observability.
    pub fn tags(&self) -> &BTreeMap<String, String> {
        &self.tags
    }

    /// Whether no further automatic processing happens in this state
    /// (`Processed`, `Failed` or `Skipped`).
    pub fn is_terminal(&self) -> bool {
        S::STATUS.is_terminal()
    }

    /// Every transition this envelope went through, oldest first.
    pub fn history(&self) -> &[Transition] {
        &self.history
    }

    /// The most recent transition, if the envelope ever left `Pending`.
    pub fn last_transition(&self) -> Option<&Transition> {
        self.history.last()
    }

    /// The time of the most recent transition, or the creation time.
    fn last_changed_at(&self) -> DateTime<Utc> {
        self.history.last().map_or(self.created_at, Transition::at)
    }

    /// The reason recorded by the most recent transition (empty if none).
    fn last_reason(&self) -> &str {
        self.history
            .last()
            .and_then(Transition::reason)
            .unwrap_or_default()
    }

    /// The same envelope in another state. Every transition goes through here.
    fn into_state<T: State>(self) -> Envelope<T, P> {
        Envelope {
            event_id: self.event_id,
            event_type: self.event_type,
            source_system: self.source_system,
            payload: self.payload,
            correlation_id: self.correlation_id,
            schema_version: self.schema_version,
            created_at: self.created_at,
            attempt_count: self.attempt_count,
            retry_policy: self.retry_policy,
            tags: self.tags,
            history: self.history,
            state: PhantomData,
        }
    }
}

impl<S: State, P: Clone> Clone for Envelope<S, P> {
    fn clone(&self) -> Self {
        Envelope {
            event_id: self.event_id.clone(),
            event_type: self.event_type.clone(),
            source_system: self.source_system.clone(),
            payload: self.payload.clone(),
            correlation_id: self.correlation_id.clone(),
            schema_version: self.schema_version.clone(),
            created_at: self.created_at,
            attempt_count: self.attempt_count,
            retry_policy: self.retry_policy.clone(),
            tags: self.tags.clone(),
            history: self.history.clone(),
            state: PhantomData,
        }
    }
}

impl<S: State, P: PartialEq> PartialEq for Envelope<S, P> {
    fn eq(&self, other: &Self) -> bool {
        self.event_id == other.event_id
            && self.event_type == other.event_type
            && self.source_system == other.source_system
            && self.payload == other.payload
            && self.correlation_id == other.correlation_id
            && self.schema_version == other.schema_version
            && self.created_at == other.created_at
            && self.attempt_count == other.attempt_count
            && self.retry_policy == other.retry_policy
            && self.tags == other.tags
            && self.history == other.history
    }
}

impl<S: State, P: Eq> Eq for Envelope<S, P> {}

impl<S: State, P: fmt::Debug> fmt::Debug for Envelope<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("status", &S::STATUS)
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("source_system", &self.source_system)
            .field("payload", &self.payload)
            .field("correlation_id", &self.correlation_id)
            .field("schema_version", &self.schema_version)
            .field("created_at", &self.created_at)
            .field("attempt_count", &self.attempt_count)
            .field("retry_policy", &self.retry_policy)
            .field("tags", &self.tags)
            .field("history", &self.history)
            .finish()
    }
}

static_assertions::assert_eq_size!(
    Envelope<state::Pending>,
    Envelope<state::Dispatched>,
    Envelope<state::Acknowledged>,
    Envelope<state::Processed>,
    Envelope<state::Retrying>,
    Envelope<state::Failed>,
    Envelope<state::Skipped>,
);
static_assertions::assert_impl_all!(Envelope<state::Pending>: Send, Sync, Clone, fmt::Debug);
static_assertions::assert_impl_all!(Envelope<state::Failed, Vec<u8>>: Send, Sync);
static_assertions::assert_not_impl_any!(Envelope<state::Pending, std::rc::Rc<u8>>: Send, Sync);
