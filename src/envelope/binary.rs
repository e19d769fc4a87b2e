//! Binary content mode: the event's attributes as message headers and its
//! data as the message body, for the HTTP, Kafka, NATS and AMQP bindings;
//! and reading a message in either content mode.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use super::attributes::{DataForm, ExtensionValue, PARTITIONKEY, is_json, is_text};
use super::bytes::payload_bytes;
use super::cloudevent::CLOUDEVENTS_JSON;
use super::error::{Field, check_key_length, check_text};
use super::limits::ReadLimits;
use super::serde::{FormatError, IncomingData, IncomingEvent, JsonData};
use super::state::{Pending, State};
use super::{Envelope, EnvelopeData};

/// A protocol binding, as far as binary content mode differs between them:
/// the header prefix, where the content type goes, and how values are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binding {
    /// HTTP: `ce-` headers (names in any case), percent-encoded values, the
    /// data's media type in `content-type` as it is (the protocol's own
    /// header, which the binding maps directly).
    Http,
    /// Kafka: `ce_` headers, UTF-8 values as they are, the media type in
    /// `content-type`.
    Kafka,
    /// NATS: `ce-` headers, percent-encoded values, the media type in
    /// `ce-datacontenttype`.
    Nats,
    /// AMQP application properties: `cloudEvents_` (`cloudEvents:` is read
    /// too), values as they are, the media type in `content-type`.
    Amqp,
}

impl Binding {
    fn prefix(self) -> &'static str {
        match self {
            Binding::Http | Binding::Nats => "ce-",
            Binding::Kafka => "ce_",
            Binding::Amqp => "cloudEvents_",
        }
    }

    /// The header that carries `datacontenttype`.
    fn content_type_header(self) -> &'static str {
        match self {
            Binding::Nats => "ce-datacontenttype",
            Binding::Http | Binding::Kafka | Binding::Amqp => "content-type",
        }
    }

    fn percent_encodes(self) -> bool {
        matches!(self, Binding::Http | Binding::Nats)
    }

    /// Whether the value of `header` is percent-encoded: the attribute
    /// headers of HTTP and NATS are, HTTP's own `content-type` is not.
    fn encodes(self, header: &str) -> bool {
        self.percent_encodes() && self.attribute(header).is_some()
    }

    /// The value a header of this binding carries: percent-decoded where the
    /// binding encodes it, and without the spaces around it on HTTP and NATS
    /// (which are not part of a header's value there).
    fn decode(self, header: &str, value: &str) -> Result<String, String> {
        match (self.encodes(header), self.percent_encodes()) {
            (true, _) => percent_decode(value.trim()),
            (false, true) => Ok(value.trim().to_owned()),
            (false, false) => Ok(value.to_owned()),
        }
    }

    /// The attribute a header names, if it is one of this binding's.
    fn attribute(self, header: &str) -> Option<&str> {
        let strip = |prefix: &str| {
            header
                .get(..prefix.len())
                .filter(|start| start.eq_ignore_ascii_case(prefix))
                .map(|_| &header[prefix.len()..])
        };
        match self {
            Binding::Http | Binding::Nats => strip("ce-"),
            Binding::Kafka => header.strip_prefix("ce_"),
            Binding::Amqp => header
                .strip_prefix("cloudEvents_")
                .or_else(|| header.strip_prefix("cloudEvents:")),
        }
    }
}

/// An event in binary content mode: its attributes as headers, its data as
/// the body (empty when the event has no data).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BinaryMessage {
    /// Header names and values, in the binding's encoding.
    pub headers: Vec<(String, String)>,
    /// The data, raw: JSON text, text, or bytes.
    pub body: Vec<u8>,
    /// The message key, on a binding that has one: on Kafka, the event's
    /// ordering key (`partitionkey`, which the binding maps to the record's
    /// key, so that the events of one key keep to one partition); `None`
    /// elsewhere.
    pub key: Option<String>,
}

impl BinaryMessage {
    /// The value of the header `name` (compared without regard to case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// How an event travels in a message of a protocol binding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ContentMode {
    /// Attributes in headers, the data as the body (the default: what
    /// webhooks and most consumers expect).
    #[default]
    Binary,
    /// The whole event as one JSON document in the body
    /// (`application/cloudevents+json`).
    Structured,
}

