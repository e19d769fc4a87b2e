//! The CloudEvents attributes an envelope carries beyond its own: extension
//! attributes with their JSON type, the distributed-tracing extension, and
//! how the payload travels as the event's data.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::{EnvelopeError, Field, check_text, forbidden_character};

/// The extension attributes of an event, by name.
pub type Extensions = BTreeMap<String, ExtensionValue>;

/// The value of an extension attribute, with the JSON type it travels as.
/// (The string variant is `Text`: a public item named `String` would make
/// rustc spell out `std::string::String` in every compiler error that names
/// the type.)
///
/// ```
/// use integration_automation_patterns::envelope::ExtensionValue;
///
/// assert_eq!(ExtensionValue::from("emea").to_string(), "emea");
/// assert_eq!(ExtensionValue::from(5).to_string(), "5");
/// assert_eq!(ExtensionValue::from(true).to_string(), "true");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExtensionValue {
    /// A string (CloudEvents `String`, `URI`, `URI-reference`, `Timestamp`
    /// and `Binary` all travel as strings).
    Text(String),
    /// An integer.
    Integer(i64),
    /// A boolean.
    Boolean(bool),
}

impl fmt::Display for ExtensionValue {
    /// The canonical string form, as header-based bindings carry it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtensionValue::Text(value) => f.write_str(value),
            ExtensionValue::Integer(value) => write!(f, "{value}"),
            ExtensionValue::Boolean(value) => write!(f, "{value}"),
        }
    }
}

impl From<&str> for ExtensionValue {
    fn from(value: &str) -> Self {
        ExtensionValue::Text(value.to_owned())
    }
}

impl From<String> for ExtensionValue {
    fn from(value: String) -> Self {
        ExtensionValue::Text(value)
    }
}

impl From<i64> for ExtensionValue {
    fn from(value: i64) -> Self {
        ExtensionValue::Integer(value)
    }
}

impl From<i32> for ExtensionValue {
    fn from(value: i32) -> Self {
        ExtensionValue::Integer(value.into())
    }
}

impl From<bool> for ExtensionValue {
    fn from(value: bool) -> Self {
        ExtensionValue::Boolean(value)
    }
}

impl ExtensionValue {
    /// The string, if the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ExtensionValue::Text(value) => Some(value),
            _ => None,
        }
    }
}

/// The name of the distributed-tracing extension's trace parent.
pub(crate) const TRACEPARENT: &str = "traceparent";
/// The name of the distributed-tracing extension's vendor trace state.
pub(crate) const TRACESTATE: &str = "tracestate";
/// The name of the partitioning extension's key, which this crate reads as
/// the envelope's ordering key.
pub(crate) const PARTITIONKEY: &str = "partitionkey";

/// Attribute names an extension cannot take: the context attributes, the
/// JSON format's data members, and this crate's own extensions (which it
/// reads into their own fields). The storage form's delivery record needs no
/// place here: its name is no attribute name.
const RESERVED: [&str; 12] = [
    "specversion",
    "id",
    "source",
    "type",
    "datacontenttype",
    "dataschema",
    "subject",
    "time",
    "data",
    "correlationid",
    "schemaversion",
    "data_base64",
];

/// This crate's own extensions, which an envelope holds in fields of their
/// own when they are non-empty strings. Another producer may use the names
/// with other types: a received event keeps such a value as a plain
/// extension.
pub(crate) const OWN_EXTENSIONS: [&str; 2] = ["correlationid", "schemaversion"];

/// Checks an extension's name and value: lowercase ASCII letters and digits,
/// not a name the event already uses, and a value as
/// [`check_extension_value`] has it.
pub(crate) fn check_extension(name: &str, value: &ExtensionValue) -> Result<(), EnvelopeError> {
    check_attribute_name(name)?;
    if RESERVED.contains(&name) {
        return Err(EnvelopeError::ReservedExtension {
            name: name.to_owned(),
        });
    }
    check_extension_value(name, value)
}

