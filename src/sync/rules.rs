//! A boundary's rules as a constant: what `#[derive(SyncRecord)]` writes for
//! a record type, checked when the constant is evaluated, at compile time.

use std::sync::Arc;
use std::time::Duration;

use super::authority::RecordAuthority;
use super::boundary::{FieldRule, SyncBoundary};
use super::field_index::{FieldEntry, FieldIndex};
use super::value::Compare;

/// The rules of one synced field.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FieldRules {
    /// The field's name, as it appears in a [`Record`](super::Record).
    pub name: &'static str,
    /// Who owns it.
    pub authority: RecordAuthority,
    /// How its values compare.
    pub compare: Compare,
}

/// The rules of a record type, as [`SyncBoundaryBuilder`](super::SyncBoundaryBuilder)
/// takes them, in a form a constant can hold: names, synced fields in
/// declaration order, excluded fields.
///
/// Made only by [`RecordRules::new`], which refuses what the builder
/// refuses, so that [`SyncBoundary::from_rules`] cannot fail. In a constant
/// (as the derive writes it), a rule broken is a compile error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecordRules {
    record_type: &'static str,
    system_a: &'static str,
    system_b: &'static str,
    fields: &'static [FieldRules],
    excluded: &'static [&'static str],
}

/// Why [`RecordRules::new`] refused its rules, and the name at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {name:?}")]
pub struct InvalidRules {
    /// The rule broken, in words.
    pub reason: &'static str,
    /// The name it concerns (empty for an empty name).
    pub name: &'static str,
}

impl RecordRules {
    /// The rules, or the first one broken: an empty name, system A equal to
    /// system B, no synced field, a field named twice (synced or excluded),
    /// a tolerance that is negative or not finite.
    pub const fn new(
        record_type: &'static str,
        system_a: &'static str,
        system_b: &'static str,
        fields: &'static [FieldRules],
        excluded: &'static [&'static str],
    ) -> Result<RecordRules, InvalidRules> {
        if record_type.is_empty() || system_a.is_empty() || system_b.is_empty() {
            return invalid("the record type and both systems need a name", "");
        }
        if same_text(system_a, system_b) {
            return invalid("a boundary connects two different systems", system_a);
        }
        if fields.is_empty() {
            return invalid("a boundary syncs at least one field", record_type);
        }
        let names = fields.len() + excluded.len();
        let mut i = 0;
        while i < names {
            let name = name_at(fields, excluded, i);
            if name.is_empty() {
                return invalid("a field name is empty", name);
            }
            let mut j = i + 1;
            while j < names {
                if same_text(name, name_at(fields, excluded, j)) {
                    return invalid("a field is named twice", name);
                }
                j += 1;
            }
            if i < fields.len()
                && let Compare::Tolerance(tolerance) = fields[i].compare
                && !(tolerance.is_finite() && tolerance >= 0.0)
            {
                return invalid("a tolerance is finite and not negative", name);
            }
            i += 1;
        }
        Ok(RecordRules {
            record_type,
            system_a,
            system_b,
            fields,
            excluded,
        })
    }

    /// The record type.
    pub const fn record_type(&self) -> &'static str {
        self.record_type
    }

    /// System A's name.
    pub const fn system_a(&self) -> &'static str {
        self.system_a
    }

    /// System B's name.
    pub const fn system_b(&self) -> &'static str {
        self.system_b
    }

    /// The synced fields, in declaration order.
    pub const fn fields(&self) -> &'static [FieldRules] {
        self.fields
    }

    /// The excluded fields.
    pub const fn excluded(&self) -> &'static [&'static str] {
        self.excluded
    }
}

/// The `i`th name of the synced fields followed by the excluded ones.
const fn name_at(
    fields: &'static [FieldRules],
    excluded: &'static [&'static str],
    i: usize,
) -> &'static str {
    if i < fields.len() {
        fields[i].name
    } else {
        excluded[i - fields.len()]
    }
}

const fn invalid(reason: &'static str, name: &'static str) -> Result<RecordRules, InvalidRules> {
    Err(InvalidRules { reason, name })
}

const fn same_text(x: &str, y: &str) -> bool {
    let (x, y) = (x.as_bytes(), y.as_bytes());
    if x.len() != y.len() {
        return false;
    }
    let mut i = 0;
    while i < x.len() {
        if x[i] != y[i] {
            return false;
        }
        i += 1;
    }
    true
}

impl SyncBoundary {
    /// The boundary `rules` describe, with the builder's defaults for the
    /// options they do not hold (no review of overrides, no clock skew):
    /// equal to the one [`SyncBoundary::builder`] makes from the same rules.
    pub fn from_rules(rules: &RecordRules) -> SyncBoundary {
        let mut index = FieldIndex::default();
        let fields: Vec<FieldRule> = rules
            .fields
            .iter()
            .enumerate()
            .map(|(position, field)| {
                let name: Arc<str> = field.name.into();
                index.insert(Arc::clone(&name), FieldEntry::Synced(position));
                FieldRule {
                    name,
                    authority: field.authority,
                    compare: field.compare,
                }
            })
            .collect();
        let excluded: Vec<Arc<str>> = rules
            .excluded
            .iter()
            .map(|&name| {
                let name: Arc<str> = name.into();
                index.insert(Arc::clone(&name), FieldEntry::Excluded);
                name
            })
            .collect();
        SyncBoundary::assemble(
            rules.record_type.to_owned(),
            rules.system_a.to_owned(),
            rules.system_b.to_owned(),
            fields,
            excluded,
            index,
        )
        .with_options([false, false], Duration::ZERO)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EMAIL: FieldRules = FieldRules {
        name: "email",
        authority: RecordAuthority::SystemA,
        compare: Compare::Meaning,
    };

    #[test]
    fn rules_refuse_what_the_builder_refuses() {
        let refused = |rules: Result<RecordRules, InvalidRules>| rules.map(|_| ()).unwrap_err();
        assert_eq!(
            refused(RecordRules::new("contact", "crm", "crm", &[EMAIL], &[])).name,
            "crm"
        );
        assert_eq!(
            refused(RecordRules::new("contact", "crm", "erp", &[], &[])).reason,
            "a boundary syncs at least one field"
        );
        assert_eq!(
            refused(RecordRules::new(
                "contact",
                "crm",
                "erp",
                &[EMAIL],
                &["email"]
            ))
            .name,
            "email"
        );
        assert_eq!(
            refused(RecordRules::new("", "crm", "erp", &[EMAIL], &[])).reason,
            "the record type and both systems need a name"
        );
        const LOOSE: FieldRules = FieldRules {
            compare: Compare::Tolerance(f64::NAN),
            ..EMAIL
        };
        assert_eq!(
            refused(RecordRules::new("contact", "crm", "erp", &[LOOSE], &[])).reason,
            "a tolerance is finite and not negative"
        );
        assert!(RecordRules::new("contact", "crm", "erp", &[EMAIL], &["notes"]).is_ok());
    }
}
