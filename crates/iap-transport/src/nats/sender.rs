//! The NATS JetStream sender: publishes each event and counts the stream's
//! acknowledgement as its delivery.

use std::future::Future;

use async_nats::HeaderMap;
use async_nats::jetstream::context::{Context, PublishErrorKind};
use serde::Serialize;

use crate::TransportError;
use iap_relay::Sender;
use iap_store::{Delivery, SendError};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::Binding;
use integration_automation_patterns::envelope::state::{Dispatched, State};

/// Where a sender publishes.
#[derive(Clone, Debug)]
enum Subject {
    /// Every event to one subject.
    Fixed(String),
    /// Each event to `<prefix>.<event type>`.
    ByEventType(String),
}

/// Publishes events to a JetStream stream, in the CloudEvents NATS binding's
/// binary form (structured for an event that binary mode cannot carry as it
/// is, see [`Envelope::fits_binary_mode`]), each with its key as the `Nats-Msg-Id`: the stream drops a re-send within
/// its duplicate window.
///
/// | publish | outcome |
/// |---|---|
/// | acknowledged by the stream (a duplicate included) | [`Delivery::Acknowledged`] |
/// | no acknowledgement in time, no stream for the subject, no connection | [`SendError::Transient`] |
/// | larger than the server's `max_payload`, or an event type that is no subject token | [`SendError::Permanent`] |
///
/// An `NatsSender` is a relay [`Sender`] as it is.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use iap_transport::nats::{NatsSender, async_nats};
///
/// let client = async_nats::connect("127.0.0.1:4222").await?;
/// let jetstream = async_nats::jetstream::new(client);
/// let sender = NatsSender::new(jetstream, "orders.events")?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct NatsSender {
    context: Context,
    subject: Subject,
}

impl NatsSender {
    /// A sender that publishes every event to `subject`; a subject with a
    /// wildcard, whitespace or an empty token is refused.
    pub fn new(context: Context, subject: &str) -> Result<Self, TransportError> {
        check_subject(subject)?;
        Ok(NatsSender {
            context,
            subject: Subject::Fixed(subject.to_owned()),
        })
    }

    /// A sender that publishes each event to `<prefix>.<event type>`, so that
    /// consumers can filter by type. An event type that cannot be a subject
    /// token (with a wildcard or whitespace) fails its send permanently.
    pub fn by_event_type(context: Context, prefix: &str) -> Result<Self, TransportError> {
        check_subject(prefix)?;
        Ok(NatsSender {
            context,
            subject: Subject::ByEventType(prefix.to_owned()),
        })
    }

    /// Publishes `envelope` and waits for the stream's acknowledgement. The
    /// future owns what it needs: it does not borrow the envelope.
    pub fn publish<S: State, P: Serialize>(
        &self,
        envelope: &Envelope<S, P>,
    ) -> impl Future<Output = Result<Delivery, SendError>> + Send + 'static {
        let message = self.message(envelope);
        let context = self.context.clone();
        async move {
            let (subject, headers, payload) = message?;
            let acknowledgement = context
                .publish_with_headers(subject.clone(), headers, payload.into())
                .await
                .map_err(|error| publish_failed(&subject, error.kind(), &error))?;
            acknowledgement
                .await
                .map_err(|error| publish_failed(&subject, error.kind(), &error))?;
            Ok(Delivery::Acknowledged)
        }
    }

    /// The subject, headers and payload of `envelope`'s message.
    fn message<S: State, P: Serialize>(
        &self,
        envelope: &Envelope<S, P>,
    ) -> Result<(String, HeaderMap, Vec<u8>), SendError> {
        let subject = match &self.subject {
            Subject::Fixed(subject) => subject.clone(),
            Subject::ByEventType(prefix) => {
                let subject = format!("{prefix}.{}", envelope.event_type());
                check_subject(&subject).map_err(|error| SendError::Permanent {
                    reason: format!("the event type cannot route a NATS message: {error}"),
                })?;
                subject
            }
        };
        let unwritable = |error: &dyn std::fmt::Display| SendError::Permanent {
            reason: format!("the event cannot be written as a NATS message: {error}"),
        };
        let mut headers = HeaderMap::new();
        let body = if !envelope.fits_binary_mode() {
            // Structured mode: the event as JSON and no attribute header.
            serde_json::to_vec(&envelope.to_cloudevent()).map_err(|error| unwritable(&error))?
        } else {
            let message = envelope
                .to_binary(Binding::Nats)
                .map_err(|error| unwritable(&error))?;
            for (name, value) in &message.headers {
                headers.append(name.as_str(), value.as_str());
            }
            message.body
        };
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            message_id(envelope.source_system(), envelope.event_id()).as_str(),
        );
        Ok((subject, headers, body))
    }
}

