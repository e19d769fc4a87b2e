//! Which of a plan's two patches have been written: a type parameter of
//! [`ReconcilePlan`](super::ReconcilePlan) and [`BatchPlan`](super::BatchPlan),
//! so that the new base, which says "both systems hold these values", can only
//! be taken once both patches are applied.
//!
//! ```compile_fail
//! # use integration_automation_patterns::sync::ReconcilePlan;
//! fn store_too_early(plan: ReconcilePlan) {
//!     let plan = plan.applied_a();
//!     let _ = plan.new_base(); // system B's patch is still to apply
//! }
//! ```

use super::authority::Side;

mod sealed {
    /// Keeps the two markers the only ones.
    pub trait Sealed {}
}

/// Whether a side's patch is applied: [`Applied`] or [`NotApplied`].
pub trait ApplyState: sealed::Sealed {
    /// `true` for [`Applied`].
    const APPLIED: bool;
}

/// The side's patch is written to its system.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Applied;

/// The side's patch is not written yet (the state of a new plan).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NotApplied;

impl sealed::Sealed for Applied {}
impl sealed::Sealed for NotApplied {}
impl ApplyState for Applied {
    const APPLIED: bool = true;
}
impl ApplyState for NotApplied {
    const APPLIED: bool = false;
}

/// System A's patch is written.
#[diagnostic::on_unimplemented(
    message = "system A's patch is not applied to this plan yet",
    label = "this plan's A side is `{Self}`",
    note = "write `plan.patch_a()` to system A, then call `plan.applied_a()`; a base stored before both patches are written says system A holds values it does not"
)]
pub trait AppliedToA: ApplyState {}
impl AppliedToA for Applied {}

/// System B's patch is written.
#[diagnostic::on_unimplemented(
    message = "system B's patch is not applied to this plan yet",
    label = "this plan's B side is `{Self}`",
    note = "write `plan.patch_b()` to system B, then call `plan.applied_b()`; a base stored before both patches are written says system B holds values it does not"
)]
pub trait AppliedToB: ApplyState {}
impl AppliedToB for Applied {}

/// System A's patch is still to write.
#[diagnostic::on_unimplemented(
    message = "system A's patch is already applied to this plan",
    label = "`applied_a()` was called on this plan before",
    note = "each side's patch is applied once"
)]
pub trait AwaitsA: ApplyState {}
impl AwaitsA for NotApplied {}

/// System B's patch is still to write.
#[diagnostic::on_unimplemented(
    message = "system B's patch is already applied to this plan",
    label = "`applied_b()` was called on this plan before",
    note = "each side's patch is applied once"
)]
pub trait AwaitsB: ApplyState {}
impl AwaitsB for NotApplied {}

/// Exactly one side's patch is written: the state in which a partial base
/// records what that side settled.
#[diagnostic::on_unimplemented(
    message = "a partial base needs exactly one side applied, and this plan has (A: `{A}`, B: `{B}`)",
    note = "with both sides applied, store `new_base()`; with neither, keep the old base"
)]
pub trait OneSideApplied<A, B> {
    /// The side whose patch is written.
    const SIDE: Side;
}
impl OneSideApplied<Applied, NotApplied> for (Applied, NotApplied) {
    const SIDE: Side = Side::A;
}
impl OneSideApplied<NotApplied, Applied> for (NotApplied, Applied) {
    const SIDE: Side = Side::B;
}

/// Neither side's patch is written: the state in which a person may still
/// decide a review item, adding a change to one side's patch.
#[diagnostic::on_unimplemented(
    message = "a review item is decided before either patch is applied, and this plan has (A: `{A}`, B: `{B}`)",
    note = "decide review items on the new plan, then write its patches; or reconcile again to plan the decision"
)]
pub trait NeitherApplied<A, B> {}
impl NeitherApplied<NotApplied, NotApplied> for (NotApplied, NotApplied) {}
