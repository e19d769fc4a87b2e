//! The typed builder of a [`SyncBoundary`].

use std::sync::Arc;
use std::time::Duration;

use super::authority::{RecordAuthority, Side};
use super::boundary::{BoundaryError, FieldRule, NamePart, SyncBoundary};
use super::field_index::{FieldEntry, FieldIndex};
use super::value::Compare;
use crate::slot::{Given, IsSet, IsUnset, Unset};

/// Markers naming the required parts of a [`SyncBoundaryBuilder`], as they
/// appear in compiler errors.
#[allow(non_camel_case_types)]
pub mod field {
    /// The record type the boundary governs.
    #[derive(Debug)]
    pub enum record_type {}
    /// The name of system A.
    #[derive(Debug)]
    pub enum system_a {}
    /// The name of system B.
    #[derive(Debug)]
    pub enum system_b {}
}

/// Builds a [`SyncBoundary`]; see [`SyncBoundary::builder`].
///
/// The type parameters are the slots of the required parts, in order
/// `record_type`, `system_a`, `system_b`: each is [`Unset`] until its setter is
/// called, and each setter exists only while its slot is unset. `field` and
/// `exclude` may be called any number of times, in any state; every call
/// consumes the builder and returns it.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct SyncBoundaryBuilder<R = Unset, A = Unset, B = Unset> {
    record_type: R,
    system_a: A,
    system_b: B,
    parts: Parts,
}

/// What the builder collects besides the three names.
#[derive(Clone, Debug, Default)]
struct Parts {
    fields: Vec<(String, RecordAuthority)>,
    comparisons: Vec<(String, Compare)>,
    excluded: Vec<String>,
    review_overrides: [bool; 2],
    max_clock_skew: Duration,
}

impl SyncBoundary {
    /// Starts building a boundary.
    ///
    /// `record_type`, `system_a` and `system_b` are required, each exactly once:
    /// `build` does not exist until all three are set, and setting one twice
    /// does not compile.
    ///
    /// ```
    /// use integration_automation_patterns::{RecordAuthority, Side, SyncBoundary};
    ///
    /// let boundary = SyncBoundary::builder()
    ///     .record_type("contact")
    ///     .system_a("crm")
    ///     .system_b("erp")
    ///     .field("email", RecordAuthority::SystemA)
    ///     .field("billing_address", RecordAuthority::SystemB)
    ///     .field("phone", RecordAuthority::Shared)
    ///     .exclude("internal_notes")
    ///     .review_overrides_from(Side::B)
    ///     .build()?;
    /// assert_eq!(boundary.authority_for("email"), Some(RecordAuthority::SystemA));
    /// assert!(!boundary.is_synced("internal_notes"));
    /// # Ok::<(), integration_automation_patterns::sync::BoundaryError>(())
    /// ```
    ///
    /// ```compile_fail,E0277
    /// # use integration_automation_patterns::{RecordAuthority, SyncBoundary};
    /// let boundary = SyncBoundary::builder()
    ///     .record_type("contact")
    ///     .system_a("crm")
    ///     .field("email", RecordAuthority::SystemA)
    ///     .build(); // error: this builder is missing `system_b`
    /// ```
    pub fn builder() -> SyncBoundaryBuilder {
        SyncBoundaryBuilder {
            record_type: Unset,
            system_a: Unset,
            system_b: Unset,
            parts: Parts::default(),
        }
    }
}

impl<R, A, B> SyncBoundaryBuilder<R, A, B> {
    /// The type of record the boundary governs (`"contact"`). Required.
    pub fn record_type(
        self,
        record_type: impl Into<String>,
    ) -> SyncBoundaryBuilder<Given<String>, A, B>
    where
        R: IsUnset<field::record_type>,
    {
        SyncBoundaryBuilder {
            record_type: Given(record_type.into()),
            system_a: self.system_a,
            system_b: self.system_b,
            parts: self.parts,
        }
    }

    /// The name of system A (`"crm"`). Required.
    pub fn system_a(self, system_a: impl Into<String>) -> SyncBoundaryBuilder<R, Given<String>, B>
    where
        A: IsUnset<field::system_a>,
    {
        SyncBoundaryBuilder {
            record_type: self.record_type,
            system_a: Given(system_a.into()),
            system_b: self.system_b,
            parts: self.parts,
        }
    }

    /// The name of system B (`"erp"`). Required.
    pub fn system_b(self, system_b: impl Into<String>) -> SyncBoundaryBuilder<R, A, Given<String>>
    where
        B: IsUnset<field::system_b>,
    {
        SyncBoundaryBuilder {
            record_type: self.record_type,
            system_a: self.system_a,
            system_b: Given(system_b.into()),
            parts: self.parts,
        }
    }

    /// Syncs `name`, owned as `authority` says. Fields keep the order in
    /// which they are declared.
    pub fn field(mut self, name: impl Into<String>, authority: RecordAuthority) -> Self {
        self.parts.fields.push((name.into(), authority));
        self
    }

