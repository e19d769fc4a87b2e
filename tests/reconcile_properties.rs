//! Properties of the reconcile plan over random boundaries and records: applying
//! a plan settles the record (no echo, no ping-pong), swapping the systems
//! mirrors the plan, the same input gives the same plan, and a batch is the
//! per-record plans.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use integration_automation_patterns::sync::{
    Base, Change, Decision, FieldDecision, Patch, ReconcilePlan, Record, RecordSnapshot,
    ReviewReason, UnmappedField, Versioned,
};
use integration_automation_patterns::{RecordAuthority, Side, SyncBoundary};
use proptest::prelude::*;
use serde_json::{Value, json};

const FIELDS: [&str; 5] = ["email", "phone", "address", "status", "limit"];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

fn authority() -> impl Strategy<Value = RecordAuthority> {
    prop_oneof![
        Just(RecordAuthority::SystemA),
        Just(RecordAuthority::SystemB),
        Just(RecordAuthority::Shared),
        Just(RecordAuthority::Manual),
    ]
}

fn boundary() -> impl Strategy<Value = SyncBoundary> {
    (
        proptest::collection::vec(authority(), FIELDS.len()),
        any::<(bool, bool)>(),
        0..3u64,
    )
        .prop_map(|(authorities, (review_a, review_b), skew)| {
            let mut builder = SyncBoundary::builder()
                .record_type("contact")
                .system_a("crm")
                .system_b("erp")
                .exclude("internal_notes")
                .max_clock_skew(Duration::from_secs(skew));
            for (field, authority) in FIELDS.iter().zip(authorities) {
                builder = builder.field(*field, authority);
            }
            if review_a {
                builder = builder.review_overrides_from(Side::A);
            }
            if review_b {
                builder = builder.review_overrides_from(Side::B);
            }
            builder.build().unwrap()
        })
}

/// A small value domain, so that sides often agree, often differ, and hit null.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![Just(Value::Null), (0..3i64).prop_map(|n| json!(n))]
}

fn versioned() -> impl Strategy<Value = Versioned> {
    (
        value(),
        proptest::option::of(-5..5i64)
            .prop_map(|offset| offset.map(|s| now() + TimeDelta::seconds(s))),
    )
        .prop_map(|(value, modified_at)| Versioned { value, modified_at })
}

/// Some of the fields, plus now and then a field the boundary excludes or does not know.
fn record() -> impl Strategy<Value = Record> {
    proptest::collection::btree_map(
        prop_oneof![
            8 => proptest::sample::select(FIELDS.to_vec()).prop_map(str::to_owned),
            1 => Just("internal_notes".to_owned()),
            1 => Just("lead_score".to_owned()),
        ],
        versioned(),
        0..7,
    )
}

fn base() -> impl Strategy<Value = Base> {
    proptest::collection::btree_map(
        proptest::sample::select(FIELDS.to_vec()).prop_map(str::to_owned),
        value(),
        0..6,
    )
}

fn snapshot() -> impl Strategy<Value = RecordSnapshot> {
    ("rec-[0-9]{1,3}", record(), record(), base()).prop_map(|(record_id, a, b, base)| {
        RecordSnapshot {
            record_id,
            a,
            b,
            base,
        }
    })
}

fn apply(record: &mut Record, patch: &Patch) {
    for (field, change) in patch {
        match change {
            Change::Set(value) => {
                record.insert(field.clone(), Versioned::new(value.clone()));
            }
            Change::Remove => {
                record.remove(field);
            }
        }
    }
}

fn mirror_side(side: Side) -> Side {
    side.other()
}

/// The decision as seen with A and B swapped.
fn mirrored(decision: &FieldDecision) -> FieldDecision {
    let outcome = match &decision.decision {
        Decision::Propagate { to, value } => Decision::Propagate {
            to: mirror_side(*to),
            value: value.clone(),
        },
        Decision::Overwrite {
            winner,
            value,
            overwritten,
        } => Decision::Overwrite {
            winner: mirror_side(*winner),
            value: value.clone(),
            overwritten: overwritten.clone(),
        },
        Decision::Review {
            reason: ReviewReason::OverrideByNonOwner { side },
        } => Decision::Review {
            reason: ReviewReason::OverrideByNonOwner {
                side: mirror_side(*side),
            },
        },
        Decision::Review {
            reason: ReviewReason::FutureTimestamp { side },
        } => Decision::Review {
            reason: ReviewReason::FutureTimestamp {
                side: mirror_side(*side),
            },
        },
        other => other.clone(),
    };
    FieldDecision {
        field: decision.field.clone(),
        authority: decision.authority.mirrored(),
        a: decision.b.clone(),
        b: decision.a.clone(),
        base: decision.base.clone(),
        rule: decision.rule,
        decision: outcome,
    }
}

/// A record's values, times aside (a patch writes values, not times).
fn values(record: &Record) -> Vec<(&String, &Value)> {
    record
        .iter()
        .map(|(field, versioned)| (field, &versioned.value))
        .collect()
}

