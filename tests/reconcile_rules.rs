//! The reconcile rules, over every change pattern and every authority, and
//! case by case where a rule has details (times, review options, drift).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use integration_automation_patterns::sync::{
    Base, Change, Decision, DecisionKind, GuardLimits, NotInReview, Record, RecordSnapshot,
    ReviewReason, Rule, UnmappedField, Versioned,
};
use integration_automation_patterns::{RecordAuthority, Side, SyncBoundary};
use serde_json::{Value, json};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

fn ago(seconds: i64) -> DateTime<Utc> {
    now() - TimeDelta::seconds(seconds)
}

fn boundary(authority: RecordAuthority, review_from: Option<Side>) -> SyncBoundary {
    let builder = SyncBoundary::builder()
        .record_type("contact")
        .system_a("crm")
        .system_b("erp")
        .field("f", authority)
        .exclude("internal_notes");
    match review_from {
        Some(side) => builder.review_overrides_from(side).build().unwrap(),
        None => builder.build().unwrap(),
    }
}

fn record(value: Option<&Value>, modified_at: Option<DateTime<Utc>>) -> Record {
    value
        .map(|value| {
            (
                "f".to_owned(),
                Versioned {
                    value: value.clone(),
                    modified_at,
                },
            )
        })
        .into_iter()
        .collect()
}

fn base(value: Option<&Value>) -> Base {
    value
        .map(|value| ("f".to_owned(), value.clone()))
        .into_iter()
        .collect()
}

