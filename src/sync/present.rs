//! Serde support for an optional value whose own values include `null`.
//!
//! With `#[serde(default, skip_serializing_if = "Option::is_none",
//! deserialize_with = "present")]`, `None` is written as a missing key and
//! `Some(null)` as `null`, and both read back as they were: absent and null
//! stay different, as the reconcile rules require.

use serde::{Deserialize, Deserializer};

/// Reads a value that is present in the document, `null` included.
pub(crate) fn present<'de, D, V>(deserializer: D) -> Result<Option<V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    V::deserialize(deserializer).map(Some)
}
