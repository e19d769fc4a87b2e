//! The sync contract between two systems for one record type.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::authority::{RecordAuthority, Side};
use super::builder::side_index;
use super::conflict::SyncConflict;
use super::field_index::{FieldEntry, FieldIndex};
use super::value::{Compare, SyncValue};

/// Which system owns each field of one record type shared by two systems, and
/// which fields are never synced.
///
/// Built with [`SyncBoundary::builder`]; immutable afterwards. Detects
/// conflicts field by field ([`detect_conflict`](Self::detect_conflict)) and
/// plans a whole record's sync ([`reconcile_at`](Self::reconcile_at)).
///
/// Two boundaries are equal when they say the same of every field, in the
/// same declaration order, with the same options.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncBoundary {
    pub(crate) record_type: String,
    pub(crate) system_a: String,
    pub(crate) system_b: String,
    /// Synced fields, in declaration order.
    pub(crate) fields: Vec<FieldRule>,
    /// Positions in `fields`, in the order of the field names.
    pub(crate) by_name: Vec<usize>,
    /// Excluded fields, in declaration order.
    pub(crate) excluded: Vec<Arc<str>>,
    pub(crate) index: FieldIndex,
    /// Per side: whether its changes to fields the other side owns go to review.
    pub(crate) review_overrides: [bool; 2],
    pub(crate) max_clock_skew: Duration,
}

/// One synced field, its owner, and how its values compare.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FieldRule {
    pub(crate) name: Arc<str>,
    pub(crate) authority: RecordAuthority,
    pub(crate) compare: Compare,
}

/// A name a boundary needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamePart {
    /// The record type.
    RecordType,
    /// System A's name.
    SystemA,
    /// System B's name.
    SystemB,
    /// A field name.
    Field,
}

impl fmt::Display for NamePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NamePart::RecordType => "record_type",
            NamePart::SystemA => "system_a",
            NamePart::SystemB => "system_b",
            NamePart::Field => "a field name",
        })
    }
}

/// Why a [`SyncBoundary`] could not be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BoundaryError {
    /// A name was empty.
    #[error("{part} must not be empty")]
    EmptyName {
        /// Which name.
        part: NamePart,
    },
    /// Both sides name the same system: a system cannot sync with itself.
    #[error("system_a and system_b are both {system:?}; a boundary connects two different systems")]
    SameSystem {
        /// The name given to both.
        system: String,
    },
    /// No field is synced.
    #[error("the boundary maps no field; declare at least one with `.field(name, authority)`")]
    NoField,
    /// A field was mapped twice.
    #[error("field {field:?} is mapped twice; give each field one authority")]
    MappedTwice {
        /// The field.
        field: String,
    },
    /// A field was excluded twice.
    #[error("field {field:?} is excluded twice")]
    ExcludedTwice {
        /// The field.
        field: String,
    },
    /// A field was both mapped and excluded.
    #[error("field {field:?} is both mapped and excluded; a field is either synced or not")]
    MappedAndExcluded {
        /// The field.
        field: String,
    },
    /// A comparison was set for a field the boundary does not sync.
    #[error(
        "field {field:?} has a comparison but is not synced; declare it with `.field(name, authority)`"
    )]
    CompareUnsynced {
        /// The field.
        field: String,
    },
    /// A numeric tolerance that is negative or not finite.
    #[error(
        "field {field:?} has the tolerance {tolerance}; a tolerance is finite and not negative"
    )]
    BadTolerance {
        /// The field.
        field: String,
        /// The tolerance given.
        tolerance: f64,
    },
}

impl SyncBoundary {
    /// A boundary of checked parts, with the default options.
    pub(crate) fn assemble(
        record_type: String,
        system_a: String,
        system_b: String,
        fields: Vec<FieldRule>,
        excluded: Vec<Arc<str>>,
        index: FieldIndex,
    ) -> SyncBoundary {
        let mut by_name: Vec<usize> = (0..fields.len()).collect();
        by_name.sort_by(|&x, &y| fields[x].name.cmp(&fields[y].name));
        SyncBoundary {
            record_type,
            system_a,
            system_b,
            fields,
            by_name,
            excluded,
            index,
            review_overrides: [false, false],
            max_clock_skew: Duration::ZERO,
        }
    }

    /// The same boundary with the review of overrides (per side) and the
    /// clock-skew bound given.
    pub(crate) fn with_options(
        mut self,
        review_overrides: [bool; 2],
        max_clock_skew: Duration,
    ) -> SyncBoundary {
        self.review_overrides = review_overrides;
        self.max_clock_skew = max_clock_skew;
        self
    }

    /// The type of record the boundary governs.
    pub fn record_type(&self) -> &str {
        &self.record_type
    }

    /// The name of system A.
    pub fn system_a(&self) -> &str {
        &self.system_a
    }

    /// The name of system B.
    pub fn system_b(&self) -> &str {
        &self.system_b
    }

    /// The name of the system on `side`.
    pub fn system(&self, side: Side) -> &str {
        match side {
            Side::A => &self.system_a,
            Side::B => &self.system_b,
        }
    }

    /// Who owns `field`; `None` if it is excluded or not mapped.
    pub fn authority_for(&self, field: &str) -> Option<RecordAuthority> {
        match self.index.get(field)? {
            FieldEntry::Synced(position) => Some(self.fields[position].authority),
            FieldEntry::Excluded => None,
        }
    }

    /// How `field`'s values are compared, if it is synced.
    pub fn comparison_for(&self, field: &str) -> Option<Compare> {
        match self.index.get(field)? {
            FieldEntry::Synced(position) => Some(self.fields[position].compare),
            FieldEntry::Excluded => None,
        }
    }

