//! Typed records: a struct's fields are the synced fields, each owned as its
//! attribute says, and each system's patch is a type of its own.
//!
//! `#[derive(SyncRecord)]` (the `derive` feature) reads the rules from the
//! struct and writes the [`SyncRecord`] impl and its companion types. A
//! [`TypedBoundary`] plans two [`Stamped`] copies and a typed base into a
//! [`TypedPlan`], by the same rules as the string-keyed
//! [`SyncBoundary`](super::SyncBoundary): a property test holds the two plans
//! equal on the same data.
//!
//! What the compiler checks, that the string-keyed API leaves to run time:
//!
//! - every field states its authority, and its rules are well formed (the
//!   derive says where they are not);
//! - a patch has no field its system owns, and no excluded field: the ERP's
//!   value cannot be written into a field the CRM owns;
//! - a field name is an identifier, so a misspelling does not compile, and a
//!   patch's values have the field's type;
//! - a review item becomes a change only through [`TypedPlan::keep`], which
//!   names the winning side, before either patch is applied;
//! - the base is taken only once both patches are written, as on
//!   [`ReconcilePlan`](super::ReconcilePlan).
//!
//! The string-keyed forms stay the way in and out: [`Stamped::from_record`]
//! and [`TypedBoundary::reconcile_records`] read JSON from an API (a field the
//! type does not know is reported as schema drift), each patch has a
//! `to_patch`, and [`TypedPlan::to_plan`] gives the plan to store or audit.

mod batch;
mod boundary;
#[doc(hidden)]
pub mod derive_support;
mod json;
mod plan;
mod record;
mod stamped;

pub use batch::{TypedBatchPlan, TypedSnapshot};
pub use boundary::TypedBoundary;
pub use json::RecordError;
pub use plan::TypedPlan;
pub use record::{AnyFieldDecision, ModifiedTimes, RecordPatch, SyncRecord};
pub use stamped::Stamped;
