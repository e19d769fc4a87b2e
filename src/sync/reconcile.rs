//! The reconcile plan: what to do with each synced field of one record so that
//! both systems agree again, without losing a change. The rules are listed in
//! the documentation of the `sync` module.

use std::cmp::Ordering;
use std::collections::{BTreeMap, btree_map};
use std::iter::Peekable;
use std::marker::PhantomData;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::applied::{
    Applied, AppliedToA, AppliedToB, ApplyState, AwaitsA, AwaitsB, NeitherApplied, NotApplied,
    OneSideApplied,
};
use super::authority::{RecordAuthority, Side};
use super::boundary::SyncBoundary;
use super::present::present;
use super::rules::FieldRules;
use super::value::{Compare, SyncValue};

/// A field's value in one system, and when that system last changed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned<V = serde_json::Value> {
    /// The value.
    pub value: V,
    /// When the system last changed it, if the system says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<DateTime<Utc>>,
}

impl<V> Versioned<V> {
    /// A value whose modification time is unknown.
    pub fn new(value: V) -> Self {
        Versioned {
            value,
            modified_at: None,
        }
    }

    /// A value last changed at `modified_at`.
    pub fn at(value: V, modified_at: DateTime<Utc>) -> Self {
        Versioned {
            value,
            modified_at: Some(modified_at),
        }
    }
}

/// One system's copy of a record: field name → value. A field that is not in
/// the map is absent, which is not the same as present and `null`.
pub type Record<V = serde_json::Value> = BTreeMap<String, Versioned<V>>;

/// The values both systems last agreed on, field name → value. Empty for a
/// record that was never synced; a field that is not in it was absent.
pub type Base<V = serde_json::Value> = BTreeMap<String, V>;

/// A change to one field of one system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change<V = serde_json::Value> {
    /// Set the field to this value.
    Set(V),
    /// Remove the field.
    Remove,
}

impl<V> Change<V> {
    fn of(value: Option<V>) -> Self {
        value.map_or(Change::Remove, Change::Set)
    }
}

/// The changes to apply to one system, field name → change.
pub type Patch<V = serde_json::Value> = BTreeMap<String, Change<V>>;

/// Which line of the rule table decided a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Rule {
    /// Both sides still hold the base value.
    Unchanged,
    /// Both sides hold the same new value.
    Agreed,
    /// Only the owner changed the field.
    OwnerChanged,
    /// Only one side changed a `Shared` field.
    SharedChanged,
    /// Only the non-owner changed the field: the owner's value is restored.
    NonOwnerReverted,
    /// Only the non-owner changed the field, and the boundary reviews such changes.
    NonOwnerReview,
    /// Both sides changed the field: the owner's value wins.
    OwnerWins,
    /// Both sides changed a `Shared` field: the later change wins.
    LastWriterWins,
    /// Both sides changed a `Shared` field and the times cannot tell which was later.
    SharedUndecided,
    /// A `Manual` field changed.
    ManualField,
    /// A review item, decided by a person: the side they named wins
    /// ([`ReconcilePlan::keep`]).
    PersonDecided,
}

/// Why a field needs a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReviewReason {
    /// The field is `Manual`: every change is reviewed.
    ManualField,
    /// `side` changed a field the other side owns, and the boundary reviews such changes.
    OverrideByNonOwner {
        /// The side that changed it.
        side: Side,
    },
    /// A `Shared` conflict where a side has no modification time (or no value).
    MissingTimestamp,
    /// A `Shared` conflict where both sides changed the field at the same instant.
    EqualTimestamps,
    /// A `Shared` conflict whose two changes are closer than the clock-skew bound.
    WithinClockSkew,
    /// A `Shared` conflict whose later modification time, `side`'s, is later
    /// than now plus the clock-skew bound: that clock cannot be trusted.
    FutureTimestamp {
        /// The side with the future time.
        side: Side,
    },
}