/// Why an envelope could not be written to a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The payload does not take the form its content type asks for: text
    /// that is not a string, binary data that is not bytes, or JSON that
    /// does not serialize.
    #[error("the payload cannot be written as {form} data: {reason}")]
    Payload {
        /// The form the content type asks for.
        form: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The official SDK refused the event (a `dataschema` that is not an
    /// absolute URI, say).
    #[error("the CloudEvents SDK refused the event: {reason}")]
    Sdk {
        /// What the SDK said.
        reason: String,
    },
    /// Binary mode cannot carry the event as it is (see
    /// [`Envelope::fits_binary_mode`]): its data is itself a CloudEvent, or
    /// it has no data under a content type that is not JSON, or its data's
    /// form disagrees with its content type. Such an event travels in
    /// structured mode only.
    #[error(
        "an event whose datacontenttype is {content_type:?} cannot travel in binary mode: \
         {reason}; send it in structured mode"
    )]
    StructuredOnly {
        /// The event's data content type.
        content_type: String,
        /// What a receiver would read in its place.
        reason: &'static str,
    },
    /// A header cannot carry an attribute (a name or value the protocol's
    /// library refuses).
    #[error("header {name:?} cannot be written: {reason}")]
    Header {
        /// The header.
        name: String,
        /// What the protocol's library said.
        reason: String,
    },
}

impl<S: State, P: Serialize> Envelope<S, P> {
    /// The event in binary content mode for `binding`: every attribute (and
    /// extension) as a header, the data as the body. Data without a content
    /// type (a received event's) is sent under the type of its form:
    /// `application/json` (as the specification asks), `text/plain`, or
    /// `application/octet-stream` for bytes, which would otherwise read back
    /// as JSON; extension values travel as their string form. An event that
    /// binary mode cannot carry as it is (see [`Envelope::fits_binary_mode`])
    /// is refused with [`WireError::StructuredOnly`]: it travels in
    /// structured mode.
    ///
    /// ```
    /// use integration_automation_patterns::Envelope;
    /// use integration_automation_patterns::envelope::Binding;
    /// use serde_json::json;
    ///
    /// let envelope = Envelope::builder()
    ///     .event_id("evt-1")
    ///     .event_type("crm.contact.updated")
    ///     .source_system("crm")
    ///     .payload(json!({ "name": "Zoë" }))
    ///     .subject("contact 42")
    ///     .build()?;
    /// let message = envelope.to_binary(Binding::Http)?;
    /// assert_eq!(message.header("ce-subject"), Some("contact%2042"));
    /// assert_eq!(message.header("content-type"), Some("application/json"));
    /// let back = Envelope::from_message(Binding::Http, &message.headers, &message.body)?;
    /// assert_eq!(back, envelope.to_received());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_binary(&self, binding: Binding) -> Result<BinaryMessage, WireError> {
        let data = &self.data;
        if let Some(reason) = binary_misfit(data) {
            return Err(WireError::StructuredOnly {
                content_type: data.content_type.as_deref().unwrap_or_default().to_owned(),
                reason,
            });
        }
        let mut message = BinaryMessage::default();
        let mut header = |name: &str, value: &str| {
            let value = if binding.percent_encodes() {
                percent_encode(value)
            } else {
                value.to_owned()
            };
            message
                .headers
                .push((format!("{}{name}", binding.prefix()), value));
        };
        header("specversion", "1.0");
        header("id", &data.event_id);
        header("source", &data.source_system);
        header("type", &data.event_type);
        if let Some(subject) = &data.subject {
            header("subject", subject);
        }
        if let Some(time) = data.rendered_time() {
            header("time", &time);
        }
        if let Some(data_schema) = &data.data_schema {
            header("dataschema", data_schema);
        }
        if let Some(correlation_id) = &data.correlation_id {
            header("correlationid", correlation_id);
        }
        if let Some(schema_version) = &data.schema_version {
            header("schemaversion", schema_version);
        }
        for (name, value) in &data.extensions {
            header(name, &value.to_string());
        }
        let content_type = match (&data.content_type, data.data_form) {
            (Some(content_type), _) => Some(content_type.as_ref()),
            // Data of a received event that named no type: a body without a
            // content type reads as JSON, so name the form it has.
            (None, DataForm::Json) => Some("application/json"),
            (None, DataForm::Text) => Some("text/plain"),
            (None, DataForm::Binary) => Some("application/octet-stream"),
            (None, DataForm::Absent) => None,
        };
        if let Some(content_type) = content_type {
            // NATS carries it in an attribute header, percent-encoded like
            // the others; HTTP's `content-type` is the protocol's own.
            let value = if binding.encodes(binding.content_type_header()) {
                percent_encode(content_type)
            } else {
                content_type.to_owned()
            };
            message
                .headers
                .push((binding.content_type_header().to_owned(), value));
        }
        message.body = body(&data.payload, data.data_form)?;
        if binding == Binding::Kafka {
            message.key = self.ordering_key().map(str::to_owned);
        }
        Ok(message)
    }
}

