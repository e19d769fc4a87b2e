//! The trait of a typed sync record, and what it says about its companions.

use std::fmt::Debug;

use chrono::{DateTime, Utc};

use super::super::authority::Side;
use super::super::boundary::SyncBoundary;
use super::super::reconcile::{Base, DecisionKind, FieldDecision, NotInReview, Patch, Record};
use super::super::rules::RecordRules;
use super::json::RecordError;
use super::stamped::Stamped;

/// A struct whose fields are the synced fields of one record type, each with
/// the system that owns it: the typed face of a [`SyncBoundary`].
///
/// Written by `#[derive(SyncRecord)]` (the `derive` feature), which also
/// writes the companion types named here, for a struct `Contact` between
/// systems `crm` and `erp`:
///
/// | type | what it holds |
/// |---|---|
/// | `ContactModifiedAt` | when each synced field last changed ([`ModifiedAt`](Self::ModifiedAt)) |
/// | `ContactBase` | the values both systems last agreed on, each `None` until first synced ([`Base`](Self::Base)) |
/// | `ContactDecisions` | one [`FieldDecision`] per synced field, by name ([`Decisions`](Self::Decisions)) |
/// | `ContactField` | a synced field's name as an enum ([`Field`](Self::Field)) |
/// | `ContactCrmPatch`, `ContactErpPatch` | the changes each system may receive ([`PatchA`](Self::PatchA), [`PatchB`](Self::PatchB)) |
///
/// A system's patch has a field only if a value may flow into that system:
/// not the fields it owns, never an excluded one. So the ERP's value cannot
/// be written into a field the CRM owns: there is no such field to write.
///
/// The methods below are the plumbing [`TypedBoundary`](super::TypedBoundary)
/// and [`TypedPlan`](super::TypedPlan) call; a job calls those.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a typed sync record",
    label = "a struct with `#[derive(SyncRecord)]` is needed here",
    note = "derive it: `#[derive(SyncRecord)]` with `#[sync(record_type = \"..\", a = \"..\", b = \"..\")]` on the struct and an authority on each field (the `derive` feature)"
)]
pub trait SyncRecord: Clone + Sized {
    /// When each synced field last changed.
    type ModifiedAt: ModifiedTimes;
    /// The values both systems last agreed on; `Default` is a record never synced.
    type Base: Clone + Debug + Default + PartialEq;
    /// One decision per synced field.
    type Decisions: Clone + Debug + PartialEq;
    /// The name of a synced field, as a value.
    type Field: Copy + Debug + Eq;
    /// The changes system A may receive.
    type PatchA: RecordPatch<Self>;
    /// The changes system B may receive.
    type PatchB: RecordPatch<Self>;

    /// The record type, the systems and each field's rules.
    const RULES: RecordRules;

    /// The boundary these rules make: equal to the one
    /// [`SyncBoundary::builder`] makes from the same rules.
    fn boundary() -> SyncBoundary {
        SyncBoundary::from_rules(&Self::RULES)
    }

    /// The string-keyed copy of `stamped`: every field, excluded ones included.
    fn to_record(stamped: &Stamped<Self>) -> Result<Record, RecordError>;

    /// The typed copy of `record`. A synced field that is absent reads as
    /// JSON `null` (so an `Option` field is `None`); an excluded field that
    /// is absent takes its `Default`. Fields the type does not have are
    /// left out (a plan reports them, see
    /// [`TypedBoundary::reconcile_records`](super::TypedBoundary::reconcile_records)).
    fn from_record(record: &Record) -> Result<Stamped<Self>, RecordError>;

    /// The string-keyed copy of a typed base: the fields synced so far.
    fn base_to_json(base: &Self::Base) -> Result<Base, RecordError>;

    /// The typed copy of a stored base: a field absent from it was never synced.
    fn base_from_json(base: &Base) -> Result<Self::Base, RecordError>;

    /// Decides every synced field by `boundary`'s rules.
    fn decide(
        boundary: &SyncBoundary,
        a: &Stamped<Self>,
        b: &Stamped<Self>,
        base: &Self::Base,
        now: DateTime<Utc>,
    ) -> Self::Decisions;

    /// The changes `decisions` make to system A.
    fn patch_a(decisions: &Self::Decisions) -> Self::PatchA;

    /// The changes `decisions` make to system B.
    fn patch_b(decisions: &Self::Decisions) -> Self::PatchB;

    /// The base once every side but `pending` has received its changes.
    fn base_unless_pending(decisions: &Self::Decisions, pending: Option<Side>) -> Self::Base;

    /// Every decision, in declaration order, without its value type.
    fn each_decision(decisions: &Self::Decisions) -> Vec<&dyn AnyFieldDecision>;

    /// The decision of `field`, without its value type.
    fn decision_mut(
        decisions: &mut Self::Decisions,
        field: Self::Field,
    ) -> &mut dyn AnyFieldDecision;
}

/// One system's patch for a typed record `R`: a field for each synced field
/// a value may flow into that system, `Some` where the plan writes one.
pub trait RecordPatch<R>: Clone + Debug + Default + PartialEq {
    /// Writes every change of this patch into `record`.
    fn apply_to(&self, record: &mut R);

    /// Whether the patch changes nothing.
    fn is_empty(&self) -> bool;

    /// The patch, string-keyed, its values as JSON: to send to the
    /// system's API.
    fn to_patch(&self) -> Result<Patch, RecordError>;
}

/// The companion that says when each synced field last changed; a field is
/// `None` where the system does not say.
pub trait ModifiedTimes: Clone + Debug + Default + PartialEq {
    /// Every field last changed at `at` (for a system that dates whole records).
    fn all_at(at: DateTime<Utc>) -> Self;
}

/// A [`FieldDecision`] of any value type: what a plan reads of each field
/// to count, settle, review and write down its decisions.
pub trait AnyFieldDecision {
    /// The field.
    fn field(&self) -> &str;

    /// The kind of decision.
    fn kind(&self) -> DecisionKind;

    /// Whether the decision removes the field from a side.
    fn is_delete(&self) -> bool;

    /// A person's decision on a review item: see [`FieldDecision::keep`].
    fn keep(&mut self, winner: Side) -> Result<(), NotInReview>;

    /// The decision with its values as JSON.
    fn to_json(&self) -> Result<FieldDecision, RecordError>;
}

impl<V: Clone + serde::Serialize + serde::de::DeserializeOwned> AnyFieldDecision
    for FieldDecision<V>
{
    fn field(&self) -> &str {
        &self.field
    }

    fn kind(&self) -> DecisionKind {
        self.decision.kind()
    }

    fn is_delete(&self) -> bool {
        self.decision.is_delete()
    }

    fn keep(&mut self, winner: Side) -> Result<(), NotInReview> {
        FieldDecision::keep(self, winner)
    }

    fn to_json(&self) -> Result<FieldDecision, RecordError> {
        super::json::decision_to_json(self)
    }
}