/// What to do with one field. A value of `None` means absent: propagating it
/// removes the field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de>"))]
pub enum Decision<V = serde_json::Value> {
    /// Nothing: both sides hold the base value.
    Nothing,
    /// Both sides already hold the same new value: only the base moves.
    Converged {
        /// The agreed value.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "present"
        )]
        value: Option<V>,
    },
    /// One side's change is copied to the other side.
    Propagate {
        /// The side that receives the value.
        to: Side,
        /// The value.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "present"
        )]
        value: Option<V>,
    },
    /// The winner's value replaces the other side's, which is recorded here.
    Overwrite {
        /// The side whose value wins.
        winner: Side,
        /// The winning value, written to the other side.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "present"
        )]
        value: Option<V>,
        /// The other side's value, which the write replaces.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "present"
        )]
        overwritten: Option<V>,
    },
    /// A person decides; nothing is written and the base stays.
    Review {
        /// Why.
        reason: ReviewReason,
    },
}

/// The kind of a [`Decision`], for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DecisionKind {
    /// [`Decision::Nothing`].
    Nothing,
    /// [`Decision::Converged`].
    Converged,
    /// [`Decision::Propagate`].
    Propagate,
    /// [`Decision::Overwrite`].
    Overwrite,
    /// [`Decision::Review`].
    Review,
}

impl<V> Decision<V> {
    /// The kind of decision.
    pub fn kind(&self) -> DecisionKind {
        match self {
            Decision::Nothing => DecisionKind::Nothing,
            Decision::Converged { .. } => DecisionKind::Converged,
            Decision::Propagate { .. } => DecisionKind::Propagate,
            Decision::Overwrite { .. } => DecisionKind::Overwrite,
            Decision::Review { .. } => DecisionKind::Review,
        }
    }

    /// The change this decision makes to `side`, if any.
    pub fn change_for(&self, side: Side) -> Option<Change<&V>> {
        match self {
            Decision::Propagate { to, value } if *to == side => Some(Change::of(value.as_ref())),
            Decision::Overwrite { winner, value, .. } if *winner != side => {
                Some(Change::of(value.as_ref()))
            }
            _ => None,
        }
    }

    /// Whether the decision removes the field from a side.
    pub fn is_delete(&self) -> bool {
        matches!(
            self,
            Decision::Propagate { value: None, .. } | Decision::Overwrite { value: None, .. }
        )
    }
}

/// The decision for one field, with everything it was decided from, so that
/// an audit can replay it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de>"))]
pub struct FieldDecision<V = serde_json::Value> {
    /// The field.
    pub field: Arc<str>,
    /// Its authority in the boundary.
    pub authority: RecordAuthority,
    /// System A's value, if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<Versioned<V>>,
    /// System B's value, if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<Versioned<V>>,
    /// The last-synced value, if any.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub base: Option<V>,
    /// The rule that decided.
    pub rule: Rule,
    /// What to do.
    pub decision: Decision<V>,
}

impl<V: Clone> FieldDecision<V> {
    /// The base once the decision is applied: the agreed or written value, or
    /// the old base when nothing is written.
    pub fn new_base(&self) -> Option<V> {
        match &self.decision {
            Decision::Nothing | Decision::Review { .. } => self.base.clone(),
            Decision::Converged { value }
            | Decision::Propagate { value, .. }
            | Decision::Overwrite { value, .. } => value.clone(),
        }
    }

    /// The base once every side but `pending` has received its change: the
    /// new base, or the old one if `pending` still has a change to receive.
    pub fn base_unless_pending(&self, pending: Option<Side>) -> Option<V> {
        match pending {
            Some(side) if self.decision.change_for(side).is_some() => self.base.clone(),
            _ => self.new_base(),
        }
    }

