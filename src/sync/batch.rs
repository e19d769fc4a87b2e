//! Reconciling many records at once, with a guard against mass overwrites.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::applied::{
    Applied, AppliedToA, AppliedToB, ApplyState, AwaitsA, AwaitsB, NotApplied, OneSideApplied,
};
use super::boundary::SyncBoundary;
use super::reconcile::{Base, DecisionKind, ReconcilePlan, Record};
use super::value::SyncValue;

/// One record's two copies and its last-synced base, for a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSnapshot<V = serde_json::Value> {
    /// The record.
    pub record_id: String,
    /// System A's copy.
    pub a: Record<V>,
    /// System B's copy.
    pub b: Record<V>,
    /// The last-synced base (empty if never synced).
    pub base: Base<V>,
}

/// How many field decisions of each kind a batch holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionCounts {
    /// Nothing to do.
    pub nothing: usize,
    /// Both sides already agree on a new value.
    pub converged: usize,
    /// A change copied to the other side.
    pub propagate: usize,
    /// A value replaced by the winner's, the replaced value recorded.
    pub overwrite: usize,
    /// Waiting for a person.
    pub review: usize,
    /// Propagations and overwrites that remove a field.
    pub deletes: usize,
    /// Fields seen in a record that the boundary does not know.
    pub unmapped: usize,
}

impl DecisionCounts {
    /// All field decisions.
    pub fn total(&self) -> usize {
        self.nothing + self.converged + self.propagate + self.overwrite + self.review
    }

    fn add(&mut self, plan: &ReconcilePlan<impl Clone>) {
        for decision in plan.decisions() {
            self.add_decision(decision.decision.kind(), decision.decision.is_delete());
        }
        self.unmapped += plan.unmapped_fields().len();
    }

    /// Counts one field decision.
    pub(crate) fn add_decision(&mut self, kind: DecisionKind, is_delete: bool) {
        match kind {
            DecisionKind::Nothing => self.nothing += 1,
            DecisionKind::Converged => self.converged += 1,
            DecisionKind::Propagate => self.propagate += 1,
            DecisionKind::Overwrite => self.overwrite += 1,
            DecisionKind::Review => self.review += 1,
        }
        if is_delete {
            self.deletes += 1;
        }
    }

    /// Refuses counts whose share of overwrites or deletes is above `limits`.
    pub(crate) fn guard(&self, limits: GuardLimits) -> Result<(), GuardTripped> {
        let overwrite_share = self.share(self.overwrite);
        let delete_share = self.share(self.deletes);
        if overwrite_share > limits.max_overwrite_share || delete_share > limits.max_delete_share {
            Err(GuardTripped {
                overwrite_share,
                delete_share,
                limits,
            })
        } else {
            Ok(())
        }
    }

    /// `part` as a share of all field decisions (0 for an empty batch).
    fn share(&self, part: usize) -> f64 {
        match self.total() {
            0 => 0.0,
            total => part as f64 / total as f64,
        }
    }
}

/// The most a batch may overwrite or delete before it is held back: a whole
/// system wiped or restored from an old backup looks like a mass change, and
/// is more likely an error than a change.
///
/// The defaults, changed through the setters; the fields are public to
/// read, and the struct is `#[non_exhaustive]`. A limit missing from its
/// serialized form takes its default, so that stored settings still read
/// when a limit is added.
///
/// ```
/// use integration_automation_patterns::sync::GuardLimits;
///
/// let limits = GuardLimits::default().max_overwrite_share(0.5);
/// assert_eq!((limits.max_overwrite_share, limits.max_delete_share), (0.5, 0.1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct GuardLimits {
    /// The largest share of field decisions that may be overwrites (default 0.2).
    pub max_overwrite_share: f64,
    /// The largest share of field decisions that may remove a field (default 0.1).
    pub max_delete_share: f64,
}

impl Default for GuardLimits {
    fn default() -> Self {
        GuardLimits {
            max_overwrite_share: 0.2,
            max_delete_share: 0.1,
        }
    }
}

impl GuardLimits {
    /// Sets [`max_overwrite_share`](Self::max_overwrite_share).
    #[must_use]
    pub fn max_overwrite_share(mut self, max_overwrite_share: f64) -> Self {
        self.max_overwrite_share = max_overwrite_share;
        self
    }

