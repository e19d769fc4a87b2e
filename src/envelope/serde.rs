//! The storage and wire format: a CloudEvents 1.0 JSON event plus a
//! `_delivery` object, read back only if it is consistent with the state it
//! claims. The leading underscore keeps the record's name out of the names an
//! attribute can take, so an event may carry an extension named `delivery`.
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
//!   "_delivery": {
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
//! Without `_delivery` the document is a plain CloudEvent (what
//! [`Envelope::to_cloudevent`] writes), and it reads as a fresh `Pending`
//! envelope with the default retry policy. Every event that is valid under the
//! CloudEvents 1.0 JSON format reads: optional attributes that are absent (or
//! `null`) stay absent, extension attributes keep their JSON type, and the
//! data is read as JSON (for JSON content types, or none), as a string (for
//! other content types), from `data_base64` as bytes, or not at all.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::ser::{self, SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use super::any::{AnyEnvelope, each_state};
use super::attributes::{
    DataForm, ExtensionValue, Extensions, OWN_EXTENSIONS, PARTITIONKEY, check_content_type,
    check_extension, check_extension_value,
};
use super::builder::DEFAULT_SCHEMA_VERSION;
use super::bytes::{ByteData, payload_bytes};
use super::error::{EnvelopeError, Field, check_key_length, check_text};
use super::history::Transition;
use super::limits::ReadLimits;
use super::state::{DeliveryStatus, Pending, State};
use super::uri::{check_absolute_uri, check_stored_absolute_uri, check_uri_reference};
use super::{Envelope, EnvelopeData};
use crate::retry::RetryPolicy;

const SPEC_VERSION: &str = "1.0";

/// Why a serialized envelope was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The event is not a JSON object (or not JSON at all).
    #[error("the event is not a JSON object: {0}")]
    Json(String),
    /// `specversion` is not the CloudEvents version this crate reads.
    #[error("specversion {0:?} is not supported (expected \"1.0\")")]
    SpecVersion(String),
    /// A required attribute is missing (or `null`).
    #[error("the required attribute `{0}` is missing")]
    MissingAttribute(&'static str),
    /// An attribute's value is not of its CloudEvents type.
    #[error("attribute `{name}` is invalid: {reason}")]
    Attribute {
        /// The attribute.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A member appears twice in one JSON object of the event.
    #[error("`{0}` appears twice")]
    DuplicateMember(String),
    /// A received message is larger than its reader's [`ReadLimits`] allow.
    #[error("the message has more than {limit} {what}, the most this reader reads")]
    Limit {
        /// What was counted: `bytes of body`, `headers` or `members`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A message carried a stored envelope past its first delivery where a
    /// new event was expected.
    #[error("a received event is pending, but this message holds a `{0}` envelope")]
    NotPending(DeliveryStatus),
    /// The event has both `data` and `data_base64`.
    #[error("an event has `data` or `data_base64`, never both")]
    DataTwice,
    /// The event's data does not read as the payload type.
    #[error("the data does not read as the payload type: {0}")]
    Data(String),
    /// An attribute is refused by the envelope's own rules (an empty or
    /// control-character text, a bad extension name, a trace context that is
    /// not in the W3C format).
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
    /// A history entry is earlier than the one before it, or than the event.
    #[error("history entry {index} is at {at}, before {earlier}, the time before it")]
    HistoryTime {
        /// Position of the entry in the history.
        index: usize,
        /// The entry's time.
        at: DateTime<Utc>,
        /// The time of the entry before it (or of the event, for the first).
        earlier: DateTime<Utc>,
    },
    /// A step other than a failure, skip, redrive or dispatch with a reason.
    #[error(
        "history entry {index} (to `{to}`) has a reason, which only failures, skips, redrives and dispatches carry"
    )]
    UnexpectedReason {
        /// Position of the entry in the history.
        index: usize,
        /// The state it enters.
        to: DeliveryStatus,
    },
    /// A failure, skip or redrive without its reason, or any step with an
    /// empty one.
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
        /// The status written in the delivery record.
        status: DeliveryStatus,
        /// The state the history ends in (`pending` if it is empty).
        history: DeliveryStatus,
    },
    /// The attempt count is not what the history counts.
    #[error("attempts is {attempts}, but the history counts {counted}")]
    Attempts {
        /// The count written in the delivery record.
        attempts: u32,
        /// The count the history gives.
        counted: u32,
    },
}