    /// A person's decision on a review item: `winner`'s value is written to
    /// the other side, and the value it replaces is recorded. Refused (and
    /// nothing changes) if the field is not waiting for review.
    pub fn keep(&mut self, winner: Side) -> Result<(), NotInReview> {
        if !matches!(self.decision, Decision::Review { .. }) {
            return Err(NotInReview::Decided {
                field: self.field.to_string(),
                decision: self.decision.kind(),
            });
        }
        let value = |side| match side {
            Side::A => self.a.as_ref().map(|a| a.value.clone()),
            Side::B => self.b.as_ref().map(|b| b.value.clone()),
        };
        self.decision = Decision::Overwrite {
            winner,
            value: value(winner),
            overwritten: value(winner.other()),
        };
        self.rule = Rule::PersonDecided;
        Ok(())
    }
}

/// A decision asked of a field that is not waiting for one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotInReview {
    /// The field is decided already.
    #[error(
        "field {field:?} is not waiting for review (its decision is {decision:?}); only review items take a person's decision"
    )]
    Decided {
        /// The field.
        field: String,
        /// What the plan decided for it.
        decision: DecisionKind,
    },
    /// The plan has no such field.
    #[error("the plan has no synced field {field:?}")]
    UnknownField {
        /// The name asked for.
        field: String,
    },
}

/// A field seen in a record that the boundary neither maps nor excludes:
/// schema drift, reported rather than ignored.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UnmappedField {
    /// The system whose record has it.
    pub side: Side,
    /// The field.
    pub field: String,
}

/// What to do to sync one record: one decision per synced field, in the
/// boundary's declaration order, and the fields it does not know.
///
/// `A` and `B` say whether each side's patch has been written
/// ([`NotApplied`] for a new plan). The base that says both systems agree is
/// taken only from a plan whose two patches are applied:
///
/// ```
/// # use integration_automation_patterns::sync::{Base, Patch, ReconcilePlan};
/// # fn write_to_crm(patch: Patch) -> Result<(), String> { Ok(()) }
/// # fn write_to_erp(patch: Patch) -> Result<(), String> { Ok(()) }
/// # fn store(base: Base) {}
/// fn apply(plan: ReconcilePlan) -> Result<(), String> {
///     write_to_crm(plan.patch_a())?;
///     let plan = plan.applied_a();
///     match write_to_erp(plan.patch_b()) {
///         Ok(()) => store(plan.applied_b().new_base()),
///         // What the CRM's write settled, and nothing else: the next run
///         // plans the ERP's side again.
///         Err(error) => {
///             store(plan.partial_base());
///             return Err(error);
///         }
///     }
///     Ok(())
/// }
/// ```
#[must_use = "a plan does nothing until its patches and base are applied"]
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(bound(serialize = "V: Serialize"))]
pub struct ReconcilePlan<V = serde_json::Value, A = NotApplied, B = NotApplied> {
    record_id: String,
    decisions: Vec<FieldDecision<V>>,
    unmapped: Vec<UnmappedField>,
    #[serde(skip)]
    applied: PhantomData<(A, B)>,
}

/// A stored plan reads back not applied: that a side's patch is written is
/// known to the code that wrote it, never to the data.
impl<'de, V: Deserialize<'de>> Deserialize<'de> for ReconcilePlan<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename = "ReconcilePlan", bound(deserialize = "V: Deserialize<'de>"))]
        struct Stored<V> {
            record_id: String,
            decisions: Vec<FieldDecision<V>>,
            unmapped: Vec<UnmappedField>,
        }
        let Stored {
            record_id,
            decisions,
            unmapped,
        } = Stored::deserialize(deserializer)?;
        Ok(ReconcilePlan {
            record_id,
            decisions,
            unmapped,
            applied: PhantomData,
        })
    }
}

impl<V: Clone, A: ApplyState, B: ApplyState> ReconcilePlan<V, A, B> {
    /// The record.
    pub fn record_id(&self) -> &str {
        &self.record_id
    }

    /// One decision per synced field, in declaration order.
    pub fn decisions(&self) -> &[FieldDecision<V>] {
        &self.decisions
    }

