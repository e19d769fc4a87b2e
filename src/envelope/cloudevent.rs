//! The event as other systems see it: a plain CloudEvent in the JSON format.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::serde::write_event;
use super::state::State;
use super::{Envelope, EnvelopeData};

/// The media type of one CloudEvent in the JSON format (structured content mode).
pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";

/// An envelope's event as other systems must see it: a CloudEvents 1.0 event
/// in the JSON format (structured content mode), with every context and
/// extension attribute and the data, and no member the specification does
/// not define (none of the sender's delivery bookkeeping). Serialize it to
/// send it; reading it gives back the event as a `Pending` envelope, equal to
/// [`Envelope::to_received`].
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
/// let wire = serde_json::to_value(envelope.to_cloudevent())?;
/// assert_eq!(wire["subject"], "contact/42");
/// assert!(wire.get("_delivery").is_none());
/// let received: Envelope<_> = serde_json::from_value(wire)?;
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