impl FormatError {
    /// The CloudEvents attribute at fault, where the error is about one
    /// (`id`, `data`, an extension's name): what a receiver names in its
    /// answer to a sender.
    pub fn attribute(&self) -> Option<&str> {
        match self {
            FormatError::SpecVersion(_) => Some("specversion"),
            FormatError::MissingAttribute(name) => Some(name),
            FormatError::Attribute { name, .. } | FormatError::DuplicateMember(name) => Some(name),
            FormatError::DataTwice | FormatError::Data(_) => Some("data"),
            FormatError::Text(error) => Some(error.attribute()),
            _ => None,
        }
    }
}

/// The storage form: the CloudEvent and its `_delivery` object.
impl<S: State, P: Serialize> Serialize for Envelope<S, P> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let mut map = serializer.serialize_map(None)?;
        write_event::<Z::SerializeMap, P>(&mut map, &self.data)?;
        map.serialize_entry(
            DELIVERY,
            &OutgoingDelivery {
                status: S::STATUS,
                attempts: self.data.attempt_count,
                policy: &self.data.retry_policy,
                tags: &self.data.tags,
                history: &self.data.history,
            },
        )?;
        map.end()
    }
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

/// Writes the members of the CloudEvent `data` holds: its attributes, its
/// extensions, and its data in the form it travels in.
pub(super) fn write_event<M: SerializeMap, P: Serialize>(
    map: &mut M,
    data: &EnvelopeData<P>,
) -> Result<(), M::Error> {
    map.serialize_entry("specversion", SPEC_VERSION)?;
    map.serialize_entry("id", &data.event_id)?;
    map.serialize_entry("source", &data.source_system)?;
    map.serialize_entry("type", &data.event_type)?;
    if let Some(subject) = &data.subject {
        map.serialize_entry("subject", subject)?;
    }
    if let Some(time) = data.rendered_time() {
        map.serialize_entry("time", &time)?;
    }
    if let Some(content_type) = &data.content_type {
        map.serialize_entry("datacontenttype", content_type)?;
    }
    if let Some(data_schema) = &data.data_schema {
        map.serialize_entry("dataschema", data_schema)?;
    }
    if let Some(correlation_id) = &data.correlation_id {
        map.serialize_entry("correlationid", correlation_id)?;
    }
    if let Some(schema_version) = &data.schema_version {
        map.serialize_entry("schemaversion", schema_version)?;
    }
    for (name, value) in &data.extensions {
        map.serialize_entry(name, value)?;
    }
    match data.data_form {
        DataForm::Json | DataForm::Text => map.serialize_entry("data", &data.payload),
        DataForm::Binary => {
            let bytes = payload_bytes(&data.payload).map_err(ser::Error::custom)?;
            map.serialize_entry("data_base64", &BASE64.encode(bytes))
        }
        DataForm::Absent => Ok(()),
    }
}

impl<P: Serialize> Serialize for AnyEnvelope<P> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        each_state!(self, e => e.serialize(serializer))
    }
}

impl<P: DeserializeOwned> AnyEnvelope<P> {
    /// Reads the storage form from JSON text, as a store does: what serde's
    /// `Deserialize` reads, with JSON data kept as it was written, so that a
    /// [`RawJson`](super::RawJson) payload keeps every digit. (Through
    /// `Deserialize`, which must work in every format and inside any type,
    /// data goes through a `serde_json::Value`.)
    pub fn from_storage_json(json: &[u8]) -> Result<Self, FormatError> {
        IncomingEvent::from_members(Members::stored(json)?)?.into_envelope()
    }
}