    /// The decision for `field`, if it is synced.
    pub fn decision(&self, field: &str) -> Option<&FieldDecision<V>> {
        self.decisions.iter().find(|d| &*d.field == field)
    }

    /// Fields seen in either record that the boundary neither maps nor excludes.
    pub fn unmapped_fields(&self) -> &[UnmappedField] {
        &self.unmapped
    }

    /// The changes to apply to `side`.
    pub fn patch(&self, side: Side) -> Patch<V> {
        self.decisions
            .iter()
            .filter_map(|d| {
                let change = match d.decision.change_for(side)? {
                    Change::Set(value) => Change::Set(value.clone()),
                    Change::Remove => Change::Remove,
                };
                Some((d.field.to_string(), change))
            })
            .collect()
    }

    /// The changes to apply to system A.
    pub fn patch_a(&self) -> Patch<V> {
        self.patch(Side::A)
    }

    /// The changes to apply to system B.
    pub fn patch_b(&self) -> Patch<V> {
        self.patch(Side::B)
    }

    /// The fields that need a person, with their reasons. They stay out of
    /// every base (the old base value is kept) until a person decides.
    pub fn review_items(&self) -> impl Iterator<Item = &FieldDecision<V>> {
        self.decisions
            .iter()
            .filter(|d| matches!(d.decision, Decision::Review { .. }))
    }

    /// Whether there is nothing to apply: no patch and no change of base.
    /// (Review items may remain: they wait for a person.)
    pub fn is_settled(&self) -> bool {
        self.decisions
            .iter()
            .all(|d| matches!(d.decision, Decision::Nothing | Decision::Review { .. }))
    }

    /// A person's decision on the review item `field`: `winner`'s value is
    /// written to the other side (its patch gains the field) and the value it
    /// replaces is recorded. Only before either patch is applied.
    ///
    /// ```
    /// use integration_automation_patterns::sync::{Change, Record, Versioned};
    /// use integration_automation_patterns::{RecordAuthority, Side, SyncBoundary};
    /// use serde_json::json;
    ///
    /// let boundary = SyncBoundary::builder()
    ///     .record_type("contact").system_a("crm").system_b("erp")
    ///     .field("segment", RecordAuthority::Manual)
    ///     .build()?;
    /// let crm: Record = [("segment".into(), Versioned::new(json!("strategic")))].into();
    /// let erp: Record = [("segment".into(), Versioned::new(json!("smb")))].into();
    /// let mut plan = boundary.reconcile("contact-42", &crm, &erp, &Default::default());
    /// assert_eq!(plan.review_items().count(), 1);
    /// plan.keep(Side::A, "segment")?;
    /// assert_eq!(plan.patch_b()["segment"], Change::Set(json!("strategic")));
    /// assert!(plan.patch_a().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn keep(&mut self, winner: Side, field: &str) -> Result<(), NotInReview>
    where
        (A, B): NeitherApplied<A, B>,
    {
        match self.decisions.iter_mut().find(|d| &*d.field == field) {
            Some(decision) => decision.keep(winner),
            None => Err(NotInReview::UnknownField {
                field: field.to_owned(),
            }),
        }
    }

    /// Records that system A's patch is written. Once per plan.
    pub fn applied_a(self) -> ReconcilePlan<V, Applied, B>
    where
        A: AwaitsA,
    {
        self.into_state()
    }

    /// Records that system B's patch is written. Once per plan.
    pub fn applied_b(self) -> ReconcilePlan<V, A, Applied>
    where
        B: AwaitsB,
    {
        self.into_state()
    }

    /// The base to store now that both patches are written: for each
    /// field, the value both systems hold (a review item keeps its old base).
    pub fn new_base(&self) -> Base<V>
    where
        A: AppliedToA,
        B: AppliedToB,
    {
        self.base_unless_pending(None)
    }

