//! The event envelope, whose delivery state is a type parameter.

mod any;
mod attributes;
mod audit;
mod binary;
mod builder;
mod bytes;
mod cloudevent;
mod diagram;
mod error;
mod history;
#[cfg(feature = "http")]
mod http;
mod lifecycle;
mod limits;
mod raw_json;
#[cfg(feature = "cloudevents")]
mod sdk;
mod serde;
pub mod state;
mod uri;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};

use crate::retry::RetryPolicy;
use attributes::{DataForm, PARTITIONKEY, TRACEPARENT, TRACESTATE};
use builder::DEFAULT_SCHEMA_VERSION;
use state::{DeliveryStatus, State};

pub use self::serde::FormatError;
pub use any::{AnyEnvelope, IllegalTransition, Operation, WrongState};
pub use attributes::{ExtensionValue, Extensions};
pub use audit::AuditLine;
pub use binary::{BinaryMessage, Binding, ContentMode, WireError};
pub use builder::{EnvelopeBuilder, field};
pub use cloudevent::{CLOUDEVENTS_JSON, CloudEvent};
pub use error::{EnvelopeError, Field, MAX_KEY_BYTES};
pub use history::Transition;
pub use lifecycle::FailOutcome;
pub use limits::ReadLimits;
pub use limits::json_depth;
pub use raw_json::RawJson;

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
/// The methods each state has are listed on its marker's page: what a
/// [`Retrying`](state::Retrying) envelope can do, say, is on `Retrying`'s.
/// (The transitions are methods of one generic impl, bounded by the states
/// they may start from, so this page shows them all together.)
///
/// Every `Envelope<S, P>` has the same size and layout: the state is only in
/// the type. The event id is the idempotency key: processing the same id twice
/// must have the effect of processing it once.
#[must_use = "an envelope that is dropped is an event that is lost"]
pub struct Envelope<S: State, P = serde_json::Value> {
    /// Behind one pointer: a transition consumes the envelope and returns it
    /// as another type, and moving a pointer is cheaper than moving the data
    /// (measured in `benches/lifecycle.rs`).
    data: Box<EnvelopeData<P>>,
    state: PhantomData<fn() -> S>,
}

/// Everything an envelope holds but its state.
#[derive(Clone, Debug, PartialEq, Eq)]
struct EnvelopeData<P> {
    event_id: String,
    event_type: String,
    source_system: String,
    payload: P,
    /// How the payload travels as the event's data.
    data_form: DataForm,
    /// Borrowed for the default, `application/json`, so that most
    /// envelopes do not allocate it.
    content_type: Option<Cow<'static, str>>,
    data_schema: Option<String>,
    subject: Option<String>,
    /// The CloudEvents `time`, with the offset it was written with: absent
    /// on a received event that had none.
    created_at: Option<DateTime<FixedOffset>>,
    correlation_id: Option<String>,
    /// `None` when a received event named no schema version (it reads as the
    /// default, and is written back without one). Borrowed for the default,
    /// so that most envelopes do not allocate it.
    schema_version: Option<Cow<'static, str>>,
    extensions: Extensions,
    attempt_count: u32,
    retry_policy: RetryPolicy,
    tags: BTreeMap<String, String>,
    history: Vec<Transition>,
}