impl<'de, P: DeserializeOwned> Deserialize<'de> for AnyEnvelope<P> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let members = Members::deserialize(deserializer)?;
        IncomingEvent::from_members(members)
            .and_then(IncomingEvent::into_envelope)
            .map_err(de::Error::custom)
    }
}

impl<'de, S: State, P: DeserializeOwned> Deserialize<'de> for Envelope<S, P> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let any = AnyEnvelope::<P>::deserialize(deserializer)?;
        Envelope::try_from(any).map_err(de::Error::custom)
    }
}

/// The event's members as read, before they are checked. An attribute that
/// is `null` is as if absent.
#[derive(Default)]
pub(super) struct IncomingEvent {
    pub(super) specversion: Option<String>,
    pub(super) id: Option<String>,
    pub(super) source: Option<String>,
    pub(super) event_type: Option<String>,
    pub(super) subject: Option<String>,
    pub(super) time: Option<String>,
    pub(super) datacontenttype: Option<String>,
    pub(super) dataschema: Option<String>,
    pub(super) correlationid: Option<String>,
    pub(super) schemaversion: Option<String>,
    pub(super) extensions: Extensions,
    pub(super) data: Option<IncomingData>,
    delivery: Option<IncomingDelivery>,
}

/// JSON data as read: as its text where this crate's own readers parse
/// JSON (so that a payload type that keeps numbers as written,
/// [`super::RawJson`], gets them so), as a `Value` through serde's
/// `Deserialize` in any other format.
pub(super) enum JsonData {
    /// The text, checked to be JSON.
    Raw(Box<RawValue>),
    /// The value.
    Value(Value),
}

impl JsonData {
    /// Whether the data is a JSON string.
    fn is_string(&self) -> bool {
        match self {
            JsonData::Raw(raw) => raw.get().starts_with('"'),
            JsonData::Value(value) => value.is_string(),
        }
    }

    /// The data read as `P`.
    fn read<P: DeserializeOwned>(self) -> Result<P, String> {
        match self {
            JsonData::Raw(raw) => serde_json::from_str(raw.get()).map_err(|e| e.to_string()),
            JsonData::Value(value) => P::deserialize(value).map_err(|e| e.to_string()),
        }
    }
}

/// The event's data as read.
pub(super) enum IncomingData {
    /// The `data` member, a JSON value (`null` included).
    Json(JsonData),
    /// The raw bytes: `data_base64`, or a binary-mode body.
    Bytes(Vec<u8>),
    /// A binary-mode body whose content type is text.
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncomingDelivery {
    status: DeliveryStatus,
    attempts: u32,
    policy: RetryPolicy,
    #[serde(default, deserialize_with = "unique_tags")]
    tags: BTreeMap<String, String>,
    history: Vec<Transition>,
}

/// Tags, refusing a key that appears twice (a map would keep the last).
fn unique_tags<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    struct Tags;
    impl<'de> Visitor<'de> for Tags {
        type Value = BTreeMap<String, String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of string tags")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut tags = BTreeMap::new();
            while let Some((key, value)) = map.next_entry::<String, String>()? {
                if tags.contains_key(&key) {
                    return Err(de::Error::custom(FormatError::DuplicateMember(format!(
                        "tag {key:?}"
                    ))));
                }
                tags.insert(key, value);
            }
            Ok(tags)
        }
    }
    deserializer.deserialize_map(Tags)
}

/// The name of the storage form's delivery record. It is no CloudEvents
/// attribute name (those are lowercase ASCII letters and digits), so no
/// event can carry an attribute that collides with it.
pub(crate) const DELIVERY: &str = "_delivery";