    /// The base to store when one side's patch is written and the other's
    /// failed: what the written side settled (the fields it received, and
    /// those both sides already agreed on), with the old base for every
    /// field the other side still has to receive. The next run then plans
    /// that side's changes again, so nothing is lost.
    pub fn partial_base(&self) -> Base<V>
    where
        (A, B): OneSideApplied<A, B>,
    {
        let pending = <(A, B) as OneSideApplied<A, B>>::SIDE.other();
        self.base_unless_pending(Some(pending))
    }

    /// The base with the new value of each field, except the old value of
    /// those `pending` still has to receive.
    fn base_unless_pending(&self, pending: Option<Side>) -> Base<V> {
        self.decisions
            .iter()
            .filter_map(|d| Some((d.field.to_string(), d.base_unless_pending(pending)?)))
            .collect()
    }

    /// A plan of decisions made elsewhere (a typed plan's, as JSON).
    pub(crate) fn from_parts(
        record_id: String,
        decisions: Vec<FieldDecision<V>>,
        unmapped: Vec<UnmappedField>,
    ) -> Self {
        ReconcilePlan {
            record_id,
            decisions,
            unmapped,
            applied: PhantomData,
        }
    }

    fn into_state<A2, B2>(self) -> ReconcilePlan<V, A2, B2> {
        ReconcilePlan {
            record_id: self.record_id,
            decisions: self.decisions,
            unmapped: self.unmapped,
            applied: PhantomData,
        }
    }
}

impl SyncBoundary {
    /// Plans the sync of one record, from system A's copy `a`, system B's copy
    /// `b` and the last-synced `base`, reading the clock for the future-time
    /// check. See [`reconcile_at`](Self::reconcile_at).
    pub fn reconcile<V: SyncValue>(
        &self,
        record_id: &str,
        a: &Record<V>,
        b: &Record<V>,
        base: &Base<V>,
    ) -> ReconcilePlan<V> {
        self.reconcile_at(record_id, a, b, base, Utc::now())
    }

    /// Plans the sync of one record at time `now`: one decision per synced
    /// field by the rules in the [`sync`](crate::sync) module's table,
    /// and every field of `a` or `b` that the boundary does not know.
    ///
    /// ```
    /// use chrono::Utc;
    /// use integration_automation_patterns::sync::{Change, Record, Base, Versioned};
    /// use integration_automation_patterns::{RecordAuthority, SyncBoundary};
    /// use serde_json::json;
    ///
    /// let boundary = SyncBoundary::builder()
    ///     .record_type("contact").system_a("crm").system_b("erp")
    ///     .field("email", RecordAuthority::SystemA)
    ///     .field("credit_limit", RecordAuthority::SystemB)
    ///     .build()?;
    /// let crm: Record = [("email".into(), Versioned::new(json!("ada@new.example")))].into();
    /// let erp: Record = [
    ///     ("email".into(), Versioned::new(json!("ada@old.example"))),
    ///     ("credit_limit".into(), Versioned::new(json!(5000))),
    /// ].into();
    /// let base: Base = [("email".into(), json!("ada@old.example"))].into();
    ///
    /// let plan = boundary.reconcile_at("contact-42", &crm, &erp, &base, Utc::now());
    /// assert_eq!(plan.patch_b()["email"], Change::Set(json!("ada@new.example")));
    /// assert_eq!(plan.patch_a()["credit_limit"], Change::Set(json!(5000)));
    /// # Ok::<(), integration_automation_patterns::sync::BoundaryError>(())
    /// ```
    pub fn reconcile_at<V: SyncValue>(
        &self,
        record_id: &str,
        a: &Record<V>,
        b: &Record<V>,
        base: &Base<V>,
        now: DateTime<Utc>,
    ) -> ReconcilePlan<V> {
        // One pass over the three maps in name order, beside the boundary's
        // fields in name order: no lookups, and the keys passed over on the
        // way are the fields the boundary may not know.
        let (mut a_fields, mut b_fields, mut base_fields) = (
            a.iter().peekable(),
            b.iter().peekable(),
            base.iter().peekable(),
        );
        let mut unmapped = Vec::new();
        let mut unmapped_b = Vec::new();
        let mut decisions = Vec::with_capacity(self.fields.len());
        for &position in &self.by_name {
            let rule = &self.fields[position];
            let inputs = Inputs {
                a: next_match(&mut a_fields, &rule.name, |key| {
                    self.note_unmapped(Side::A, key, &mut unmapped)
                }),
                b: next_match(&mut b_fields, &rule.name, |key| {
                    self.note_unmapped(Side::B, key, &mut unmapped_b)
                }),
                base: next_match(&mut base_fields, &rule.name, |_| {}),
            };
            let (rule_used, decision) = self.decide(rule.authority, rule.compare, &inputs, now);
            decisions.push(FieldDecision {
                field: Arc::clone(&rule.name),
                authority: rule.authority,
                a: inputs.a.cloned(),
                b: inputs.b.cloned(),
                base: inputs.base.cloned(),
                rule: rule_used,
                decision,
            });
        }
        self.reorder_to_declaration(&mut decisions);
        for (key, _) in a_fields {
            self.note_unmapped(Side::A, key, &mut unmapped);
        }
        for (key, _) in b_fields {
            self.note_unmapped(Side::B, key, &mut unmapped_b);
        }
        unmapped.append(&mut unmapped_b);
        ReconcilePlan {
            record_id: record_id.to_owned(),
            decisions,
            unmapped,
            applied: PhantomData,
        }
    }