    /// Whether `field` is synced.
    pub fn is_synced(&self, field: &str) -> bool {
        matches!(self.index.get(field), Some(FieldEntry::Synced(_)))
    }

    /// Whether `field` is excluded from the sync.
    pub fn is_excluded(&self, field: &str) -> bool {
        matches!(self.index.get(field), Some(FieldEntry::Excluded))
    }

    /// The synced fields, in declaration order.
    pub fn synced_fields(&self) -> Vec<&str> {
        self.fields.iter().map(|rule| &*rule.name).collect()
    }

    /// The synced fields owned as `authority` says, in declaration order.
    pub fn fields_owned_by(&self, authority: RecordAuthority) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|rule| rule.authority == authority)
            .map(|rule| &*rule.name)
            .collect()
    }

    /// The excluded fields, in declaration order.
    pub fn excluded_fields(&self) -> Vec<&str> {
        self.excluded.iter().map(|name| &**name).collect()
    }

    /// Whether changes by `side` to fields the other side owns go to review
    /// rather than being reverted.
    pub fn reviews_overrides_from(&self, side: Side) -> bool {
        self.review_overrides[side_index(side)]
    }

    /// How far apart the two systems' clocks may be.
    pub fn max_clock_skew(&self) -> Duration {
        self.max_clock_skew
    }

    /// The same boundary seen from the other side: the systems swap, and so
    /// do `SystemA` and `SystemB` ownership and the per-side review options.
    pub fn mirrored(&self) -> SyncBoundary {
        SyncBoundary {
            record_type: self.record_type.clone(),
            system_a: self.system_b.clone(),
            system_b: self.system_a.clone(),
            fields: self
                .fields
                .iter()
                .map(|rule| FieldRule {
                    name: Arc::clone(&rule.name),
                    authority: rule.authority.mirrored(),
                    compare: rule.compare,
                })
                .collect(),
            by_name: self.by_name.clone(),
            excluded: self.excluded.clone(),
            index: self.index.clone(),
            review_overrides: [self.review_overrides[1], self.review_overrides[0]],
            max_clock_skew: self.max_clock_skew,
        }
    }

    /// Whether `field` of `record_id` is in conflict, by the reference
    /// package's rule: the two values differ, and either the field was never
    /// synced (`last_sync` is `None`) or both values differ from the last
    /// synced one. `Some(&null)` is a real base, not a missing one. A field
    /// that is not synced is never in conflict.
    ///
    /// ```
    /// use integration_automation_patterns::{RecordAuthority, SyncBoundary};
    /// use serde_json::json;
    ///
    /// let boundary = SyncBoundary::builder()
    ///     .record_type("contact").system_a("crm").system_b("erp")
    ///     .field("phone", RecordAuthority::Shared)
    ///     .build()?;
    /// let (crm, erp, base) = (json!("+1 555 0100"), json!("+1 555 0199"), json!("+1 555 0000"));
    /// let conflict = boundary.detect_conflict("contact-42", "phone", &crm, &erp, Some(&base));
    /// assert_eq!(conflict.unwrap().value_b(), &erp);
    /// // Only the CRM changed: no conflict, the change just propagates.
    /// assert!(boundary.detect_conflict("contact-42", "phone", &crm, &base, Some(&base)).is_none());
    /// # Ok::<(), integration_automation_patterns::sync::BoundaryError>(())
    /// ```
    pub fn detect_conflict<V: SyncValue>(
        &self,
        record_id: &str,
        field: &str,
        value_a: &V,
        value_b: &V,
        last_sync: Option<&V>,
    ) -> Option<SyncConflict<V>> {
        // The clock is read only when there is a conflict to date.
        self.detect(record_id, field, value_a, value_b, last_sync, Utc::now)
    }

    /// [`detect_conflict`](Self::detect_conflict), with the detection time given.
    pub fn detect_conflict_at<V: SyncValue>(
        &self,
        record_id: &str,
        field: &str,
        value_a: &V,
        value_b: &V,
        last_sync: Option<&V>,
        now: DateTime<Utc>,
    ) -> Option<SyncConflict<V>> {
        self.detect(record_id, field, value_a, value_b, last_sync, || now)
    }

    fn detect<V: SyncValue>(
        &self,
        record_id: &str,
        field: &str,
        value_a: &V,
        value_b: &V,
        last_sync: Option<&V>,
        now: impl FnOnce() -> DateTime<Utc>,
    ) -> Option<SyncConflict<V>> {
        let position = self.conflicting_field(field, value_a, value_b, last_sync)?;
        let conflict = SyncConflict::with_name(
            record_id.to_owned(),
            Arc::clone(&self.fields[position].name),
            value_a.clone(),
            value_b.clone(),
            now(),
        );
        Some(match last_sync {
            Some(base) => conflict.with_last_sync_value(base.clone()),
            None => conflict,
        })
    }

    /// The position of `field` if it is synced and its values conflict.
    fn conflicting_field<V: SyncValue>(
        &self,
        field: &str,
        value_a: &V,
        value_b: &V,
        last_sync: Option<&V>,
    ) -> Option<usize> {
        let FieldEntry::Synced(position) = self.index.get(field)? else {
            return None;
        };
        let same = |x, y| self.fields[position].compare.same(x, y);
        if same(value_a, value_b) {
            return None;
        }
        if let Some(base) = last_sync
            && (same(value_a, base) || same(value_b, base))
        {
            return None;
        }
        Some(position)
    }
}