    /// Compares `name`'s values as `compare` says (by meaning unless told):
    /// a difference `compare` calls the same is no change, so nothing is
    /// written for it. The field must be synced.
    ///
    /// ```
    /// use integration_automation_patterns::sync::{Compare, Record, Versioned};
    /// use integration_automation_patterns::{RecordAuthority, SyncBoundary};
    /// use serde_json::json;
    ///
    /// let boundary = SyncBoundary::builder()
    ///     .record_type("contact").system_a("crm").system_b("erp")
    ///     .field("email", RecordAuthority::SystemA)
    ///     .compare("email", Compare::TrimmedCaseInsensitive)
    ///     .build()?;
    /// let crm: Record = [("email".into(), Versioned::new(json!("Ada@Example.com")))].into();
    /// let erp: Record = [("email".into(), Versioned::new(json!("ada@example.com ")))].into();
    /// let plan = boundary.reconcile("contact-42", &crm, &erp, &Default::default());
    /// assert!(plan.patch_a().is_empty() && plan.patch_b().is_empty());
    /// # Ok::<(), integration_automation_patterns::sync::BoundaryError>(())
    /// ```
    pub fn compare(mut self, name: impl Into<String>, compare: Compare) -> Self {
        self.parts.comparisons.push((name.into(), compare));
        self
    }

    /// Never syncs `name`, even where both systems have it.
    pub fn exclude(mut self, name: impl Into<String>) -> Self {
        self.parts.excluded.push(name.into());
        self
    }

    /// When `side` changes a field the other side owns, queue the change for
    /// review instead of reverting it. (The reference package's
    /// `allow_system_b_override`, for either side.)
    pub fn review_overrides_from(mut self, side: Side) -> Self {
        self.parts.review_overrides[side_index(side)] = true;
        self
    }

    /// How far apart two systems' clocks may be (default zero). A conflict on
    /// a `Shared` field whose two modification times are this close, or that
    /// lie further than this in the future, goes to review rather than to the
    /// apparent last writer.
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.parts.max_clock_skew = skew;
        self
    }

    /// The boundary, or the first rule it breaks: an empty name, system A
    /// equal to system B, no field, a field mapped twice, excluded twice, or
    /// both mapped and excluded, a comparison for a field that is not synced
    /// or with a tolerance that is no tolerance.
    pub fn build(self) -> Result<SyncBoundary, BoundaryError>
    where
        R: IsSet<field::record_type, Value = String>,
        A: IsSet<field::system_a, Value = String>,
        B: IsSet<field::system_b, Value = String>,
    {
        let record_type = self.record_type.into_value();
        let system_a = self.system_a.into_value();
        let system_b = self.system_b.into_value();
        for (part, name) in [
            (NamePart::RecordType, &record_type),
            (NamePart::SystemA, &system_a),
            (NamePart::SystemB, &system_b),
        ] {
            if name.is_empty() {
                return Err(BoundaryError::EmptyName { part });
            }
        }
        if system_a == system_b {
            return Err(BoundaryError::SameSystem { system: system_a });
        }
        let parts = self.parts;
        if parts.fields.is_empty() {
            return Err(BoundaryError::NoField);
        }
        let mut index = FieldIndex::default();
        let mut fields = Vec::with_capacity(parts.fields.len());
        for (position, (name, authority)) in parts.fields.into_iter().enumerate() {
            if name.is_empty() {
                return Err(BoundaryError::EmptyName {
                    part: NamePart::Field,
                });
            }
            let name: Arc<str> = name.into();
            if index
                .insert(Arc::clone(&name), FieldEntry::Synced(position))
                .is_some()
            {
                return Err(BoundaryError::MappedTwice {
                    field: name.to_string(),
                });
            }
            fields.push(FieldRule {
                name,
                authority,
                compare: Compare::default(),
            });
        }
        for (name, compare) in parts.comparisons {
            if let Compare::Tolerance(tolerance) = compare
                && !(tolerance.is_finite() && tolerance >= 0.0)
            {
                return Err(BoundaryError::BadTolerance {
                    field: name,
                    tolerance,
                });
            }
            match index.get(&name) {
                Some(FieldEntry::Synced(position)) => fields[position].compare = compare,
                _ => return Err(BoundaryError::CompareUnsynced { field: name }),
            }
        }
        let mut excluded = Vec::with_capacity(parts.excluded.len());
        for name in parts.excluded {
            if name.is_empty() {
                return Err(BoundaryError::EmptyName {
                    part: NamePart::Field,
                });
            }
            let name: Arc<str> = name.into();
            match index.insert(Arc::clone(&name), FieldEntry::Excluded) {
                Some(FieldEntry::Synced(_)) => {
                    return Err(BoundaryError::MappedAndExcluded {
                        field: name.to_string(),
                    });
                }
                Some(FieldEntry::Excluded) => {
                    return Err(BoundaryError::ExcludedTwice {
                        field: name.to_string(),
                    });
                }
                None => excluded.push(name),
            }
        }
        Ok(
            SyncBoundary::assemble(record_type, system_a, system_b, fields, excluded, index)
                .with_options(parts.review_overrides, parts.max_clock_skew),
        )
    }
}

/// The position of `side` in per-side arrays.
pub(crate) const fn side_index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}