impl<P> EnvelopeData<P> {
    /// The CloudEvents `time` as the formats write it: RFC 3339 with its
    /// offset (`Z` for UTC), and as many fractional digits as it needs.
    fn rendered_time(&self) -> Option<String> {
        self.created_at
            .map(|time| time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl<S: State, P> Envelope<S, P> {
    /// The globally unique id of this event: its idempotency key.
    pub fn event_id(&self) -> &str {
        &self.data.event_id
    }

    /// What happened, by convention `<domain>.<entity>.<action>`
    /// (`"enrollment.student.updated"`).
    pub fn event_type(&self) -> &str {
        &self.data.event_type
    }

    /// The system the event came from.
    pub fn source_system(&self) -> &str {
        &self.data.source_system
    }

    /// The business data of the event.
    pub fn payload(&self) -> &P {
        &self.data.payload
    }

    /// Takes the payload out, dropping the envelope.
    pub fn into_payload(self) -> P {
        self.data.payload
    }

    /// The workflow, request or transaction this event belongs to, if any.
    pub fn correlation_id(&self) -> Option<&str> {
        self.data.correlation_id.as_deref()
    }

    /// The version of the payload's schema (default `"1.0"`).
    pub fn schema_version(&self) -> &str {
        self.data
            .schema_version
            .as_deref()
            .unwrap_or(DEFAULT_SCHEMA_VERSION)
    }

    /// When the event was created (its CloudEvents `time`), in UTC. Every
    /// envelope built here has one; an event received without one has none.
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.data.created_at.map(|time| time.to_utc())
    }

    /// The CloudEvents `time` with the UTC offset it was given (a received
    /// `2026-03-01T11:30:00+02:00` keeps its `+02:00`, and is written so
    /// again): the same instant as [`created_at`](Envelope::created_at).
    pub fn time(&self) -> Option<DateTime<FixedOffset>> {
        self.data.created_at
    }

    /// The media type of the payload (CloudEvents `datacontenttype`), if
    /// the event names one; built envelopes say `application/json` unless
    /// told otherwise.
    pub fn data_content_type(&self) -> Option<&str> {
        self.data.content_type.as_deref()
    }

    /// Whether the event's data is itself a CloudEvent: its content type is
    /// one of the CloudEvents formats (`application/cloudevents+json`, say),
    /// as in an audit log of events or a dead-letter forwarder. Such an
    /// event travels in structured mode only, since in binary mode a
    /// receiver would read its data as the event; the senders of this crate
    /// send it so.
    pub fn data_is_cloudevent(&self) -> bool {
        self.data
            .content_type
            .as_deref()
            .is_some_and(binary::is_cloudevents_format)
    }

    /// Whether binary content mode carries this event as it is, so that a
    /// receiver reads back the same event (binary mode carries extension
    /// values as text, and names the content type of data that has none:
    /// those differences aside). It does not when the data is
    /// itself a CloudEvent ([`data_is_cloudevent`](Envelope::data_is_cloudevent)),
    /// when the event has no data under a content type that is not JSON (a
    /// receiver reads the empty body as empty text or bytes), or when the
    /// data's form disagrees with its content type, as in a received
    /// `{"datacontenttype": "text/plain", "data": 5}` (a receiver would read
    /// the body `5` as text). [`to_binary`](Envelope::to_binary) refuses
    /// such an event, and the senders of this crate send it in structured
    /// mode.
    pub fn fits_binary_mode(&self) -> bool {
        binary::binary_misfit(&self.data).is_none()
    }

    /// The URI of the schema the payload follows (CloudEvents `dataschema`), if any.
    pub fn data_schema(&self) -> Option<&str> {
        self.data.data_schema.as_deref()
    }

    /// What the event is about within its source (CloudEvents `subject`), if given.
    pub fn subject(&self) -> Option<&str> {
        self.data.subject.as_deref()
    }

    /// The event's extension attributes, other than this crate's own
    /// (`correlationid`, `schemaversion`), by name. A received event whose
    /// `correlationid` or `schemaversion` is not a non-empty string (another
    /// producer's use of the name) has it here, as it came.
    pub fn extensions(&self) -> &Extensions {
        &self.data.extensions
    }

    /// One extension attribute, if the event has it.
    pub fn extension(&self, name: &str) -> Option<&ExtensionValue> {
        self.data.extensions.get(name)
    }

    /// The W3C trace parent of the distributed-tracing extension, if any.
    pub fn traceparent(&self) -> Option<&str> {
        self.extension(TRACEPARENT).and_then(ExtensionValue::as_str)
    }

    /// The W3C trace state of the distributed-tracing extension, if any.
    pub fn tracestate(&self) -> Option<&str> {
        self.extension(TRACESTATE).and_then(ExtensionValue::as_str)
    }

    /// The ordering key, if any: envelopes with the same key are delivered
    /// in the order they were enqueued. It travels as the CloudEvents
    /// partitioning extension's `partitionkey`.
    pub fn ordering_key(&self) -> Option<&str> {
        self.extension(PARTITIONKEY)
            .and_then(ExtensionValue::as_str)
    }

    /// The delivery state, as a runtime value: always `S::STATUS`.
    pub fn status(&self) -> DeliveryStatus {
        S::STATUS
    }

    /// How many delivery attempts have been made since the envelope was built
    /// or last redriven.
    pub fn attempt_count(&self) -> u32 {
        self.data.attempt_count
    }

    /// The retry budget and backoff of this event.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.data.retry_policy
    }

    /// Free-form metadata for routing, filtering and observability.
    pub fn tags(&self) -> &BTreeMap<String, String> {
        &self.data.tags
    }

    /// Whether no further automatic processing happens in this state
    /// (`Processed`, `Failed` or `Skipped`).
    pub fn is_terminal(&self) -> bool {
        S::STATUS.is_terminal()
    }

    /// Every transition this envelope went through, oldest first.
    pub fn history(&self) -> &[Transition] {
        &self.data.history
    }

    /// The most recent transition, if the envelope ever left `Pending`.
    pub fn last_transition(&self) -> Option<&Transition> {
        self.data.history.last()
    }

    /// The event as its receiver sees it: a new `Pending` envelope with this
    /// one's CloudEvent attributes (every context and extension attribute)
    /// and payload, and none of the sender's delivery bookkeeping (attempts,
    /// history, retry policy, tags). It is what a consumer reads from the
    /// wire before admitting it through an inbox, and equals reading
    /// [`to_cloudevent`](Self::to_cloudevent)'s output.
    pub fn to_received(&self) -> Envelope<state::Pending, P>
    where
        P: Clone,
    {
        let data = &self.data;
        Envelope::from_data(EnvelopeData {
            event_id: data.event_id.clone(),
            event_type: data.event_type.clone(),
            source_system: data.source_system.clone(),
            payload: data.payload.clone(),
            data_form: data.data_form,
            content_type: data.content_type.clone(),
            data_schema: data.data_schema.clone(),
            subject: data.subject.clone(),
            correlation_id: data.correlation_id.clone(),
            schema_version: data.schema_version.clone(),
            extensions: data.extensions.clone(),
            created_at: data.created_at,
            attempt_count: 0,
            retry_policy: RetryPolicy::default(),
            tags: BTreeMap::new(),
            history: Vec::new(),
        })
    }

    /// The time of the most recent transition, or the creation time (the
    /// earliest time there is, for an event received without one).
    fn last_changed_at(&self) -> DateTime<Utc> {
        self.data
            .history
            .last()
            .map(Transition::at)
            .or(self.created_at())
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The reason recorded by the most recent transition (empty if none).
    fn last_reason(&self) -> &str {
        self.data
            .history
            .last()
            .and_then(Transition::reason)
            .unwrap_or_default()
    }

    /// The same envelope in another state. Every transition goes through here.
    #[inline]
    fn into_state<T: State>(self) -> Envelope<T, P> {
        Envelope {
            data: self.data,
            state: PhantomData,
        }
    }
}

impl<S: State, P> Envelope<S, P> {
    fn from_data(data: EnvelopeData<P>) -> Self {
        Envelope {
            data: Box::new(data),
            state: PhantomData,
        }
    }
}

impl<S: State, P: Clone> Clone for Envelope<S, P> {
    fn clone(&self) -> Self {
        Envelope::from_data((*self.data).clone())
    }
}

impl<S: State, P: PartialEq> PartialEq for Envelope<S, P> {
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data
    }
}

impl<S: State, P: Eq> Eq for Envelope<S, P> {}

impl<S: State, P: fmt::Debug> fmt::Debug for Envelope<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("status", &S::STATUS)
            .field("data", &self.data)
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
