//! Conversions to and from the official SDK's `cloudevents::Event` (feature
//! `cloudevents`), so that the SDK's bindings (axum, reqwest, rdkafka, NATS)
//! carry envelopes.
//!
//! Both sides speak the CloudEvents JSON format, and the conversions go
//! through it: what one writes, the other reads, attribute for attribute.

use cloudevents::Event;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Envelope;
use super::binary::WireError;
use super::limits::ReadLimits;
use super::serde::FormatError;
use super::state::{Pending, State};

/// The event as the SDK's `Event`: every context and extension attribute and
/// the data; none of the sender's delivery bookkeeping.
///
/// ```
/// use integration_automation_patterns::Envelope;
///
/// let envelope = Envelope::builder()
///     .event_id("evt-1")
///     .event_type("crm.contact.updated")
///     .source_system("crm")
///     .payload(serde_json::json!({ "contact_id": 42 }))
///     .extension("tenant", "acme")
///     .build()?;
/// let event = cloudevents::Event::try_from(&envelope)?;
/// let back: Envelope<_> = Envelope::try_from(event)?;
/// assert_eq!(back, envelope.to_received());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<S: State, P: Serialize> TryFrom<&Envelope<S, P>> for Event {
    type Error = WireError;

    fn try_from(envelope: &Envelope<S, P>) -> Result<Event, WireError> {
        let json = serde_json::to_value(envelope.to_cloudevent()).map_err(sdk_error)?;
        serde_json::from_value(json).map_err(sdk_error)
    }
}

/// A received SDK event as a `Pending` envelope, read as
/// [`Envelope::from_json_within`] reads a received event (its keys within
/// [`MAX_KEY_BYTES`](super::MAX_KEY_BYTES)), with no limit on its size: it is
/// in memory already.
impl<P: DeserializeOwned> TryFrom<Event> for Envelope<Pending, P> {
    type Error = FormatError;

    fn try_from(event: Event) -> Result<Self, FormatError> {
        let json =
            serde_json::to_vec(&event).map_err(|error| FormatError::Data(error.to_string()))?;
        let in_memory = ReadLimits::default()
            .body_bytes(usize::MAX)
            .members(usize::MAX);
        Envelope::from_json_within(&in_memory, &json)
    }
}

fn sdk_error(error: serde_json::Error) -> WireError {
    WireError::Sdk {
        reason: error.to_string(),
    }
}