    /// Reorders `decisions`, made in field-name order, into declaration order
    /// in place: the decision at `k` belongs at `by_name[k]`.
    fn reorder_to_declaration<T>(&self, decisions: &mut [T]) {
        let mut target = self.by_name.clone();
        for k in 0..target.len() {
            while target[k] != k {
                let destination = target[k];
                decisions.swap(k, destination);
                target.swap(k, destination);
            }
        }
    }

    /// Records `key` of `side` as unmapped if the boundary neither maps nor excludes it.
    fn note_unmapped(&self, side: Side, key: &str, unmapped: &mut Vec<UnmappedField>) {
        if self.index.get(key).is_none() {
            unmapped.push(UnmappedField {
                side,
                field: key.to_owned(),
            });
        }
    }

    /// Decides one field of a typed record from its rules (the boundary
    /// gives the options: review of overrides, clock skew).
    pub(crate) fn decide_field<V: SyncValue>(
        &self,
        rules: &FieldRules,
        a: Versioned<V>,
        b: Versioned<V>,
        base: Option<V>,
        now: DateTime<Utc>,
    ) -> FieldDecision<V> {
        let inputs = Inputs {
            a: Some(&a),
            b: Some(&b),
            base: base.as_ref(),
        };
        let (rule, decision) = self.decide(rules.authority, rules.compare, &inputs, now);
        FieldDecision {
            field: rules.name.into(),
            authority: rules.authority,
            a: Some(a),
            b: Some(b),
            base,
            rule,
            decision,
        }
    }