/// Every combination of: A's value, B's value and the base each absent,
/// `null`, the old value or a new one; every authority; every review option;
/// with and without modification times.
#[test]
fn every_change_pattern_under_every_authority() {
    let values = [
        None,
        Some(Value::Null),
        Some(json!("old")),
        Some(json!("new-a")),
        Some(json!("new-b")),
    ];
    let authorities = [
        RecordAuthority::SystemA,
        RecordAuthority::SystemB,
        RecordAuthority::Shared,
        RecordAuthority::Manual,
    ];
    let mut checked = 0;
    for authority in authorities {
        for review_from in [None, Some(Side::A), Some(Side::B)] {
            let boundary = boundary(authority, review_from);
            let patterns = values
                .iter()
                .flat_map(|a| values.iter().map(move |b| (a, b)));
            for ((a, b), old) in
                patterns.flat_map(|ab| values[..3].iter().map(move |old| (ab, old)))
            {
                for times in [(None, None), (Some(ago(10)), Some(ago(20)))] {
                    let plan = boundary.reconcile_at(
                        "rec-1",
                        &record(a.as_ref(), times.0),
                        &record(b.as_ref(), times.1),
                        &base(old.as_ref()),
                        now(),
                    );
                    let decision = &plan.decisions()[0].decision;
                    let context = format!(
                        "{authority:?} review={review_from:?} a={a:?} b={b:?} base={old:?} times={times:?}: {decision:?}"
                    );
                    let (a_changed, b_changed) = (a != old, b != old);
                    match decision {
                        Decision::Nothing => assert!(a == b && a == old, "{context}"),
                        Decision::Converged { value } => {
                            assert!(a == b && a != old && value == a, "{context}")
                        }
                        Decision::Propagate { to, value } => {
                            // Only a one-sided change propagates, and it carries the change.
                            let from = to.other();
                            let (changed, unchanged) = match from {
                                Side::A => (a, b),
                                Side::B => (b, a),
                            };
                            assert!(value == changed && unchanged == old, "{context}");
                            if let Some(owner) = authority.owner() {
                                assert_eq!(from, owner, "{context}");
                            }
                        }
                        Decision::Overwrite {
                            winner,
                            value,
                            overwritten,
                        } => {
                            // The loser's value is recorded, never dropped.
                            let (won, lost) = match winner {
                                Side::A => (a, b),
                                Side::B => (b, a),
                            };
                            assert!(value == won && overwritten == lost, "{context}");
                            assert_ne!(authority, RecordAuthority::Manual, "{context}");
                            if let Some(owner) = authority.owner() {
                                assert_eq!(*winner, owner, "{context}");
                            }
                        }
                        Decision::Review { .. } => assert!(a != b, "{context}"),
                    }
                    if a_changed != b_changed {
                        assert!(
                            matches!(
                                decision,
                                Decision::Propagate { .. }
                                    | Decision::Overwrite { .. }
                                    | Decision::Review { .. }
                            ),
                            "a one-sided change was dropped: {context}"
                        );
                    }
                    if authority == RecordAuthority::Manual && a != b {
                        assert!(
                            matches!(
                                decision,
                                Decision::Review {
                                    reason: ReviewReason::ManualField
                                }
                            ),
                            "{context}"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 4 * 3 * 5 * 5 * 3 * 2);
}

fn shared(skew: Duration) -> SyncBoundary {
    SyncBoundary::builder()
        .record_type("contact")
        .system_a("crm")
        .system_b("erp")
        .field("f", RecordAuthority::Shared)
        .max_clock_skew(skew)
        .build()
        .unwrap()
}

fn shared_conflict(
    skew: Duration,
    a_at: Option<DateTime<Utc>>,
    b_at: Option<DateTime<Utc>>,
) -> (Rule, Decision) {
    let old = json!("old");
    let plan = shared(skew).reconcile_at(
        "rec-1",
        &record(Some(&json!("from crm")), a_at),
        &record(Some(&json!("from erp")), b_at),
        &base(Some(&old)),
        now(),
    );
    let decision = &plan.decisions()[0];
    (decision.rule, decision.decision.clone())
}

#[test]
fn a_shared_conflict_goes_to_the_last_writer() {
    assert_eq!(
        shared_conflict(Duration::ZERO, Some(ago(5)), Some(ago(60))),
        (
            Rule::LastWriterWins,
            Decision::Overwrite {
                winner: Side::A,
                value: Some(json!("from crm")),
                overwritten: Some(json!("from erp")),
            }
        )
    );
    let (_, decision) = shared_conflict(Duration::from_secs(10), Some(ago(60)), Some(ago(5)));
    assert!(matches!(
        decision,
        Decision::Overwrite {
            winner: Side::B,
            ..
        }
    ));
}

#[test]
fn a_shared_conflict_the_times_cannot_decide_goes_to_review() {
    let skew = Duration::from_secs(30);
    for (a_at, b_at, reason) in [
        (None, Some(ago(5)), ReviewReason::MissingTimestamp),
        (Some(ago(5)), None, ReviewReason::MissingTimestamp),
        (Some(ago(5)), Some(ago(5)), ReviewReason::EqualTimestamps),
        (Some(ago(5)), Some(ago(20)), ReviewReason::WithinClockSkew),
        (
            Some(now() + TimeDelta::seconds(31)),
            Some(ago(5)),
            ReviewReason::FutureTimestamp { side: Side::A },
        ),
        (
            Some(ago(5)),
            Some(now() + TimeDelta::hours(2)),
            ReviewReason::FutureTimestamp { side: Side::B },
        ),
    ] {
        assert_eq!(
            shared_conflict(skew, a_at, b_at),
            (Rule::SharedUndecided, Decision::Review { reason }),
            "{a_at:?} {b_at:?}"
        );
    }
    // Within the skew bound of now is not the future.
    let (rule, _) = shared_conflict(skew, Some(now() + TimeDelta::seconds(29)), Some(ago(60)));
    assert_eq!(rule, Rule::LastWriterWins);
}

#[test]
fn a_non_owner_change_is_reverted_and_recorded_or_reviewed_from_either_side() {
    let old = json!("old");
    let changed = json!("changed by the non-owner");
    for (owner_authority, owner) in [
        (RecordAuthority::SystemA, Side::A),
        (RecordAuthority::SystemB, Side::B),
    ] {
        let non_owner = owner.other();
        let (a, b) = match non_owner {
            Side::A => (&changed, &old),
            Side::B => (&old, &changed),
        };
        let reverted = boundary(owner_authority, None).reconcile_at(
            "rec-1",
            &record(Some(a), None),
            &record(Some(b), None),
            &base(Some(&old)),
            now(),
        );
        assert_eq!(reverted.decisions()[0].rule, Rule::NonOwnerReverted);
        assert_eq!(
            reverted.decisions()[0].decision,
            Decision::Overwrite {
                winner: owner,
                value: Some(old.clone()),
                overwritten: Some(changed.clone()),
            }
        );
        assert_eq!(reverted.patch(non_owner)["f"], Change::Set(old.clone()));
        assert!(reverted.patch(owner).is_empty());

        let reviewed = boundary(owner_authority, Some(non_owner)).reconcile_at(
            "rec-1",
            &record(Some(a), None),
            &record(Some(b), None),
            &base(Some(&old)),
            now(),
        );
        assert_eq!(
            reviewed.decisions()[0].decision,
            Decision::Review {
                reason: ReviewReason::OverrideByNonOwner { side: non_owner }
            }
        );
        assert!(reviewed.patch_a().is_empty() && reviewed.patch_b().is_empty());
        assert_eq!(
            reviewed.applied_a().applied_b().new_base(),
            base(Some(&old))
        );
    }
}

#[test]
fn absent_is_not_null_and_a_delete_propagates_as_a_removal() {
    let b = boundary(RecordAuthority::SystemA, None);
    let old = json!("old");
    // A set the field to null: B gets null.
    let to_null = b.reconcile_at(
        "r",
        &record(Some(&Value::Null), None),
        &record(Some(&old), None),
        &base(Some(&old)),
        now(),
    );
    assert_eq!(to_null.patch_b()["f"], Change::Set(Value::Null));
    // A removed the field: B loses it too.
    let removed = b.reconcile_at(
        "r",
        &record(None, None),
        &record(Some(&old), None),
        &base(Some(&old)),
        now(),
    );
    assert_eq!(removed.patch_b()["f"], Change::Remove);
    assert!(removed.decisions()[0].decision.is_delete());
    assert!(removed.applied_a().applied_b().new_base().is_empty());
}

#[test]
fn a_first_sync_copies_a_value_one_side_lacks_and_treats_two_values_as_a_conflict() {
    let b = boundary(RecordAuthority::SystemB, None);
    let only_a = b.reconcile_at(
        "r",
        &record(Some(&json!(1)), None),
        &record(None, None),
        &Base::new(),
        now(),
    );
    assert_eq!(only_a.decisions()[0].rule, Rule::NonOwnerReverted);
    let both = b.reconcile_at(
        "r",
        &record(Some(&json!(1)), None),
        &record(Some(&json!(2)), None),
        &Base::new(),
        now(),
    );
    assert_eq!(both.decisions()[0].rule, Rule::OwnerWins);
    assert_eq!(both.patch_a()["f"], Change::Set(json!(2)));
}

#[test]
fn a_person_decides_a_review_item_by_naming_the_side_that_wins() {
    let (a, b) = (json!("strategic"), json!("smb"));
    let mut plan = boundary(RecordAuthority::Manual, None).reconcile_at(
        "contact-42",
        &record(Some(&a), None),
        &record(Some(&b), None),
        &base(Some(&b)),
        now(),
    );
    assert_eq!(
        plan.keep(Side::B, "internal_notes"),
        Err(NotInReview::UnknownField {
            field: "internal_notes".into()
        })
    );
    plan.keep(Side::B, "f").unwrap();
    assert_eq!(plan.patch_a()["f"], Change::Set(b.clone()));
    assert!(plan.patch_b().is_empty());
    assert_eq!(
        plan.decisions()[0].decision,
        Decision::Overwrite {
            winner: Side::B,
            value: Some(b.clone()),
            overwritten: Some(a)
        }
    );
    assert_eq!(plan.decisions()[0].rule, Rule::PersonDecided);
    // Decided once: a second decision is refused and changes nothing.
    assert_eq!(
        plan.keep(Side::A, "f"),
        Err(NotInReview::Decided {
            field: "f".into(),
            decision: DecisionKind::Overwrite
        })
    );
    assert_eq!(plan.patch_a()["f"], Change::Set(b));
}

#[test]
fn fields_neither_mapped_nor_excluded_are_reported() {
    let b = boundary(RecordAuthority::Shared, None);
    let mut crm = record(Some(&json!(1)), None);
    crm.insert("internal_notes".into(), Versioned::new(json!("vip")));
    crm.insert("lead_score".into(), Versioned::new(json!(87)));
    let mut erp = record(Some(&json!(1)), None);
    erp.insert("vat_id".into(), Versioned::new(json!("DE123")));
    let plan = b.reconcile_at("r", &crm, &erp, &BTreeMap::new(), now());
    assert_eq!(
        plan.unmapped_fields(),
        [
            UnmappedField {
                side: Side::A,
                field: "lead_score".into()
            },
            UnmappedField {
                side: Side::B,
                field: "vat_id".into()
            },
        ]
    );
}

#[test]
fn the_guard_holds_back_a_batch_that_would_wipe_a_system() {
    let b = boundary(RecordAuthority::SystemB, None);
    let old = json!("old");
    let wiped: Vec<RecordSnapshot> = (0..10)
        .map(|i| RecordSnapshot {
            record_id: format!("rec-{i}"),
            a: record(Some(&old), None),
            b: record(None, None),
            base: base(Some(&old)),
        })
        .collect();
    let plan = b.reconcile_batch_at(&wiped, now());
    assert_eq!(plan.counts().deletes, 10);
    let tripped = plan.guard(GuardLimits::default()).unwrap_err();
    assert_eq!(tripped.delete_share, 1.0);
    assert_eq!(
        tripped.to_string(),
        "the batch overwrites 0.0% (limit 20.0%) and deletes 100.0% (limit 10.0%) of its fields; \
         check the source systems before applying it"
    );

    let quiet: Vec<RecordSnapshot> = (0..10)
        .map(|i| RecordSnapshot {
            record_id: format!("rec-{i}"),
            a: record(Some(&old), None),
            b: record(Some(&old), None),
            base: base(Some(&old)),
        })
        .collect();
    assert!(
        b.reconcile_batch_at(&quiet, now())
            .guard(GuardLimits::default())
            .is_ok()
    );
}

#[test]
fn a_plan_serializes_for_an_audit_and_reads_back_equal() {
    let b = boundary(RecordAuthority::Shared, None);
    let plan = b.reconcile_at(
        "rec-1",
        &record(Some(&json!("x")), Some(ago(1))),
        &record(Some(&json!("y")), Some(ago(9))),
        &base(Some(&json!("w"))),
        now(),
    );
    let text = serde_json::to_string(&plan).unwrap();
    assert!(text.contains("\"rule\":\"LastWriterWins\""), "{text}");
    let back: integration_automation_patterns::sync::ReconcilePlan =
        serde_json::from_str(&text).unwrap();
    assert_eq!(back, plan);
}