/// Why binary mode cannot carry an event as it is, if it cannot: what a
/// receiver would read in its place.
pub(super) fn binary_misfit<P>(data: &EnvelopeData<P>) -> Option<&'static str> {
    // Data without a content type goes under the type of its form.
    let content_type = data.content_type.as_deref()?;
    if is_cloudevents_format(content_type) {
        return Some("a receiver would read its data as the event");
    }
    match (
        data.data_form,
        DataForm::for_content_type(Some(content_type)),
    ) {
        (form, expected) if form == expected => None,
        // An empty body under a JSON type is no data: JSON is never empty.
        (DataForm::Absent, DataForm::Json) => None,
        (DataForm::Absent, _) => {
            Some("the event has no data, and a receiver would read the empty body as empty data")
        }
        (DataForm::Json, _) => {
            Some("its data is a JSON value, and a receiver would read the body as text or bytes")
        }
        (DataForm::Text, _) => {
            Some("its data is text, and a receiver would read the body as JSON or bytes")
        }
        (DataForm::Binary, _) => {
            Some("its data is bytes, and a receiver would read the body as JSON or text")
        }
    }
}

/// The body that carries a payload in `form`.
fn body<P: Serialize>(payload: &P, form: DataForm) -> Result<Vec<u8>, WireError> {
    let refuse = |form: &'static str| move |reason: String| WireError::Payload { form, reason };
    match form {
        DataForm::Json => serde_json::to_vec(payload).map_err(|e| refuse("JSON")(e.to_string())),
        DataForm::Text => match serde_json::to_value(payload) {
            Ok(Value::String(text)) => Ok(text.into_bytes()),
            Ok(_) => Err(refuse("text")("it does not serialize to a string".into())),
            Err(error) => Err(refuse("text")(error.to_string())),
        },
        DataForm::Binary => payload_bytes(payload).map_err(refuse("binary")),
        DataForm::Absent => Ok(Vec::new()),
    }
}

impl<P: DeserializeOwned> Envelope<Pending, P> {
    /// Reads a message of `binding` in either content mode, within the
    /// default [`ReadLimits`]: see [`Envelope::from_message_within`].
    pub fn from_message<N, V>(
        binding: Binding,
        headers: &[(N, V)],
        body: &[u8],
    ) -> Result<Self, FormatError>
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        Envelope::from_message_within(&ReadLimits::default(), binding, headers, body)
    }

    /// Reads a message of `binding` in either content mode: structured (a
    /// content type of `application/cloudevents+json`, or for NATS a body
    /// that is a JSON event and no `ce-` headers) or binary (the attributes
    /// in headers). A message that is neither, or both (attribute headers
    /// beside a CloudEvents content type: a forgery's shape), is refused with
    /// an error that names the missing or bad attribute, and so is a message
    /// past `limits`. A body without a content type is JSON, as in
    /// structured mode; an empty body is an event without data when it has
    /// no content type or a JSON one, and empty text or bytes under any other.
    pub fn from_message_within<N, V>(
        limits: &ReadLimits,
        binding: Binding,
        headers: &[(N, V)],
        body: &[u8],
    ) -> Result<Self, FormatError>
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        read_message(limits, binding, headers, body)?.into_received()
    }

    /// Reads a Kafka record within the default [`ReadLimits`]: see
    /// [`Envelope::from_kafka_within`].
    pub fn from_kafka<N, V>(
        key: Option<&[u8]>,
        headers: &[(N, V)],
        body: &[u8],
    ) -> Result<Self, FormatError>
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        Envelope::from_kafka_within(&ReadLimits::default(), key, headers, body)
    }

    /// Reads a Kafka record in either content mode, as
    /// [`from_message_within`](Envelope::from_message_within) reads a message
    /// of [`Binding::Kafka`], with the record's key. The Kafka binding's
    /// default key mapper puts the partitioning extension's `partitionkey`
    /// in the key, and the Python and JavaScript SDKs read it back from
    /// there: so does this reader, where the event names no ordering key and
    /// the record key is one (text of at most
    /// [`MAX_KEY_BYTES`](super::MAX_KEY_BYTES), not empty, without control
    /// characters). Any other record key (a serialized integer, say) is left
    /// alone, and an event that names its ordering key keeps it.
    pub fn from_kafka_within<N, V>(
        limits: &ReadLimits,
        key: Option<&[u8]>,
        headers: &[(N, V)],
        body: &[u8],
    ) -> Result<Self, FormatError>
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut event = read_message(limits, Binding::Kafka, headers, body)?;
        let usable = |key: &str| {
            check_text(Field::OrderingKey, key).is_ok()
                && check_key_length(Field::OrderingKey, key).is_ok()
        };
        if let Some(key) = key.and_then(|key| std::str::from_utf8(key).ok())
            && usable(key)
            && !event.extensions.contains_key(PARTITIONKEY)
        {
            event.extensions.insert(
                PARTITIONKEY.to_owned(),
                ExtensionValue::Text(key.to_owned()),
            );
        }
        event.into_received()
    }
}