    /// Sets [`max_delete_share`](Self::max_delete_share).
    #[must_use]
    pub fn max_delete_share(mut self, max_delete_share: f64) -> Self {
        self.max_delete_share = max_delete_share;
        self
    }
}

/// A batch overwrote or deleted more than its [`GuardLimits`] allow.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub struct GuardTripped {
    /// The batch's share of overwrites.
    pub overwrite_share: f64,
    /// The batch's share of deletes.
    pub delete_share: f64,
    /// The limits it broke.
    pub limits: GuardLimits,
}

impl fmt::Display for GuardTripped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the batch overwrites {:.1}% (limit {:.1}%) and deletes {:.1}% (limit {:.1}%) \
             of its fields; check the source systems before applying it",
            self.overwrite_share * 100.0,
            self.limits.max_overwrite_share * 100.0,
            self.delete_share * 100.0,
            self.limits.max_delete_share * 100.0
        )
    }
}

/// The plans of a batch of records, in input order, with counts per decision.
///
/// Like a [`ReconcilePlan`], a batch records which side's patches are written
/// (`A`, `B`): [`new_bases`](Self::new_bases) once both are,
/// [`partial_bases`](Self::partial_bases) when only one side's writes went
/// through.
#[must_use = "a plan does nothing until its patches and bases are applied"]
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(bound(serialize = "V: Serialize"))]
pub struct BatchPlan<V = serde_json::Value, A = NotApplied, B = NotApplied> {
    plans: Vec<ReconcilePlan<V, A, B>>,
    counts: DecisionCounts,
}

/// A stored batch reads back not applied, as a stored plan does.
impl<'de, V: Deserialize<'de>> Deserialize<'de> for BatchPlan<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename = "BatchPlan", bound(deserialize = "V: Deserialize<'de>"))]
        struct Stored<V> {
            plans: Vec<ReconcilePlan<V>>,
            counts: DecisionCounts,
        }
        let Stored { plans, counts } = Stored::deserialize(deserializer)?;
        Ok(BatchPlan { plans, counts })
    }
}

impl<V: Clone, A: ApplyState, B: ApplyState> BatchPlan<V, A, B> {
    /// One plan per record, in input order.
    pub fn plans(&self) -> &[ReconcilePlan<V, A, B>] {
        &self.plans
    }

    /// Takes the plans out, to apply and settle each record on its own.
    pub fn into_plans(self) -> Vec<ReconcilePlan<V, A, B>> {
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
    pub fn applied_a(self) -> BatchPlan<V, Applied, B>
    where
        A: AwaitsA,
    {
        BatchPlan {
            plans: self
                .plans
                .into_iter()
                .map(ReconcilePlan::applied_a)
                .collect(),
            counts: self.counts,
        }
    }

    /// Records that every record's patch for system B is written.
    pub fn applied_b(self) -> BatchPlan<V, A, Applied>
    where
        B: AwaitsB,
    {
        BatchPlan {
            plans: self
                .plans
                .into_iter()
                .map(ReconcilePlan::applied_b)
                .collect(),
            counts: self.counts,
        }
    }

    /// Each record's id and the base to store, now that both sides' patches
    /// are written; see [`ReconcilePlan::new_base`].
    pub fn new_bases(&self) -> Vec<(String, Base<V>)>
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
    /// written and the other side's failed; see
    /// [`ReconcilePlan::partial_base`].
    pub fn partial_bases(&self) -> Vec<(String, Base<V>)>
    where
        (A, B): OneSideApplied<A, B>,
    {
        self.plans
            .iter()
            .map(|plan| (plan.record_id().to_owned(), plan.partial_base()))
            .collect()
    }
}

impl SyncBoundary {
    /// Plans the sync of every record in `records` at time `now`; each plan is
    /// the one [`reconcile_at`](Self::reconcile_at) gives for that record.
    pub fn reconcile_batch_at<'r, V: SyncValue + 'r>(
        &self,
        records: impl IntoIterator<Item = &'r RecordSnapshot<V>>,
        now: DateTime<Utc>,
    ) -> BatchPlan<V> {
        let mut counts = DecisionCounts::default();
        let plans = records
            .into_iter()
            .map(|record| {
                let plan =
                    self.reconcile_at(&record.record_id, &record.a, &record.b, &record.base, now);
                counts.add(&plan);
                plan
            })
            .collect();
        BatchPlan { plans, counts }
    }
}
