//! Bi-directional sync between two systems of record: who owns each field, how
//! to detect a conflict, and a reconcile plan that never loses a change.
//!
//! A [`SyncBoundary`] is the contract for one record type: for each field, the
//! system that owns it ([`RecordAuthority`]), and the fields that are never
//! synced. [`SyncBoundary::reconcile_at`] turns one record's two copies and
//! its last-synced base into a [`ReconcilePlan`]: a patch for each side, the
//! items that need a person, and the new base. Every decision records its
//! inputs and the rule that made it, and serializes, so an audit can replay it.
//!
//! # The reconcile rules
//!
//! The rules, for one field, comparing each side's value with the last-synced
//! base (a field absent from a record, or from the base, is *absent*, which is
//! not the same as `null`; a record never synced has an empty base):
//!
//! | A and B | base | authority | decision |
//! |---|---|---|---|
//! | equal | equal to them | any | nothing to do |
//! | equal | differs | any | converged: move the base |
//! | only one side changed | | owner changed it | propagate to the other side |
//! | | | `Shared` | propagate to the other side |
//! | | | the non-owner changed it | revert to the owner's value, recording the change (or review, if the boundary asks) |
//! | both changed | | `SystemA` / `SystemB` | the owner's value wins; the other is recorded |
//! | | | `Shared` | the last writer wins, unless the times are missing, equal, within the clock-skew bound or in the future: review |
//! | any change | | `Manual` | review |
//!
//! Nothing is lost: a value that a decision replaces is recorded in the
//! decision (`Decision::Overwrite::overwritten`), and a change that is not
//! applied stays a review item until a person decides.
//!
//! "Equal" and "changed" compare values by meaning ([`SyncValue`]): JSON
//! numbers by value (`1` is `1.0`), a NaN the same as a NaN. A field may
//! loosen that with a [`Compare`] on the boundary (case-insensitive, trimmed,
//! a numeric tolerance): a difference its comparison calls the same is no
//! change. So a plan settles: once its patches are applied and its base
//! stored, the next reconcile has nothing to write.
//!
//! A plan's new base is stored only once both patches are written: the plan
//! records each side's application in its type ([`applied`]).

pub mod applied;
mod authority;
mod batch;
mod boundary;
pub mod builder;
mod conflict;
mod field_index;
mod present;
mod reconcile;
mod rules;
pub mod typed;
mod value;

pub use authority::{RecordAuthority, Side};
pub use batch::{BatchPlan, DecisionCounts, GuardLimits, GuardTripped, RecordSnapshot};
pub use boundary::{BoundaryError, NamePart, SyncBoundary};
pub use builder::SyncBoundaryBuilder;
pub use conflict::SyncConflict;
/// Derives [`SyncRecord`](trait@SyncRecord) for a struct whose fields are the
/// synced fields (the `derive` feature); see the macro's own page.
#[cfg(feature = "derive")]
pub use iap_derive::SyncRecord;
pub use reconcile::{
    Base, Change, Decision, DecisionKind, FieldDecision, NotInReview, Patch, ReconcilePlan, Record,
    ReviewReason, Rule, UnmappedField, Versioned,
};
pub use rules::{FieldRules, InvalidRules, RecordRules};
pub use typed::{
    AnyFieldDecision, ModifiedTimes, RecordError, RecordPatch, Stamped, SyncRecord, TypedBatchPlan,
    TypedBoundary, TypedPlan, TypedSnapshot,
};
pub use value::{Compare, SyncValue};
