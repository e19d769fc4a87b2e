//! Why an envelope could not be built.

use std::fmt;

/// A text part of an envelope, named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// The event id.
    EventId,
    /// The event type.
    EventType,
    /// The source system.
    SourceSystem,
    /// The correlation id.
    CorrelationId,
    /// The schema version.
    SchemaVersion,
    /// The key of a tag.
    TagKey,
    /// The subject (CloudEvents `subject`).
    Subject,
    /// The data's schema (CloudEvents `dataschema`).
    DataSchema,
    /// The ordering key (the CloudEvents partitioning extension's
    /// `partitionkey`).
    OrderingKey,
}

impl Field {
    /// The CloudEvents attribute that carries this part.
    pub fn attribute(self) -> &'static str {
        match self {
            Field::EventId => "id",
            Field::EventType => "type",
            Field::SourceSystem => "source",
            Field::CorrelationId => "correlationid",
            Field::SchemaVersion => "schemaversion",
            Field::TagKey => "tags",
            Field::Subject => "subject",
            Field::DataSchema => "dataschema",
            Field::OrderingKey => "partitionkey",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::EventId => "event_id",
            Field::EventType => "event_type",
            Field::SourceSystem => "source_system",
            Field::CorrelationId => "correlation_id",
            Field::SchemaVersion => "schema_version",
            Field::TagKey => "tag key",
            Field::Subject => "subject",
            Field::DataSchema => "dataschema",
            Field::OrderingKey => "ordering_key",
        })
    }
}

/// Why an envelope's text part was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The part was empty.
    #[error("{field} must not be empty")]
    Empty {
        /// The part at fault.
        field: Field,
    },
    /// The part contains a control character (a newline, say), which would
    /// let it forge log lines or break routing.
    #[error("{field} {value:?} contains the control character {character:?} at byte {index}")]
    ControlCharacter {
        /// The part at fault.
        field: Field,
        /// The value given.
        value: String,
        /// The first control character in it.
        character: char,
        /// Its byte offset in the value.
        index: usize,
    },
    /// The part holds a Unicode noncharacter (U+FFFE, say), which the
    /// CloudEvents type `String` excludes.
    #[error("{field} {value:?} contains the noncharacter {character:?} at byte {index}")]
    Noncharacter {
        /// The part at fault.
        field: Field,
        /// The value given.
        value: String,
        /// The first noncharacter in it.
        character: char,
        /// Its byte offset in the value.
        index: usize,
    },
    /// The part is not the absolute URI the CloudEvents specification asks
    /// for (`dataschema`).
    #[error("{field} {value:?} is not an absolute URI: {reason}")]
    NotAUri {
        /// The part at fault.
        field: Field,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The part is not the URI reference the CloudEvents specification asks
    /// for (`source`): an absolute URI, or a relative one such as
    /// `/crm/contacts` or `crm`.
    #[error("{field} {value:?} is not a URI reference: {reason}")]
    NotAUriReference {
        /// The part at fault.
        field: Field,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An extension attribute's value is not of its CloudEvents type: an
    /// integer outside 32 bits, or a string with a control character or a
    /// noncharacter.
    #[error("extension attribute {name} {value:?} is invalid: {reason}")]
    ExtensionValue {
        /// The extension.
        name: String,
        /// The value given, in its string form.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An extension attribute's name is not lowercase ASCII letters and digits.
    #[error(
        "extension attribute name {name:?} is invalid: CloudEvents attribute names are lowercase ASCII letters and digits"
    )]
    ExtensionName {
        /// The name given.
        name: String,
    },
    /// An extension attribute takes a name the event already uses for
    /// something else.
    #[error(
        "{name:?} cannot be an extension attribute: the name is a CloudEvents attribute or this crate's own"
    )]
    ReservedExtension {
        /// The name given.
        name: String,
    },
    /// A distributed-tracing attribute is not in the W3C Trace Context format.
    #[error("{name} {value:?} is not a valid W3C trace context value: {reason}")]
    TraceContext {
        /// `traceparent` or `tracestate`.
        name: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An extension attribute that CloudEvents types as a string holds
    /// another type (an ordering key that is a number, say).
    #[error("{name} {value} must be a string")]
    NotAString {
        /// The attribute.
        name: String,
        /// The value given, in its canonical string form.
        value: String,
    },
    /// An id, source or ordering key is longer than [`MAX_KEY_BYTES`]: the
    /// stores index them, and PostgreSQL refuses an index entry past about
    /// 2.7 kB. One limit on every store, refused where the key is made or
    /// received, keeps a key that one store could never admit out of both.
    #[error("{field} is {bytes} bytes long, longer than the {limit} bytes a key may have")]
    KeyTooLong {
        /// The part at fault.
        field: Field,
        /// Its length in bytes.
        bytes: usize,
        /// [`MAX_KEY_BYTES`].
        limit: usize,
    },
    /// The data content type is not a media type (`type/subtype`).
    #[error("datacontenttype {value:?} is not a media type (expected type/subtype)")]
    ContentType {
        /// The value given.
        value: String,
    },
}