/// The event a message of `binding` carries in either content mode, read
/// within `limits`, before it is checked.
fn read_message<N, V>(
    limits: &ReadLimits,
    binding: Binding,
    headers: &[(N, V)],
    body: &[u8],
) -> Result<IncomingEvent, FormatError>
where
    N: AsRef<str>,
    V: AsRef<str>,
{
    limits.check_headers(headers.len())?;
    limits.check_body(body)?;
    // Decoded where the binding encodes it (NATS), so that the mode is
    // decided on the value the event will hold.
    let header = binding.content_type_header();
    let content_type: Option<Cow<'_, str>> = headers
        .iter()
        .find(|(name, _)| name.as_ref().eq_ignore_ascii_case(header))
        .map(|(_, value)| {
            binding
                .decode(header, value.as_ref())
                .map_or(Cow::Borrowed(value.as_ref()), Cow::Owned)
        });
    let content_type = content_type.as_deref();
    let binary = headers.iter().any(|(name, _)| {
        !name.as_ref().eq_ignore_ascii_case(header) && binding.attribute(name.as_ref()).is_some()
    });
    let structured = match content_type {
        Some(content_type) => is_cloudevents_format(content_type),
        None => binding == Binding::Nats && !binary,
    };
    if let Some(content_type) = content_type
        && structured
        && !media_type_is(content_type, CLOUDEVENTS_JSON)
    {
        let reason = match media_type_is(content_type, CLOUDEVENTS_BATCH_JSON) {
            true => "batched events are not read here; read each event of the batch".into(),
            false => format!(
                "{content_type:?} is a CloudEvents format this crate does not read \
                     (it reads {CLOUDEVENTS_JSON})"
            ),
        };
        return Err(FormatError::Attribute {
            name: binding.content_type_header().into(),
            reason,
        });
    }
    if structured && binary {
        return Err(FormatError::Attribute {
            name: binding.content_type_header().into(),
            reason: format!(
                "the message carries attribute headers ({}...) and a CloudEvents content \
                     type: it is in binary and structured mode at once",
                binding.prefix()
            ),
        });
    }
    if structured {
        return IncomingEvent::received_json(limits, body);
    }
    read_binary(limits, binding, headers, body)
}

/// The media type of a batch of CloudEvents in the JSON format.
const CLOUDEVENTS_BATCH_JSON: &str = "application/cloudevents-batch+json";

/// Whether a content type (parameters aside) is `media_type`.
fn media_type_is(content_type: &str, media_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(media_type))
}

/// Whether a content type is one of the CloudEvents formats
/// (`application/cloudevents`, `application/cloudevents+json`,
/// `application/cloudevents-batch+json`...): the content type of a message in
/// structured mode.
pub(crate) fn is_cloudevents_format(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let Some(rest) = essence
        .get(.."application/cloudevents".len())
        .filter(|start| start.eq_ignore_ascii_case("application/cloudevents"))
        .map(|_| &essence["application/cloudevents".len()..])
    else {
        return false;
    };
    rest.is_empty()
        || rest.starts_with('+')
        || rest
            .get(.."-batch".len())
            .is_some_and(|batch| batch.eq_ignore_ascii_case("-batch"))
}

