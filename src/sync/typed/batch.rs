//! Reconciling many typed records at once, with the batch guard.

use super::super::applied::{
    Applied, AppliedToA, AppliedToB, ApplyState, AwaitsA, AwaitsB, NotApplied, OneSideApplied,
};
use super::super::batch::{DecisionCounts, GuardLimits, GuardTripped};
use super::plan::TypedPlan;
use super::record::SyncRecord;
use super::stamped::Stamped;

/// One typed record's two copies and its base, for a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct TypedSnapshot<R: SyncRecord> {
    /// The record.
    pub record_id: String,
    /// System A's copy.
    pub a: Stamped<R>,
    /// System B's copy.
    pub b: Stamped<R>,
    /// The last-synced base (`Default` if never synced).
    pub base: R::Base,
}

/// The typed plans of a batch, in input order, with counts per decision: the
/// typed [`BatchPlan`](super::super::BatchPlan), with the same guard and the
/// same record of which side's patches are written.
#[must_use = "a plan does nothing until its patches and bases are applied"]
pub struct TypedBatchPlan<R: SyncRecord, A = NotApplied, B = NotApplied> {
    plans: Vec<TypedPlan<R, A, B>>,
    counts: DecisionCounts,
}

impl<R: SyncRecord, A, B> std::fmt::Debug for TypedBatchPlan<R, A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedBatchPlan")
            .field("plans", &self.plans)
            .field("counts", &self.counts)
            .finish()
    }
}

impl<R: SyncRecord> TypedBatchPlan<R> {
    /// A batch of plans made one by one (from each system's JSON, with
    /// [`reconcile_records`](super::TypedBoundary::reconcile_records), say),
    /// to count and guard them together.
    pub fn from_plans(plans: Vec<TypedPlan<R>>) -> Self {
        let mut counts = DecisionCounts::default();
        for plan in &plans {
            for decision in R::each_decision(plan.decisions()) {
                counts.add_decision(decision.kind(), decision.is_delete());
            }
            counts.unmapped += plan.unmapped_fields().len();
        }
        TypedBatchPlan { plans, counts }
    }
}

impl<R: SyncRecord, A: ApplyState, B: ApplyState> TypedBatchPlan<R, A, B> {
    /// One plan per record, in input order.
    pub fn plans(&self) -> &[TypedPlan<R, A, B>] {
        &self.plans
    }

    /// Takes the plans out, to apply and settle each record on its own.
    pub fn into_plans(self) -> Vec<TypedPlan<R, A, B>> {
        self.plans
    }

    /// How many field decisions of each kind the batch holds.
    pub fn counts(&self) -> DecisionCounts {
        self.counts
    }

    /// Refuses a batch whose share of overwrites or deletes is above `limits`.
    pub fn guard(&self, limits: GuardLimits) -> Result<(), GuardTripped> {
        self.counts.guard(limits)
    }

    /// Records that every record's patch for system A is written.
    pub fn applied_a(self) -> TypedBatchPlan<R, Applied, B>
    where
        A: AwaitsA,
    {
        TypedBatchPlan {
            plans: self.plans.into_iter().map(TypedPlan::applied_a).collect(),
            counts: self.counts,
        }
    }

    /// Records that every record's patch for system B is written.
    pub fn applied_b(self) -> TypedBatchPlan<R, A, Applied>
    where
        B: AwaitsB,
    {
        TypedBatchPlan {
            plans: self.plans.into_iter().map(TypedPlan::applied_b).collect(),
            counts: self.counts,
        }
    }

    /// Each record's id and the base to store, now that both sides' patches
    /// are written.
    pub fn new_bases(&self) -> Vec<(String, R::Base)>
    where
        A: AppliedToA,
        B: AppliedToB,
    {
        self.plans
            .iter()
            .map(|plan| (plan.record_id().to_owned(), plan.new_base()))
            .collect()
    }

    /// Each record's id and the base to store when one side's patches are
    /// written and the other side's failed.
    pub fn partial_bases(&self) -> Vec<(String, R::Base)>
    where
        (A, B): OneSideApplied<A, B>,
    {
        self.plans
            .iter()
            .map(|plan| (plan.record_id().to_owned(), plan.partial_base()))
            .collect()
    }
}