impl EnvelopeError {
    /// The CloudEvents attribute that holds the refused value.
    pub fn attribute(&self) -> &str {
        match self {
            EnvelopeError::Empty { field }
            | EnvelopeError::ControlCharacter { field, .. }
            | EnvelopeError::Noncharacter { field, .. }
            | EnvelopeError::NotAUri { field, .. }
            | EnvelopeError::NotAUriReference { field, .. }
            | EnvelopeError::KeyTooLong { field, .. } => field.attribute(),
            EnvelopeError::ExtensionName { name }
            | EnvelopeError::ReservedExtension { name }
            | EnvelopeError::TraceContext { name, .. }
            | EnvelopeError::NotAString { name, .. }
            | EnvelopeError::ExtensionValue { name, .. } => name,
            EnvelopeError::ContentType { .. } => "datacontenttype",
        }
    }
}

/// The most bytes an event id, a source or an ordering key may have: the
/// stores key and index envelopes by them. Both backends admit the same keys,
/// and a longer one is refused by the builder and by every reader of
/// received messages (an HTTP inbox answers `400`, a NATS consumer
/// terminates the message), never by one store alone.
pub const MAX_KEY_BYTES: usize = 1024;

/// Checks that a key (an event id, a source or an ordering key) is no
/// longer than [`MAX_KEY_BYTES`].
pub(crate) fn check_key_length(field: Field, value: &str) -> Result<(), EnvelopeError> {
    if value.len() > MAX_KEY_BYTES {
        return Err(EnvelopeError::KeyTooLong {
            field,
            bytes: value.len(),
            limit: MAX_KEY_BYTES,
        });
    }
    Ok(())
}

/// Checks that `value` is a usable text part: not empty, no control
/// character, no noncharacter.
pub(crate) fn check_text(field: Field, value: &str) -> Result<(), EnvelopeError> {
    if value.is_empty() {
        return Err(EnvelopeError::Empty { field });
    }
    match forbidden_character(value) {
        None => Ok(()),
        Some((index, character)) if character.is_control() => {
            Err(EnvelopeError::ControlCharacter {
                field,
                value: value.to_owned(),
                character,
                index,
            })
        }
        Some((index, character)) => Err(EnvelopeError::Noncharacter {
            field,
            value: value.to_owned(),
            character,
            index,
        }),
    }
}

/// The first character a CloudEvents `String` may not hold, with its byte
/// offset: a control character (U+0000 to U+001F, U+007F to U+009F) or a
/// noncharacter (U+FDD0 to U+FDEF, and the last two code points of every
/// plane).
pub(crate) fn forbidden_character(value: &str) -> Option<(usize, char)> {
    // Fast path, written without early exit so that it vectorizes: printable
    // ASCII has neither.
    let unusual = value
        .bytes()
        .fold(false, |found, b| found | !(b' '..0x7f).contains(&b));
    if !unusual {
        return None;
    }
    value.char_indices().find(|&(_, c)| {
        let code = u32::from(c);
        c.is_control() || (0xFDD0..=0xFDEF).contains(&code) || code & 0xFFFE == 0xFFFE
    })
}