impl<P: Serialize + Send + Sync + 'static> Sender<P> for NatsSender {
    fn send(
        &self,
        envelope: &Envelope<Dispatched, P>,
    ) -> impl Future<Output = Result<Delivery, SendError>> + Send + 'static {
        self.publish(envelope)
    }
}

/// A failed publish: permanent only when the message can never fit.
fn publish_failed(
    subject: &str,
    kind: PublishErrorKind,
    error: &dyn std::fmt::Display,
) -> SendError {
    match kind {
        PublishErrorKind::MaxPayloadExceeded => SendError::Permanent {
            reason: format!("the message is larger than the NATS server accepts: {error}"),
        },
        PublishErrorKind::StreamNotFound => SendError::Transient {
            reason: format!("no JetStream stream answered for subject {subject:?}: {error}"),
            retry_after: None,
        },
        PublishErrorKind::TimedOut => SendError::Transient {
            reason: format!("the stream did not acknowledge the publish to {subject:?} in time"),
            retry_after: None,
        },
        _ => SendError::Transient {
            reason: format!("publishing to {subject:?} failed: {error}"),
            retry_after: None,
        },
    }
}

/// The `Nats-Msg-Id` of an event: `<source>/<id>`, each part with `%`,
/// `/` and every byte outside visible ASCII percent-encoded, so that two
/// distinct keys never share an id (a shared id would make the stream drop
/// one of the two events as a duplicate).
fn message_id(source_system: &str, event_id: &str) -> String {
    let mut id = String::with_capacity(source_system.len() + event_id.len() + 1);
    encode_into(&mut id, source_system);
    id.push('/');
    encode_into(&mut id, event_id);
    id
}

fn encode_into(out: &mut String, part: &str) {
    for byte in part.bytes() {
        if byte.is_ascii_graphic() && byte != b'%' && byte != b'/' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// Refuses a subject that cannot be published to: empty, with an empty
/// token, a wildcard, or whitespace or a control character.
fn check_subject(subject: &str) -> Result<(), TransportError> {
    let refused = |reason: &str| TransportError::Subject {
        subject: subject.to_owned(),
        reason: reason.to_owned(),
    };
    if subject.split('.').any(str::is_empty) {
        return Err(refused("it has an empty token"));
    }
    if subject.split('.').any(|token| token == "*" || token == ">") {
        return Err(refused("a wildcard cannot be published to"));
    }
    if subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refused("it holds whitespace or a control character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_of_distinct_keys_differ() {
        assert_eq!(message_id("shop", "order-1"), "shop/order-1");
        assert_ne!(message_id("a/b", "c"), message_id("a", "b/c"));
        assert_ne!(message_id("a%2Fb", "c"), message_id("a/b", "c"));
        assert_eq!(message_id("crm eu", "zoë"), "crm%20eu/zo%C3%AB");
    }

    #[test]
    fn subjects_that_cannot_be_published_to_are_refused() {
        assert!(check_subject("orders.events").is_ok());
        for bad in [
            "",
            "orders.",
            ".orders",
            "orders..x",
            "orders.*",
            "orders.>",
            "order s",
        ] {
            assert!(check_subject(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
