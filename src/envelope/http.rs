//! The HTTP binding on the `http` crate's types (feature `http`): an event as
//! request or response headers and body, in binary or structured content
//! mode, and back.

use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Envelope;
use super::binary::{Binding, ContentMode, WireError};
use super::cloudevent::CLOUDEVENTS_JSON;
use super::limits::ReadLimits;
use super::serde::FormatError;
use super::state::{Pending, State};

impl<S: State, P: Serialize> Envelope<S, P> {
    /// The event as HTTP headers and body in `mode`: binary (the `ce-`
    /// headers and the data as the body, as webhooks expect) or structured
    /// (`content-type: application/cloudevents+json` and the event as JSON).
    ///
    /// ```
    /// use integration_automation_patterns::Envelope;
    /// use integration_automation_patterns::envelope::ContentMode;
    ///
    /// let envelope = Envelope::builder()
    ///     .event_id("evt-1")
    ///     .event_type("crm.contact.updated")
    ///     .source_system("crm")
    ///     .payload(serde_json::json!({ "contact_id": 42 }))
    ///     .build()?;
    /// let (headers, body) = envelope.to_http(ContentMode::Binary)?;
    /// assert_eq!(headers["ce-id"], "evt-1");
    /// let received = Envelope::from_http(&headers, &body)?;
    /// assert_eq!(received, envelope.to_received());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_http(&self, mode: ContentMode) -> Result<(HeaderMap, Vec<u8>), WireError> {
        let mut headers = HeaderMap::new();
        match mode {
            ContentMode::Binary => {
                let message = self.to_binary(Binding::Http)?;
                for (name, value) in message.headers {
                    headers.append(header_name(&name)?, header_value(&name, &value)?);
                }
                Ok((headers, message.body))
            }
            ContentMode::Structured => {
                let body = serde_json::to_vec(&self.to_cloudevent()).map_err(|error| {
                    WireError::Payload {
                        form: "JSON",
                        reason: error.to_string(),
                    }
                })?;
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(CLOUDEVENTS_JSON));
                Ok((headers, body))
            }
        }
    }
}

impl<P: DeserializeOwned> Envelope<Pending, P> {
    /// Reads an HTTP request or response in either content mode, within the
    /// default [`ReadLimits`]; see [`Envelope::from_http_within`].
    pub fn from_http(headers: &HeaderMap, body: &[u8]) -> Result<Self, FormatError> {
        Envelope::from_http_within(&ReadLimits::default(), headers, body)
    }

    /// Reads an HTTP request or response in either content mode within
    /// `limits`; see [`Envelope::from_message_within`]. A header of the
    /// binding's own (`ce-*`, `content-type`) whose value is not visible
    /// ASCII is refused, naming the header.
    pub fn from_http_within(
        limits: &ReadLimits,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Self, FormatError> {
        let mut read = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            let ours = name == CONTENT_TYPE
                || name
                    .as_str()
                    .get(..3)
                    .is_some_and(|prefix| prefix.eq_ignore_ascii_case("ce-"));
            match value.to_str() {
                Ok(value) => read.push((name.as_str(), value)),
                // Another header's bytes are not ours to judge.
                Err(_) if !ours => {}
                Err(_) => {
                    return Err(FormatError::Attribute {
                        name: name.as_str().to_owned(),
                        reason: "the header value is not visible ASCII".into(),
                    });
                }
            }
        }
        let headers = read;
        Envelope::from_message_within(limits, Binding::Http, &headers, body)
    }
}

fn header_name(name: &str) -> Result<HeaderName, WireError> {
    HeaderName::try_from(name).map_err(|error| WireError::Header {
        name: name.to_owned(),
        reason: error.to_string(),
    })
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, WireError> {
    HeaderValue::try_from(value).map_err(|error| WireError::Header {
        name: name.to_owned(),
        reason: error.to_string(),
    })
}