fn review_fields(plan: &ReconcilePlan) -> Vec<(String, Decision)> {
    plan.review_items()
        .map(|item| (item.field.to_string(), item.decision.clone()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn applying_a_plan_settles_the_record(boundary in boundary(), record in snapshot()) {
        let plan = boundary.reconcile_at(&record.record_id, &record.a, &record.b, &record.base, now());
        let (mut a, mut b) = (record.a.clone(), record.b.clone());
        apply(&mut a, &plan.patch_a());
        apply(&mut b, &plan.patch_b());
        let base = plan.clone().applied_a().applied_b().new_base();
        let again = boundary.reconcile_at(&record.record_id, &a, &b, &base, now());
        prop_assert!(again.is_settled(), "{:#?}", again.decisions());
        prop_assert!(again.patch_a().is_empty() && again.patch_b().is_empty());
        prop_assert_eq!(again.clone().applied_a().applied_b().new_base(), base);
        prop_assert_eq!(review_fields(&again), review_fields(&plan));
    }

    #[test]
    fn a_partial_base_makes_the_next_run_finish_what_the_first_began(
        boundary in boundary(),
        record in snapshot(),
        written_first in prop_oneof![Just(Side::A), Just(Side::B)],
    ) {
        let plan = boundary.reconcile_at(&record.record_id, &record.a, &record.b, &record.base, now());
        // Both patches written: where the record ends.
        let (mut a_full, mut b_full) = (record.a.clone(), record.b.clone());
        apply(&mut a_full, &plan.patch_a());
        apply(&mut b_full, &plan.patch_b());
        // Only `written_first`'s patch written, the other write failed: the
        // partial base goes to the next run, which writes both its patches.
        let (mut a, mut b) = (record.a.clone(), record.b.clone());
        let partial = match written_first {
            Side::A => {
                apply(&mut a, &plan.patch_a());
                plan.clone().applied_a().partial_base()
            }
            Side::B => {
                apply(&mut b, &plan.patch_b());
                plan.clone().applied_b().partial_base()
            }
        };
        let next = boundary.reconcile_at(&record.record_id, &a, &b, &partial, now());
        apply(&mut a, &next.patch_a());
        apply(&mut b, &next.patch_b());
        prop_assert_eq!(values(&a), values(&a_full));
        prop_assert_eq!(values(&b), values(&b_full));
        prop_assert_eq!(
            next.applied_a().applied_b().new_base(),
            plan.applied_a().applied_b().new_base()
        );
    }

    #[test]
    fn swapping_the_systems_mirrors_the_plan(boundary in boundary(), record in snapshot()) {
        let plan = boundary.reconcile_at(&record.record_id, &record.a, &record.b, &record.base, now());
        let swapped = boundary.mirrored().reconcile_at(&record.record_id, &record.b, &record.a, &record.base, now());
        let expected: Vec<FieldDecision> = plan.decisions().iter().map(mirrored).collect();
        prop_assert_eq!(swapped.decisions(), &expected[..]);
        prop_assert_eq!(swapped.patch_a(), plan.patch_b());
        prop_assert_eq!(swapped.patch_b(), plan.patch_a());
        prop_assert_eq!(
            swapped.applied_a().applied_b().new_base(),
            plan.applied_a().applied_b().new_base()
        );
    }

    #[test]
    fn every_unknown_field_is_reported_once(boundary in boundary(), record in snapshot()) {
        let plan = boundary.reconcile_at(&record.record_id, &record.a, &record.b, &record.base, now());
        let known = |field: &String| boundary.is_synced(field) || boundary.is_excluded(field);
        let expected: Vec<UnmappedField> = [(Side::A, &record.a), (Side::B, &record.b)]
            .into_iter()
            .flat_map(|(side, fields)| {
                fields.keys().filter(|f| !known(f)).map(move |field| UnmappedField { side, field: field.clone() })
            })
            .collect();
        prop_assert_eq!(plan.unmapped_fields(), &expected[..]);
        let fields: Vec<&str> = plan.decisions().iter().map(|d| &*d.field).collect();
        prop_assert_eq!(fields, boundary.synced_fields());
    }

    #[test]
    fn the_same_input_gives_the_same_plan(boundary in boundary(), record in snapshot()) {
        let first = boundary.reconcile_at(&record.record_id, &record.a, &record.b, &record.base, now());
        let second = boundary.reconcile_at(&record.record_id, &record.a, &record.b, &record.base, now());
        prop_assert_eq!(&first, &second);
        let replayed: ReconcilePlan = serde_json::from_str(&serde_json::to_string(&first).unwrap()).unwrap();
        prop_assert_eq!(replayed, first);
    }

    #[test]
    fn a_batch_is_the_per_record_plans(
        boundary in boundary(),
        records in proptest::collection::vec(snapshot(), 0..12),
    ) {
        let batch = boundary.reconcile_batch_at(&records, now());
        prop_assert_eq!(batch.plans().len(), records.len());
        let mut decisions = 0;
        for (plan, record) in batch.plans().iter().zip(&records) {
            let single = boundary.reconcile_at(&record.record_id, &record.a, &record.b, &record.base, now());
            prop_assert_eq!(plan, &single);
            decisions += single.decisions().len();
        }
        let counts = batch.counts();
        prop_assert_eq!(counts.total(), decisions);
        let reviews: usize = batch.plans().iter().map(|plan| plan.review_items().count()).sum();
        prop_assert_eq!(counts.review, reviews);
    }
}
