//! A payload kept as the JSON text it came in.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// JSON data kept as its text: every number as it was written, past what an
/// `f64` holds too (`12345678901234567890123` stays so, where a
/// `serde_json::Value` rounds it to `1.2345678901234568e+22`), members in
/// their order, and nothing parsed until [`parse`](RawJson::parse) is asked.
/// For a payload that passes through this crate to another system unchanged,
/// or whose numbers are money or ids.
///
/// Two values are equal when their texts are. A PostgreSQL store keeps
/// the numbers exactly but not the text (its `jsonb` orders members and
/// spaces them its own way); SQLite keeps the text.
///
/// ```
/// use integration_automation_patterns::Envelope;
/// use integration_automation_patterns::envelope::RawJson;
/// use integration_automation_patterns::state::Pending;
///
/// let event = br#"{"specversion":"1.0","id":"e","source":"erp","type":"invoice.created",
///                  "data":{"amount":12345678901234567890.01}}"#;
/// let envelope = Envelope::<Pending, RawJson>::from_json(event)?;
/// assert_eq!(envelope.payload().as_str(), r#"{"amount":12345678901234567890.01}"#);
/// let written = serde_json::to_string(&envelope.to_cloudevent())?;
/// assert!(written.contains(r#""data":{"amount":12345678901234567890.01}"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// JSON text as it is, once it is checked to be one JSON value.
    pub fn from_text(text: impl Into<String>) -> Result<RawJson, serde_json::Error> {
        RawValue::from_string(text.into()).map(RawJson)
    }

    /// `value` written as JSON text.
    pub fn from_value<T: Serialize + ?Sized>(value: &T) -> Result<RawJson, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(RawJson)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The text read as `T` (a `serde_json::Value`, or a type of your own
    /// whose numbers keep what they need).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &RawJson) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RawJson {}

impl fmt::Display for RawJson {
    /// The JSON text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
