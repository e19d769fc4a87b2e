//! One system's typed copy of a record, with when each field last changed.

use chrono::{DateTime, Utc};

use super::super::reconcile::Record;
use super::json::RecordError;
use super::record::{ModifiedTimes, SyncRecord};

/// One system's copy of a record as a typed value, with when that system
/// last changed each synced field (the typed [`Record`]).
///
/// ```
/// # #[cfg(feature = "derive")] {
/// use integration_automation_patterns::chrono::{TimeZone, Utc};
/// use integration_automation_patterns::sync::{Stamped, SyncRecord};
///
/// #[derive(SyncRecord, Clone, Debug, PartialEq)]
/// #[sync(record_type = "contact", a = "crm", b = "erp")]
/// struct Contact {
///     #[sync(owner = "crm")]
///     email: String,
/// }
///
/// let at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
/// let crm = Stamped::at(Contact { email: "ada@example.com".into() }, at);
/// assert_eq!(crm.modified_at.email, Some(at));
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Stamped<R: SyncRecord> {
    /// The record's values.
    pub value: R,
    /// When the system last changed each synced field.
    pub modified_at: R::ModifiedAt,
}

impl<R: SyncRecord> Stamped<R> {
    /// A copy whose modification times are unknown.
    pub fn new(value: R) -> Self {
        Stamped {
            value,
            modified_at: R::ModifiedAt::default(),
        }
    }

    /// A copy whose every synced field last changed at `at` (a system that
    /// dates whole records, with an `updated_at`).
    pub fn at(value: R, at: DateTime<Utc>) -> Self {
        Stamped {
            value,
            modified_at: R::ModifiedAt::all_at(at),
        }
    }

    /// The typed copy of a string-keyed record; see [`SyncRecord::from_record`].
    pub fn from_record(record: &Record) -> Result<Self, RecordError> {
        R::from_record(record)
    }

    /// The string-keyed copy: every field, excluded ones included.
    pub fn to_record(&self) -> Result<Record, RecordError> {
        R::to_record(self)
    }
}