/// The members of a JSON event in document order, a member that appears
/// twice kept twice (so that the event reader can refuse it). The stored
/// delivery record is read as it goes, so that its own checks (a tag that
/// appears twice) see the text, and so is `data`; their places in
/// `members` hold `null`.
pub(super) struct Members {
    members: Vec<(String, Value)>,
    data: Option<JsonData>,
    delivery: Option<IncomingDelivery>,
}

/// Reads the members of a JSON event, refusing the one past `limits` and,
/// in a `received` event, a delivery record (without reading it) and data
/// nested deeper than `limits` allow; each such refusal is put in
/// `refusal`, so that the caller can tell it from malformed JSON. Where the
/// deserializer is `serde_json`'s own (`raw`), `data` is kept as its text.
struct MembersSeed<'a> {
    limits: ReadLimits,
    received: bool,
    raw: bool,
    refusal: &'a Cell<Option<FormatError>>,
}

impl MembersSeed<'_> {
    /// Stops the reading with `refusal`.
    fn refuse<E: de::Error>(&self, refusal: FormatError) -> E {
        let error = E::custom(&refusal);
        self.refusal.set(Some(refusal));
        error
    }
}

impl<'de> DeserializeSeed<'de> for MembersSeed<'_> {
    type Value = Members;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Members, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MembersSeed<'_> {
    type Value = Members;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CloudEvents 1.0 event as a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
        let mut members = Vec::with_capacity(12);
        let mut delivery = None;
        let mut data = None;
        while let Some(key) = map.next_key::<String>()? {
            if members.len() == self.limits.max_members() {
                return Err(self.refuse(FormatError::Limit {
                    what: "members",
                    limit: self.limits.max_members(),
                }));
            }
            if self.received && key == DELIVERY {
                return Err(self.refuse(FormatError::Attribute {
                    name: DELIVERY.into(),
                    reason: "a received event cannot carry a delivery record: \
                             its receiver's store keeps its own"
                        .into(),
                }));
            }
            let value = match key.as_str() {
                DELIVERY => {
                    delivery = Some(map.next_value()?);
                    Value::Null
                }
                "data" if self.raw => {
                    let raw: Box<RawValue> = map.next_value()?;
                    if self.received
                        && let Err(refusal) = self.limits.check_depth(raw.get())
                    {
                        return Err(self.refuse(refusal));
                    }
                    data = Some(JsonData::Raw(raw));
                    Value::Null
                }
                "data" => {
                    data = Some(JsonData::Value(map.next_value()?));
                    Value::Null
                }
                _ => map.next_value()?,
            };
            members.push((key, value));
        }
        Ok(Members {
            members,
            data,
            delivery,
        })
    }
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        MembersSeed {
            limits: unlimited(),
            received: false,
            raw: false,
            refusal: &Cell::new(None),
        }
        .deserialize(deserializer)
    }
}

impl Members {
    /// Reads a received JSON event within `limits`, each refusal typed: a
    /// body that is no JSON object is refused as [`FormatError::Json`], and
    /// a delivery record, which only the receiver's own store writes, as an
    /// attribute that no event can have.
    pub(super) fn received(json: &[u8], limits: &ReadLimits) -> Result<Members, FormatError> {
        Members::read(json, *limits, true)
    }

    /// Reads a stored JSON event (the storage form), its data kept as
    /// written.
    pub(super) fn stored(json: &[u8]) -> Result<Members, FormatError> {
        Members::read(json, unlimited(), false)
    }

    fn read(json: &[u8], limits: ReadLimits, received: bool) -> Result<Members, FormatError> {
        let refusal = Cell::new(None);
        let seed = MembersSeed {
            limits,
            received,
            raw: true,
            refusal: &refusal,
        };
        let mut deserializer = serde_json::Deserializer::from_slice(json);
        seed.deserialize(&mut deserializer)
            .and_then(|members| deserializer.end().map(|()| members))
            .map_err(|error| {
                refusal
                    .take()
                    .unwrap_or_else(|| FormatError::Json(error.to_string()))
            })
    }
}