/// Checks an extension's value: an integer of 32 bits, a string without
/// control characters or noncharacters; for the tracing extension a value in
/// the W3C Trace Context format, and for the partitioning extension's key a
/// usable string.
pub(crate) fn check_extension_value(
    name: &str,
    value: &ExtensionValue,
) -> Result<(), EnvelopeError> {
    match (name, value) {
        (TRACEPARENT, ExtensionValue::Text(value)) => check_traceparent(value),
        (TRACESTATE, ExtensionValue::Text(value)) => check_tracestate(value),
        (TRACEPARENT | TRACESTATE, other) => Err(EnvelopeError::TraceContext {
            name: name.to_owned(),
            value: other.to_string(),
            reason: "it must be a string".to_owned(),
        }),
        (PARTITIONKEY, ExtensionValue::Text(value)) => check_text(Field::OrderingKey, value),
        (PARTITIONKEY, other) => Err(EnvelopeError::NotAString {
            name: name.to_owned(),
            value: other.to_string(),
        }),
        (_, ExtensionValue::Integer(integer)) if i32::try_from(*integer).is_err() => {
            Err(EnvelopeError::ExtensionValue {
                name: name.to_owned(),
                value: integer.to_string(),
                reason: "a CloudEvents integer is 32 bits, from -2147483648 to 2147483647"
                    .to_owned(),
            })
        }
        (_, ExtensionValue::Text(text)) => match forbidden_character(text) {
            Some((index, character)) => Err(EnvelopeError::ExtensionValue {
                name: name.to_owned(),
                value: text.clone(),
                reason: format!(
                    "it holds {character:?} at byte {index}, which a CloudEvents string may not"
                ),
            }),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// An attribute name as the CloudEvents specification allows it: lowercase
/// ASCII letters and digits, not empty.
pub(crate) fn check_attribute_name(name: &str) -> Result<(), EnvelopeError> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(EnvelopeError::ExtensionName {
            name: name.to_owned(),
        })
    }
}

/// A W3C `traceparent`: `version-traceid-parentid-flags` in lowercase hex
/// (2, 32, 16 and 2 digits), version not `ff`, ids not all zeros; a version
/// after `00` may carry more fields after the flags.
pub(crate) fn check_traceparent(value: &str) -> Result<(), EnvelopeError> {
    let refuse = |reason: &str| EnvelopeError::TraceContext {
        name: TRACEPARENT.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let mut fields = value.split('-');
    let mut field = |digits: usize, what: &str| {
        fields
            .next()
            .filter(|field| field.len() == digits && is_lower_hex(field))
            .ok_or_else(|| refuse(&format!("{what} must be {digits} lowercase hex digits")))
    };
    let version = field(2, "the version")?;
    let trace_id = field(32, "the trace id")?;
    let parent_id = field(16, "the parent id")?;
    field(2, "the flags")?;
    if version == "ff" {
        return Err(refuse("version ff is not allowed"));
    }
    if trace_id.bytes().all(|b| b == b'0') {
        return Err(refuse("the trace id must not be all zeros"));
    }
    if parent_id.bytes().all(|b| b == b'0') {
        return Err(refuse("the parent id must not be all zeros"));
    }
    if version == "00" && fields.next().is_some() {
        return Err(refuse("version 00 has exactly four fields"));
    }
    Ok(())
}

/// A W3C `tracestate`: up to 32 comma-separated `key=value` members, keys of
/// lowercase letters, digits and `_-*/` (with one `@` for a multi-tenant
/// key), values of printable ASCII without `,` and `=`, at most 256
/// characters, not ending in a space.
pub(crate) fn check_tracestate(value: &str) -> Result<(), EnvelopeError> {
    let refuse = |reason: String| EnvelopeError::TraceContext {
        name: TRACESTATE.to_owned(),
        value: value.to_owned(),
        reason,
    };
    let members: Vec<&str> = value
        .split(',')
        .map(|member| member.trim_matches([' ', '\t']))
        .filter(|member| !member.is_empty())
        .collect();
    if members.len() > 32 {
        return Err(refuse(format!(
            "it has {} members, more than 32",
            members.len()
        )));
    }
    for member in members {
        let Some((key, member_value)) = member.split_once('=') else {
            return Err(refuse(format!("member {member:?} is not key=value")));
        };
        let key_ok = !key.is_empty()
            && key.len() <= 256
            && key.bytes().filter(|&b| b == b'@').count() <= 1
            && key.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/@".contains(&b));
        if !key_ok {
            return Err(refuse(format!("key {key:?} is not a valid tracestate key")));
        }
        let value_ok = !member_value.is_empty()
            && member_value.len() <= 256
            && !member_value.ends_with(' ')
            && member_value
                .bytes()
                .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=');
        if !value_ok {
            return Err(refuse(format!(
                "the value of {key:?} is not a valid tracestate value"
            )));
        }
    }
    Ok(())
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// How an envelope's payload travels as the event's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DataForm {
    /// A JSON value in `data` (JSON content types, or none).
    Json,
    /// A string in `data`, the raw body in binary mode (other text types).
    Text,
    /// Base64 in `data_base64`, the raw body in binary mode.
    Binary,
    /// No data at all.
    Absent,
}

impl DataForm {
    /// The form a payload takes under `content_type`: JSON for JSON types (or
    /// none), text for `text/*` and XML types, binary for the rest.
    pub(crate) fn for_content_type(content_type: Option<&str>) -> DataForm {
        match content_type {
            None => DataForm::Json,
            Some(content_type) if is_json(content_type) => DataForm::Json,
            Some(content_type) if is_text(content_type) => DataForm::Text,
            Some(_) => DataForm::Binary,
        }
    }
}

/// The media type without its parameters, `type/subtype`, split at its
/// `/`, as written: compare its parts ignoring ASCII case. (Borrowed rather
/// than lowercased into a new string: an envelope built or read checks its
/// content type and picks its data's form from it, and this runs each time.)
fn essence(content_type: &str) -> Option<(&str, &str)> {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .split_once('/')
}

/// Whether `text` ends with `suffix`, ignoring ASCII case.
fn ends_with_ignoring_case(text: &str, suffix: &str) -> bool {
    text.len()
        .checked_sub(suffix.len())
        .and_then(|start| text.as_bytes().get(start..))
        .is_some_and(|end| end.eq_ignore_ascii_case(suffix.as_bytes()))
}

/// Whether a media type declares JSON data: `*/json` or `*/*+json`.
pub(crate) fn is_json(content_type: &str) -> bool {
    essence(content_type).is_some_and(|(_, subtype)| {
        subtype.eq_ignore_ascii_case("json") || ends_with_ignoring_case(subtype, "+json")
    })
}

/// Whether a media type declares text that is not JSON: `text/*`, `*/xml`
/// or `*/*+xml`.
pub(crate) fn is_text(content_type: &str) -> bool {
    essence(content_type).is_some_and(|(kind, subtype)| {
        kind.eq_ignore_ascii_case("text")
            || subtype.eq_ignore_ascii_case("xml")
            || ends_with_ignoring_case(subtype, "+xml")
    })
}

/// Checks a media type: `type/subtype`, parameters allowed.
pub(crate) fn check_content_type(content_type: &str) -> Result<(), EnvelopeError> {
    let valid = essence(content_type).is_some_and(|(kind, subtype)| {
        !kind.is_empty() && !subtype.is_empty() && !subtype.contains('/')
    }) && !content_type.chars().any(char::is_control);
    if valid {
        Ok(())
    } else {
        Err(EnvelopeError::ContentType {
            value: content_type.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Media types compare ignoring ASCII case, parameters and the space
    /// around the essence.
    #[test]
    fn media_types_are_read_ignoring_case_and_parameters() {
        for json in [
            "application/json",
            "Application/JSON",
            " application/json ; charset=utf-8",
            "application/cloudevents+json",
            "application/Vnd.Example+JSON",
        ] {
            assert!(is_json(json), "{json}");
            assert!(!is_text(json), "{json}");
            assert!(check_content_type(json).is_ok(), "{json}");
        }
        for text in [
            "text/plain",
            "TEXT/CSV; charset=utf-8",
            "application/XML",
            "image/svg+Xml",
        ] {
            assert!(is_text(text), "{text}");
            assert!(!is_json(text), "{text}");
        }
        for other in [
            "application/octet-stream",
            "application/jsonx",
            "application/json+x",
        ] {
            assert!(!is_json(other) && !is_text(other), "{other}");
        }
        for invalid in [
            "json",
            "/json",
            "application/",
            "a/b/c",
            "",
            "text/plain\u{7}",
        ] {
            assert!(check_content_type(invalid).is_err(), "{invalid:?}");
        }
    }
}