    fn decide<V: SyncValue>(
        &self,
        authority: RecordAuthority,
        compare: Compare,
        inputs: &Inputs<'_, V>,
        now: DateTime<Utc>,
    ) -> (Rule, Decision<V>) {
        let (a, b, base) = (inputs.value(Side::A), inputs.value(Side::B), inputs.base);
        let same = |x, y| compare.same_present(x, y);
        if same(a, b) {
            return if same(a, base) {
                (Rule::Unchanged, Decision::Nothing)
            } else {
                (Rule::Agreed, Decision::Converged { value: a.cloned() })
            };
        }
        let changed = |side: Side| !same(inputs.value(side), base);
        let one_sided = match (changed(Side::A), changed(Side::B)) {
            (true, false) => Some(Side::A),
            (false, true) => Some(Side::B),
            _ => None,
        };
        if authority == RecordAuthority::Manual {
            return (
                Rule::ManualField,
                Decision::Review {
                    reason: ReviewReason::ManualField,
                },
            );
        }
        match (one_sided, authority.owner()) {
            (Some(changer), Some(owner)) if changer == owner => (
                Rule::OwnerChanged,
                Decision::Propagate {
                    to: owner.other(),
                    value: inputs.value(owner).cloned(),
                },
            ),
            (Some(changer), Some(_)) if self.reviews_overrides_from(changer) => (
                Rule::NonOwnerReview,
                Decision::Review {
                    reason: ReviewReason::OverrideByNonOwner { side: changer },
                },
            ),
            (Some(_), Some(owner)) => (Rule::NonOwnerReverted, inputs.overwrite(owner)),
            (Some(changer), None) => (
                Rule::SharedChanged,
                Decision::Propagate {
                    to: changer.other(),
                    value: inputs.value(changer).cloned(),
                },
            ),
            (None, Some(owner)) => (Rule::OwnerWins, inputs.overwrite(owner)),
            (None, None) => match self.last_writer(inputs, now) {
                Ok(winner) => (Rule::LastWriterWins, inputs.overwrite(winner)),
                Err(reason) => (Rule::SharedUndecided, Decision::Review { reason }),
            },
        }
    }

    /// The side that changed a `Shared` field last, if the times can tell.
    fn last_writer<V>(
        &self,
        inputs: &Inputs<'_, V>,
        now: DateTime<Utc>,
    ) -> Result<Side, ReviewReason> {
        let time = |side: Side| inputs.versioned(side).and_then(|v| v.modified_at);
        let (Some(a), Some(b)) = (time(Side::A), time(Side::B)) else {
            return Err(ReviewReason::MissingTimestamp);
        };
        if a == b {
            return Err(ReviewReason::EqualTimestamps);
        }
        let (later, latest) = if a > b { (Side::A, a) } else { (Side::B, b) };
        let skew = TimeDelta::from_std(self.max_clock_skew).unwrap_or(TimeDelta::MAX);
        let latest_trusted = now
            .checked_add_signed(skew)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        if latest > latest_trusted {
            return Err(ReviewReason::FutureTimestamp { side: later });
        }
        if (a - b).abs() <= skew {
            return Err(ReviewReason::WithinClockSkew);
        }
        Ok(later)
    }
}

/// Advances `entries` (in key order) to `name`: the value under `name`, if
/// any, with `passed` called for every key before it.
fn next_match<'m, T>(
    entries: &mut Peekable<btree_map::Iter<'m, String, T>>,
    name: &str,
    mut passed: impl FnMut(&'m str),
) -> Option<&'m T> {
    while let Some(&(key, value)) = entries.peek() {
        match key.as_str().cmp(name) {
            Ordering::Less => {
                passed(key);
                entries.next();
            }
            Ordering::Equal => {
                entries.next();
                return Some(value);
            }
            Ordering::Greater => return None,
        }
    }
    None
}

/// One field's inputs, borrowed from the records and the base.
struct Inputs<'a, V> {
    a: Option<&'a Versioned<V>>,
    b: Option<&'a Versioned<V>>,
    base: Option<&'a V>,
}

impl<'a, V> Inputs<'a, V> {
    fn versioned(&self, side: Side) -> Option<&'a Versioned<V>> {
        match side {
            Side::A => self.a,
            Side::B => self.b,
        }
    }

    fn value(&self, side: Side) -> Option<&'a V> {
        self.versioned(side).map(|v| &v.value)
    }
}

impl<V: Clone> Inputs<'_, V> {
    /// `winner`'s value replaces the other side's, which is recorded.
    fn overwrite(&self, winner: Side) -> Decision<V> {
        Decision::Overwrite {
            winner,
            value: self.value(winner).cloned(),
            overwritten: self.value(winner.other()).cloned(),
        }
    }
}