/// No limit: for what this crate's own stores wrote, and for serde's
/// `Deserialize`, whose input is the caller's.
fn unlimited() -> ReadLimits {
    ReadLimits::default()
        .body_bytes(usize::MAX)
        .members(usize::MAX)
        .depth(usize::MAX)
}

impl IncomingEvent {
    /// The event's members sorted out: a duplicate refused, `null`
    /// attributes as if absent, and anything this crate does not know an
    /// extension attribute.
    pub(super) fn from_members(
        Members {
            members,
            mut data,
            delivery,
        }: Members,
    ) -> Result<IncomingEvent, FormatError> {
        let mut event = IncomingEvent {
            delivery,
            ..IncomingEvent::default()
        };
        let mut seen: HashSet<&str> = HashSet::with_capacity(members.len());
        for (key, _) in &members {
            if !seen.insert(key) {
                return Err(FormatError::DuplicateMember(key.clone()));
            }
        }
        // Whether `data` or `data_base64` came, `null` or not: the other
        // after it is refused, in either order.
        let mut data_member = false;
        for (key, value) in members {
            let text = |value: Value| string_attribute(&key, value);
            match key.as_str() {
                "specversion" => event.specversion = text(value)?,
                "id" => event.id = text(value)?,
                "source" => event.source = text(value)?,
                "type" => event.event_type = text(value)?,
                "subject" => event.subject = text(value)?,
                "time" => event.time = text(value)?,
                "datacontenttype" => event.datacontenttype = text(value)?,
                "dataschema" => event.dataschema = text(value)?,
                "correlationid" | "schemaversion" => match value {
                    Value::String(own) if !own.is_empty() => event.set_own(&key, own),
                    other => {
                        if let Some(value) = extension_value(&key, other)? {
                            event.extensions.insert(key, value);
                        }
                    }
                },
                "data" | "data_base64" if data_member => {
                    return Err(FormatError::DataTwice);
                }
                "data" => {
                    data_member = true;
                    event.data = data.take().map(IncomingData::Json);
                }
                "data_base64" => {
                    data_member = true;
                    if let Some(encoded) = text(value)? {
                        let bytes =
                            BASE64
                                .decode(&encoded)
                                .map_err(|error| FormatError::Attribute {
                                    name: "data_base64".into(),
                                    reason: format!("not base64: {error}"),
                                })?;
                        event.data = Some(IncomingData::Bytes(bytes));
                    }
                }
                DELIVERY => {}
                _ => {
                    if let Some(value) = extension_value(&key, value)? {
                        event.extensions.insert(key, value);
                    }
                }
            }
        }
        Ok(event)
    }
}

impl IncomingEvent {
    /// Sets one of this crate's own extensions (`correlationid`,
    /// `schemaversion`) to a non-empty string. Another producer may use
    /// either name with another type, or empty: such a value is kept as a
    /// plain extension instead.
    pub(super) fn set_own(&mut self, name: &str, value: String) {
        match name {
            "correlationid" => self.correlationid = Some(value),
            _ => self.schemaversion = Some(value),
        }
    }
}

/// A string attribute's value; `None` for `null` (unset).
fn string_attribute(name: &str, value: Value) -> Result<Option<String>, FormatError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text)),
        other => Err(FormatError::Attribute {
            name: name.to_owned(),
            reason: format!("expected a string, found {other}"),
        }),
    }
}

/// An extension attribute's JSON value as its CloudEvents type: a string, an
/// integer or a boolean; `None` for `null` (unset).
fn extension_value(name: &str, value: Value) -> Result<Option<ExtensionValue>, FormatError> {
    let refuse = |reason: &str| FormatError::Attribute {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(ExtensionValue::Text(text))),
        Value::Bool(flag) => Ok(Some(ExtensionValue::Boolean(flag))),
        Value::Number(number) => number
            .as_i64()
            .map(|integer| Some(ExtensionValue::Integer(integer)))
            .ok_or_else(|| refuse("an extension number must be an integer")),
        Value::Array(_) | Value::Object(_) => Err(refuse(
            "an extension attribute is a string, an integer or a boolean",
        )),
    }
}

