//! A field that both systems changed since they last agreed.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::authority::Side;
use super::present::present;

/// A field whose values in system A and system B differ, both changed since
/// the last sync (or never synced).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de>"))]
pub struct SyncConflict<V = serde_json::Value> {
    record_id: String,
    field_name: Arc<str>,
    value_a: V,
    value_b: V,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    last_sync_value: Option<V>,
    detected_at: DateTime<Utc>,
    modified_at_a: Option<DateTime<Utc>>,
    modified_at_b: Option<DateTime<Utc>>,
}

impl<V> SyncConflict<V> {
    /// A conflict on `field` of `record_id`, detected now.
    pub fn new(
        record_id: impl Into<String>,
        field: impl Into<String>,
        value_a: V,
        value_b: V,
    ) -> Self {
        let field: String = field.into();
        SyncConflict::with_name(record_id.into(), field.into(), value_a, value_b, Utc::now())
    }

    pub(crate) fn with_name(
        record_id: String,
        field_name: Arc<str>,
        value_a: V,
        value_b: V,
        detected_at: DateTime<Utc>,
    ) -> Self {
        SyncConflict {
            record_id,
            field_name,
            value_a,
            value_b,
            last_sync_value: None,
            detected_at,
            modified_at_a: None,
            modified_at_b: None,
        }
    }

    /// The value both systems last agreed on.
    pub fn with_last_sync_value(mut self, value: V) -> Self {
        self.last_sync_value = Some(value);
        self
    }

    /// When each system last modified the field, where known.
    pub fn with_modified_at(mut self, a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Self {
        self.modified_at_a = a;
        self.modified_at_b = b;
        self
    }

    /// When the conflict was detected (default: when it was created).
    pub fn with_detected_at(mut self, detected_at: DateTime<Utc>) -> Self {
        self.detected_at = detected_at;
        self
    }

    /// The record.
    pub fn record_id(&self) -> &str {
        &self.record_id
    }

    /// The field.
    pub fn field_name(&self) -> &str {
        &self.field_name
    }

    /// The value in system A.
    pub fn value_a(&self) -> &V {
        &self.value_a
    }

    /// The value in system B.
    pub fn value_b(&self) -> &V {
        &self.value_b
    }

    /// The value both last agreed on; `None` if the field was never synced.
    pub fn last_sync_value(&self) -> Option<&V> {
        self.last_sync_value.as_ref()
    }

    /// When the conflict was detected.
    pub fn detected_at(&self) -> DateTime<Utc> {
        self.detected_at
    }

    /// When system A last modified the field, if known.
    pub fn modified_at_a(&self) -> Option<DateTime<Utc>> {
        self.modified_at_a
    }

    /// When system B last modified the field, if known.
    pub fn modified_at_b(&self) -> Option<DateTime<Utc>> {
        self.modified_at_b
    }

    /// The side that modified the field last; `None` when a time is missing
    /// or both are equal.
    pub fn last_writer(&self) -> Option<Side> {
        let (a, b) = (self.modified_at_a?, self.modified_at_b?);
        match a.cmp(&b) {
            std::cmp::Ordering::Greater => Some(Side::A),
            std::cmp::Ordering::Less => Some(Side::B),
            std::cmp::Ordering::Equal => None,
        }
    }
}
