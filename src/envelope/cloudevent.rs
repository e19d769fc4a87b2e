//! The event as other systems see it: a plain CloudEvent in the JSON format.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde::ser::{SerializeMap, Serializer};

use super::limits::ReadLimits;
use super::serde::{FormatError, IncomingEvent, Members, write_event};
use super::state::{Pending, State};
use super::{AnyEnvelope, Envelope, EnvelopeData};

/// The media type of one CloudEvent in the JSON format (structured content mode).
pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";

/// An envelope's event as other systems must see it: a CloudEvents 1.0 event
/// in the JSON format (structured content mode), with every context and
/// extension attribute and the data, and no member the specification does
/// not define (none of the sender's delivery bookkeeping). Serialize it to
/// send it; [`Envelope::from_json`] reads it back as a `Pending` envelope,
/// equal to [`Envelope::to_received`]. (Serde's `Deserialize` for an envelope
/// reads the storage form, delivery record and all: it is for what a store
/// wrote, not for what a sender did.)
///
/// ```
/// use integration_automation_patterns::{AnyEnvelope, Envelope};
/// use serde_json::json;
///
/// let envelope = Envelope::builder()
///     .event_id("evt-1")
///     .event_type("crm.contact.updated")
///     .source_system("crm")
///     .payload(json!({ "contact_id": 42 }))
///     .subject("contact/42")
///     .traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
///     .build()?;
/// let wire = serde_json::to_vec(&envelope.to_cloudevent())?;
/// let received: Envelope<_> = Envelope::from_json(&wire)?;
/// assert_eq!(received.subject(), Some("contact/42"));
/// assert_eq!(received, envelope.to_received());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct CloudEvent<'a, P> {
    data: &'a EnvelopeData<P>,
}

impl<S: State, P> Envelope<S, P> {
    /// The event as a plain CloudEvent, for the wire: see [`CloudEvent`].
    pub fn to_cloudevent(&self) -> CloudEvent<'_, P> {
        CloudEvent { data: &self.data }
    }
}

impl<P: Serialize> Serialize for CloudEvent<'_, P> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let mut map = serializer.serialize_map(None)?;
        write_event::<Z::SerializeMap, P>(&mut map, self.data)?;
        map.end()
    }
}

impl<P: DeserializeOwned> Envelope<Pending, P> {
    /// Reads a received event in the JSON format (structured mode), within
    /// the default [`ReadLimits`]: see [`Envelope::from_json_within`].
    pub fn from_json(json: &[u8]) -> Result<Self, FormatError> {
        Envelope::from_json_within(&ReadLimits::default(), json)
    }

    /// Reads a received event in the JSON format (structured mode) within
    /// `limits`, as a receiver must: a delivery record (`_delivery`, which
    /// only a store writes) is refused, and so are keys longer than
    /// [`MAX_KEY_BYTES`](super::MAX_KEY_BYTES) and an event past the limits.
    pub fn from_json_within(limits: &ReadLimits, json: &[u8]) -> Result<Self, FormatError> {
        IncomingEvent::received_json(limits, json)?.into_received()
    }
}

impl IncomingEvent {
    /// A received event in the JSON format, read within `limits`, before it
    /// is checked.
    pub(super) fn received_json(
        limits: &ReadLimits,
        json: &[u8],
    ) -> Result<IncomingEvent, FormatError> {
        limits.check_body(json)?;
        IncomingEvent::from_members(Members::received(json, limits)?)
    }

    /// The received event as a pending envelope, once it is checked as a
    /// received event must be.
    pub(super) fn into_received<P: DeserializeOwned>(
        self,
    ) -> Result<Envelope<Pending, P>, FormatError> {
        let any: AnyEnvelope<P> = self.check_received()?.into_envelope()?;
        Envelope::try_from(any).map_err(|wrong| FormatError::NotPending(wrong.found()))
    }
}