impl IncomingEvent {
    /// Checks what a received event must be but a stored row need not: its
    /// keys (id, source and ordering key) no longer than
    /// [`MAX_KEY_BYTES`](super::MAX_KEY_BYTES), its source a URI reference
    /// and its dataschema an absolute URI by RFC 3986's grammar. Stored rows are not held to these: what a store admitted
    /// before they were checked still reads.
    pub(super) fn check_received(self) -> Result<IncomingEvent, FormatError> {
        let keys = [
            (Field::EventId, self.id.as_deref()),
            (Field::SourceSystem, self.source.as_deref()),
            (
                Field::OrderingKey,
                self.extensions
                    .get(PARTITIONKEY)
                    .and_then(ExtensionValue::as_str),
            ),
        ];
        for (field, key) in keys {
            if let Some(key) = key {
                check_key_length(field, key)?;
            }
        }
        if let Some(source) = &self.source {
            check_uri_reference(Field::SourceSystem, source)?;
        }
        if let Some(data_schema) = &self.dataschema {
            check_absolute_uri(Field::DataSchema, data_schema)?;
        }
        Ok(self)
    }

    /// The envelope the event describes, once every attribute, the data and
    /// the delivery history are checked.
    pub(super) fn into_envelope<P: DeserializeOwned>(self) -> Result<AnyEnvelope<P>, FormatError> {
        let specversion = self
            .specversion
            .ok_or(FormatError::MissingAttribute("specversion"))?;
        if specversion != SPEC_VERSION {
            return Err(FormatError::SpecVersion(specversion));
        }
        let id = self.id.ok_or(FormatError::MissingAttribute("id"))?;
        let source = self.source.ok_or(FormatError::MissingAttribute("source"))?;
        let event_type = self
            .event_type
            .ok_or(FormatError::MissingAttribute("type"))?;
        check_text(Field::EventId, &id)?;
        check_text(Field::EventType, &event_type)?;
        check_text(Field::SourceSystem, &source)?;
        if let Some(subject) = &self.subject {
            check_text(Field::Subject, subject)?;
        }
        if let Some(data_schema) = &self.dataschema {
            check_text(Field::DataSchema, data_schema)?;
            check_stored_absolute_uri(Field::DataSchema, data_schema)?;
        }
        if let Some(correlation_id) = &self.correlationid {
            check_text(Field::CorrelationId, correlation_id)?;
        }
        if let Some(schema_version) = &self.schemaversion {
            check_text(Field::SchemaVersion, schema_version)?;
        }
        if let Some(content_type) = &self.datacontenttype {
            check_content_type(content_type)?;
        }
        for (name, value) in &self.extensions {
            match OWN_EXTENSIONS.contains(&name.as_str()) {
                // Another producer's use of one of this crate's names.
                true => check_extension_value(name, value)?,
                false => check_extension(name, value)?,
            }
        }
        let created_at = self
            .time
            .map(|time| {
                let refuse = |reason: String| FormatError::Attribute {
                    name: "time".into(),
                    reason: format!("{time:?} is not an RFC 3339 time: {reason}"),
                };
                let parsed = DateTime::parse_from_rfc3339(&time)
                    .map_err(|error| refuse(error.to_string()))?;
                // RFC 3339 lets a space stand for the `T`; the timestamps of
                // CloudEvents (its profile of RFC 3339) do not.
                if !matches!(time.as_bytes().get(10), Some(b'T' | b't')) {
                    return Err(refuse("date and time are separated by `T`".into()));
                }
                Ok(parsed)
            })
            .transpose()?;
        let (payload, data_form) = read_data::<P>(self.data, self.datacontenttype.as_deref())?;
        let delivery = match self.delivery {
            Some(delivery) => {
                for key in delivery.tags.keys() {
                    check_text(Field::TagKey, key)?;
                }
                check_consistency(&delivery, created_at.map(|time| time.to_utc()))?;
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
        let schema_version = self.schemaversion.map(|version| {
            if version == DEFAULT_SCHEMA_VERSION {
                Cow::Borrowed(DEFAULT_SCHEMA_VERSION)
            } else {
                Cow::Owned(version)
            }
        });
        let envelope = Envelope::<Pending, P>::from_data(EnvelopeData {
            event_id: id,
            event_type,
            source_system: source,
            payload,
            data_form,
            content_type: self.datacontenttype.map(Cow::Owned),
            data_schema: self.dataschema,
            subject: self.subject,
            created_at,
            correlation_id: self.correlationid,
            schema_version,
            extensions: self.extensions,
            attempt_count: delivery.attempts,
            retry_policy: delivery.policy,
            tags: delivery.tags,
            history: delivery.history,
        });
        Ok(AnyEnvelope::with_status(envelope, delivery.status))
    }
}

/// The payload and the form it travelled in. JSON data reads as any payload
/// type; text reads as a string; bytes read as a sequence of bytes; no data
/// reads as `null` (a `serde_json::Value`, an `Option`, `()`).
fn read_data<P: DeserializeOwned>(
    data: Option<IncomingData>,
    content_type: Option<&str>,
) -> Result<(P, DataForm), FormatError> {
    let unreadable = |error: &dyn fmt::Display| FormatError::Data(error.to_string());
    match data {
        Some(IncomingData::Json(json)) => {
            let form = match (json.is_string(), DataForm::for_content_type(content_type)) {
                (true, DataForm::Text | DataForm::Binary) => DataForm::Text,
                _ => DataForm::Json,
            };
            Ok((json.read().map_err(|e| unreadable(&e))?, form))
        }
        Some(IncomingData::Text(text)) => Ok((
            P::deserialize(Value::String(text)).map_err(|e| unreadable(&e))?,
            DataForm::Text,
        )),
        Some(IncomingData::Bytes(bytes)) => Ok((
            P::deserialize(ByteData(bytes)).map_err(|e| unreadable(&e))?,
            DataForm::Binary,
        )),
        None => match P::deserialize(Value::Null) {
            Ok(payload) => Ok((payload, DataForm::Absent)),
            Err(error) => Err(FormatError::Data(format!(
                "the event has no data, and the payload type cannot be empty ({error})"
            ))),
        },
    }
}

/// Replays the history from `Pending` and checks that it is a sequence of legal
/// transitions, in time order from the event's time, with a reason exactly on
/// failures, skips and redrives, that ends in the written status with the
/// written attempt count.
fn check_consistency(
    delivery: &IncomingDelivery,
    created_at: Option<DateTime<Utc>>,
) -> Result<(), FormatError> {
    let mut state = DeliveryStatus::Pending;
    let mut attempts: u32 = 0;
    let mut earlier = created_at;
    for (index, step) in delivery.history.iter().enumerate() {
        let (from, to) = (step.from(), step.to());
        if let Some(earlier) = earlier
            && step.at() < earlier
        {
            return Err(FormatError::HistoryTime {
                index,
                at: step.at(),
                earlier,
            });
        }
        earlier = Some(step.at());
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
        // Failures, skips and redrives say why; a dispatch may say why it
        // went ahead (past a dead letter of its ordering key); nothing else.
        match (to, step.reason()) {
            (
                DeliveryStatus::Retrying
                | DeliveryStatus::Failed
                | DeliveryStatus::Skipped
                | DeliveryStatus::Pending,
                None | Some(""),
            )
            | (DeliveryStatus::Dispatched, Some("")) => {
                return Err(FormatError::MissingReason { index, to });
            }
            (DeliveryStatus::Acknowledged | DeliveryStatus::Processed, Some(_)) => {
                return Err(FormatError::UnexpectedReason { index, to });
            }
            _ => {}
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