/// The event a binary-mode message carries, before it is checked.
fn read_binary<N: AsRef<str>, V: AsRef<str>>(
    limits: &ReadLimits,
    binding: Binding,
    headers: &[(N, V)],
    body: &[u8],
) -> Result<IncomingEvent, FormatError> {
    let mut event = IncomingEvent::default();
    let mut seen: HashSet<String> = HashSet::new();
    for (name, value) in headers {
        let name = name.as_ref();
        let attribute = if name.eq_ignore_ascii_case(binding.content_type_header()) {
            "datacontenttype".to_owned()
        } else {
            match binding.attribute(name) {
                Some(attribute) => attribute.to_ascii_lowercase(),
                None => continue,
            }
        };
        let value =
            binding
                .decode(name, value.as_ref())
                .map_err(|reason| FormatError::Attribute {
                    name: attribute.clone(),
                    reason,
                })?;
        if seen.contains(&attribute) {
            // A sender may name the data's type in both `content-type` and
            // `ce_datacontenttype` (Kafka); the same value twice is one.
            if attribute == "datacontenttype" && event.datacontenttype.as_ref() == Some(&value) {
                continue;
            }
            return Err(match attribute.as_str() {
                "datacontenttype" => FormatError::Attribute {
                    name: name.to_owned(),
                    reason: format!(
                        "{value:?} disagrees with the content type given before, {:?}",
                        event.datacontenttype.as_deref().unwrap_or_default()
                    ),
                },
                _ => FormatError::DuplicateMember(name.to_owned()),
            });
        }
        match attribute.as_str() {
            "specversion" => event.specversion = Some(value),
            "id" => event.id = Some(value),
            "source" => event.source = Some(value),
            "type" => event.event_type = Some(value),
            "subject" => event.subject = Some(value),
            "time" => event.time = Some(value),
            "datacontenttype" => event.datacontenttype = Some(value),
            "dataschema" => event.dataschema = Some(value),
            "correlationid" | "schemaversion" if !value.is_empty() => {
                event.set_own(&attribute, value);
            }
            _ => {
                event.extensions.insert(attribute.clone(), value.into());
            }
        }
        seen.insert(attribute);
    }
    if event.specversion.is_none() {
        return Err(FormatError::MissingAttribute("specversion"));
    }
    event.data = match (body.is_empty(), event.datacontenttype.as_deref()) {
        // An empty body is no data where data cannot be empty: without a
        // content type or under a JSON one. Text and bytes may be empty.
        (true, None) => None,
        (true, Some(content_type)) if is_json(content_type) => None,
        (true, Some(content_type)) if is_text(content_type) => {
            Some(IncomingData::Text(String::new()))
        }
        (true, Some(_)) => Some(IncomingData::Bytes(Vec::new())),
        (false, None) => Some(json_body(
            limits,
            body,
            "a body without a content type is JSON, and this one does not parse",
        )?),
        (false, Some(content_type)) if is_json(content_type) => {
            Some(json_body(limits, body, "the JSON body does not parse")?)
        }
        (false, Some(content_type)) if is_text(content_type) => Some(IncomingData::Text(
            String::from_utf8(body.to_vec())
                .map_err(|_| FormatError::Data("the text body is not UTF-8".into()))?,
        )),
        (false, _) => Some(IncomingData::Bytes(body.to_vec())),
    };
    Ok(event)
}

/// A JSON body as the event's data, kept as its text: refused, after
/// `unparsable`, if it does not parse, and if it is nested deeper than
/// `limits` allow.
fn json_body(
    limits: &ReadLimits,
    body: &[u8],
    unparsable: &str,
) -> Result<IncomingData, FormatError> {
    let json: Box<RawValue> = serde_json::from_slice(body)
        .map_err(|error| FormatError::Data(format!("{unparsable}: {error}")))?;
    limits.check_depth(json.get())?;
    Ok(IncomingData::Json(JsonData::Raw(json)))
}

/// Percent-encodes a header value as the HTTP and NATS bindings ask: space,
/// `"`, `%` and everything outside printable ASCII, byte by byte in UTF-8.
pub(crate) fn percent_encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if (0x21..=0x7e).contains(&byte) && byte != b'"' && byte != b'%' {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Undoes [`percent_encode`] (lower-case hex accepted; a `%` must be followed
/// by two hex digits, nothing else); the bytes must be UTF-8.
pub(crate) fn percent_decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%' {
            let hex = bytes
                .get(index + 1..index + 3)
                .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| format!("{value:?} has a `%` not followed by two hex digits"))?;
            decoded.push(hex);
            index += 3;
        } else {
            decoded.push(byte);
            index += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| format!("{value:?} decodes to bytes that are not UTF-8"))
}
