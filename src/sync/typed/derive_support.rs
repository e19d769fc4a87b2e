//! What the code `#[derive(SyncRecord)]` writes calls: not an API of its
//! own, and not covered by semantic versioning.

pub use super::super::authority::{RecordAuthority, Side};
pub use super::super::boundary::SyncBoundary;
pub use super::super::reconcile::{Base, FieldDecision, Patch, Record, Versioned};
pub use super::super::rules::{FieldRules, RecordRules};
pub use super::super::value::{Compare, SyncValue};
pub use super::json::{
    RecordError, base_field, excluded, modified_at, put, put_base, put_change, synced,
};
pub use super::record::{AnyFieldDecision, ModifiedTimes, RecordPatch, SyncRecord};
pub use super::stamped::Stamped;
pub use chrono::{DateTime, Utc};

use super::super::reconcile::Change;

/// Decides one field from its two typed values and times and its base.
#[allow(clippy::too_many_arguments)]
pub fn decide<T: SyncValue>(
    boundary: &SyncBoundary,
    rules: &FieldRules,
    a: &T,
    modified_at_a: Option<DateTime<Utc>>,
    b: &T,
    modified_at_b: Option<DateTime<Utc>>,
    base: Option<&T>,
    now: DateTime<Utc>,
) -> FieldDecision<T> {
    let versioned = |value: &T, modified_at| Versioned {
        value: value.clone(),
        modified_at,
    };
    boundary.decide_field(
        rules,
        versioned(a, modified_at_a),
        versioned(b, modified_at_b),
        base.cloned(),
        now,
    )
}

/// The value `decision` writes to `side`, if any. (Both copies of a typed
/// record hold every field, so no decision removes one.)
pub fn change_for<T: Clone>(decision: &FieldDecision<T>, side: Side) -> Option<T> {
    match decision.decision.change_for(side)? {
        Change::Set(value) => Some(value.clone()),
        Change::Remove => None,
    }
}
