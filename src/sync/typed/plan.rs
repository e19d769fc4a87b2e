//! The typed reconcile plan: decisions per field by name, a patch type per side.

use std::marker::PhantomData;

use super::super::applied::{
    Applied, AppliedToA, AppliedToB, ApplyState, AwaitsA, AwaitsB, NeitherApplied, NotApplied,
    OneSideApplied,
};
use super::super::authority::Side;
use super::super::reconcile::{DecisionKind, NotInReview, ReconcilePlan, UnmappedField};
use super::json::RecordError;
use super::record::SyncRecord;

/// What to do to sync one typed record: the typed [`ReconcilePlan`].
///
/// [`decisions`](Self::decisions) holds one [`FieldDecision`](super::super::FieldDecision)
/// per synced field, by field name; [`patch_a`](Self::patch_a) and
/// [`patch_b`](Self::patch_b) are each system's own patch type, with a field
/// only where a value may flow into that system. A review item becomes a
/// change only through [`keep`](Self::keep), which names the side that wins.
///
/// `A` and `B` record which side's patch is written, as on
/// [`ReconcilePlan`]: [`new_base`](Self::new_base) once both are,
/// [`partial_base`](Self::partial_base) with one.
#[must_use = "a plan does nothing until its patches and base are applied"]
pub struct TypedPlan<R: SyncRecord, A = NotApplied, B = NotApplied> {
    record_id: String,
    decisions: R::Decisions,
    unmapped: Vec<UnmappedField>,
    applied: PhantomData<(A, B)>,
}

impl<R: SyncRecord, A, B> Clone for TypedPlan<R, A, B> {
    fn clone(&self) -> Self {
        TypedPlan {
            record_id: self.record_id.clone(),
            decisions: self.decisions.clone(),
            unmapped: self.unmapped.clone(),
            applied: PhantomData,
        }
    }
}

impl<R: SyncRecord, A, B> std::fmt::Debug for TypedPlan<R, A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedPlan")
            .field("record_id", &self.record_id)
            .field("decisions", &self.decisions)
            .field("unmapped", &self.unmapped)
            .finish()
    }
}

impl<R: SyncRecord, A, B> PartialEq for TypedPlan<R, A, B> {
    fn eq(&self, other: &Self) -> bool {
        (&self.record_id, &self.decisions, &self.unmapped)
            == (&other.record_id, &other.decisions, &other.unmapped)
    }
}

impl<R: SyncRecord> TypedPlan<R> {
    pub(super) fn new(
        record_id: String,
        decisions: R::Decisions,
        unmapped: Vec<UnmappedField>,
    ) -> Self {
        TypedPlan {
            record_id,
            decisions,
            unmapped,
            applied: PhantomData,
        }
    }
}

impl<R: SyncRecord, A: ApplyState, B: ApplyState> TypedPlan<R, A, B> {
    /// The record.
    pub fn record_id(&self) -> &str {
        &self.record_id
    }

    /// One decision per synced field, by field name.
    pub fn decisions(&self) -> &R::Decisions {
        &self.decisions
    }

    /// Fields seen in a string-keyed copy that the type neither syncs nor
    /// excludes (only for plans made by
    /// [`reconcile_records`](super::TypedBoundary::reconcile_records)).
    pub fn unmapped_fields(&self) -> &[UnmappedField] {
        &self.unmapped
    }

    /// The changes to write to system A.
    pub fn patch_a(&self) -> R::PatchA {
        R::patch_a(&self.decisions)
    }

    /// The changes to write to system B.
    pub fn patch_b(&self) -> R::PatchB {
        R::patch_b(&self.decisions)
    }

    /// The names of the fields that wait for a person's decision.
    pub fn review_fields(&self) -> Vec<&str> {
        R::each_decision(&self.decisions)
            .into_iter()
            .filter(|decision| decision.kind() == DecisionKind::Review)
            .map(|decision| decision.field())
            .collect()
    }

    /// Whether there is nothing to apply: no patch and no change of base.
    /// (Review items may remain: they wait for a person.)
    pub fn is_settled(&self) -> bool {
        R::each_decision(&self.decisions).iter().all(|decision| {
            matches!(
                decision.kind(),
                DecisionKind::Nothing | DecisionKind::Review
            )
        })
    }

    /// The same plan, string-keyed, its values as JSON: to store or audit,
    /// or to show a review queue.
    pub fn to_plan(&self) -> Result<ReconcilePlan<serde_json::Value, A, B>, RecordError> {
        let decisions = R::each_decision(&self.decisions)
            .into_iter()
            .map(|decision| decision.to_json())
            .collect::<Result<_, _>>()?;
        Ok(ReconcilePlan::from_parts(
            self.record_id.clone(),
            decisions,
            self.unmapped.clone(),
        ))
    }

    /// A person's decision on the review item `field`: `winner`'s value is
    /// written to the other side (that side's patch gains the field), and
    /// the value it replaces is recorded. Only before either patch is
    /// applied; refused if the field is not waiting for review.
    pub fn keep(&mut self, winner: Side, field: R::Field) -> Result<(), NotInReview>
    where
        (A, B): NeitherApplied<A, B>,
    {
        R::decision_mut(&mut self.decisions, field).keep(winner)
    }

    /// Records that system A's patch is written. Once per plan.
    pub fn applied_a(self) -> TypedPlan<R, Applied, B>
    where
        A: AwaitsA,
    {
        self.into_state()
    }

    /// Records that system B's patch is written. Once per plan.
    pub fn applied_b(self) -> TypedPlan<R, A, Applied>
    where
        B: AwaitsB,
    {
        self.into_state()
    }

    /// The base to store now that both patches are written: for each field,
    /// the value both systems hold (a review item keeps its old base).
    pub fn new_base(&self) -> R::Base
    where
        A: AppliedToA,
        B: AppliedToB,
    {
        R::base_unless_pending(&self.decisions, None)
    }

    /// The base to store when one side's patch is written and the other's
    /// failed; see [`ReconcilePlan::partial_base`].
    pub fn partial_base(&self) -> R::Base
    where
        (A, B): OneSideApplied<A, B>,
    {
        let pending = <(A, B) as OneSideApplied<A, B>>::SIDE.other();
        R::base_unless_pending(&self.decisions, Some(pending))
    }

    fn into_state<A2, B2>(self) -> TypedPlan<R, A2, B2> {
        TypedPlan {
            record_id: self.record_id,
            decisions: self.decisions,
            unmapped: self.unmapped,
            applied: PhantomData,
        }
    }
}
