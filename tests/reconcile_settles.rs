//! A plan settles for any values: after its patches are applied and its base
//! stored, reconciling again leaves nothing to apply (review items aside).
//! Values compare by meaning (`1` is `1.0`, a NaN is a NaN) and by each
//! field's comparison, so that no sync job writes the same field forever.

use std::fmt::Debug;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use integration_automation_patterns::sync::{
    Base, BoundaryError, Change, Compare, Decision, Patch, Record, SyncValue, Versioned,
};
use integration_automation_patterns::{RecordAuthority, SyncBoundary};
use proptest::prelude::*;
use serde_json::{Value, json};

const FIELDS: [&str; 4] = ["email", "amount", "status", "score"];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

fn comparison() -> impl Strategy<Value = Compare> {
    prop_oneof![
        Just(Compare::Meaning),
        Just(Compare::CaseInsensitive),
        Just(Compare::Trimmed),
        Just(Compare::TrimmedCaseInsensitive),
        Just(Compare::Tolerance(0.01)),
    ]
}

fn boundary() -> impl Strategy<Value = SyncBoundary> {
    let authority = prop_oneof![
        Just(RecordAuthority::SystemA),
        Just(RecordAuthority::SystemB),
        Just(RecordAuthority::Shared),
        Just(RecordAuthority::Manual),
    ];
    (
        proptest::collection::vec((authority, comparison()), FIELDS.len()),
        0..3u64,
    )
        .prop_map(|(rules, skew)| {
            let mut builder = SyncBoundary::builder()
                .record_type("contact")
                .system_a("crm")
                .system_b("erp")
                .max_clock_skew(Duration::from_secs(skew));
            for (field, (authority, compare)) in FIELDS.iter().zip(rules) {
                builder = builder.field(*field, authority).compare(*field, compare);
            }
            builder.build().unwrap()
        })
}

/// JSON values that are equal in meaning but not in form, or nearly equal.
fn json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!(1)),
        Just(json!(1.0)),
        Just(json!(10)),
        Just(json!(10.004)),
        Just(json!("Ada")),
        Just(json!("ada")),
        Just(json!(" ada ")),
        Just(json!([1, 2.0])),
        Just(json!([1.0, 2])),
    ]
}

/// Floats with the awkward ones: a NaN, a negative zero, an infinity.
fn float_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(0.0),
        Just(-0.0),
        Just(1.0),
        Just(1.005),
        Just(f64::INFINITY),
    ]
}

fn record<V: Debug>(value: impl Strategy<Value = V>) -> impl Strategy<Value = Record<V>> {
    let versioned = (
        value,
        proptest::option::of(-5..5i64)
            .prop_map(|offset| offset.map(|s| now() + TimeDelta::seconds(s))),
    )
        .prop_map(|(value, modified_at)| Versioned { value, modified_at });
    proptest::collection::btree_map(
        proptest::sample::select(FIELDS.to_vec()).prop_map(str::to_owned),
        versioned,
        0..=FIELDS.len(),
    )
}

fn base<V: Debug>(value: impl Strategy<Value = V>) -> impl Strategy<Value = Base<V>> {
    proptest::collection::btree_map(
        proptest::sample::select(FIELDS.to_vec()).prop_map(str::to_owned),
        value,
        0..=FIELDS.len(),
    )
}

fn apply<V: Clone>(record: &mut Record<V>, patch: &Patch<V>) {
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

/// Plans, applies both patches, stores the base, plans again: the second
/// plan must have nothing to apply.
fn settles<V: SyncValue + Debug>(
    boundary: &SyncBoundary,
    mut a: Record<V>,
    mut b: Record<V>,
    base: Base<V>,
) -> Result<(), TestCaseError> {
    let plan = boundary.reconcile_at("rec-1", &a, &b, &base, now());
    apply(&mut a, &plan.patch_a());
    apply(&mut b, &plan.patch_b());
    let base = plan.applied_a().applied_b().new_base();
    let again = boundary.reconcile_at("rec-1", &a, &b, &base, now());
    prop_assert!(again.is_settled(), "{:#?}", again.decisions());
    prop_assert!(again.patch_a().is_empty() && again.patch_b().is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_plan_over_json_values_settles_under_any_comparison(
        boundary in boundary(),
        a in record(json_value()),
        b in record(json_value()),
        base in base(json_value()),
    ) {
        settles(&boundary, a, b, base)?;
    }

    #[test]
    fn a_plan_over_floats_settles_nan_and_negative_zero_included(
        boundary in boundary(),
        a in record(float_value()),
        b in record(float_value()),
        base in base(float_value()),
    ) {
        settles(&boundary, a, b, base)?;
    }
}

fn owned_by_a(compare: Compare) -> SyncBoundary {
    SyncBoundary::builder()
        .record_type("contact")
        .system_a("crm")
        .system_b("erp")
        .field("f", RecordAuthority::SystemA)
        .compare("f", compare)
        .build()
        .unwrap()
}

fn one<V>(value: V) -> Record<V> {
    [("f".to_owned(), Versioned::new(value))].into()
}

#[test]
fn json_1_and_1_0_are_one_value() {
    let plan = owned_by_a(Compare::Meaning).reconcile_at(
        "r",
        &one(json!(1)),
        &one(json!(1.0)),
        &[("f".to_owned(), json!(1))].into(),
        now(),
    );
    assert_eq!(plan.decisions()[0].decision, Decision::Nothing);
}

#[test]
fn a_nan_on_both_sides_is_not_overwritten() {
    let shared = SyncBoundary::builder()
        .record_type("reading")
        .system_a("plant")
        .system_b("historian")
        .field("f", RecordAuthority::Shared)
        .build()
        .unwrap();
    let at = |seconds| Versioned::at(f64::NAN, now() - TimeDelta::seconds(seconds));
    let a: Record<f64> = [("f".to_owned(), at(10))].into();
    let b: Record<f64> = [("f".to_owned(), at(20))].into();
    let base: Base<f64> = [("f".to_owned(), 1.0)].into();
    let plan = shared.reconcile_at("r", &a, &b, &base, now());
    // Both sides hold NaN: they agree, and only the base moves.
    assert!(
        matches!(plan.decisions()[0].decision, Decision::Converged { value: Some(v) } if v.is_nan())
    );
    let again = shared.reconcile_at("r", &a, &b, &plan.applied_a().applied_b().new_base(), now());
    assert_eq!(again.decisions()[0].decision, Decision::Nothing);
}

#[test]
fn a_difference_the_comparison_calls_the_same_is_no_change() {
    let base: Base = [("f".to_owned(), json!("ada@example.com"))].into();
    let plan = owned_by_a(Compare::TrimmedCaseInsensitive).reconcile_at(
        "r",
        &one(json!(" Ada@Example.com")),
        &one(json!("ada@example.com")),
        &base,
        now(),
    );
    assert_eq!(plan.decisions()[0].decision, Decision::Nothing);
    let amounts = owned_by_a(Compare::Tolerance(0.01));
    let base: Base = [("f".to_owned(), json!(10))].into();
    let within = amounts.reconcile_at("r", &one(json!(10.004)), &one(json!(10)), &base, now());
    assert_eq!(within.decisions()[0].decision, Decision::Nothing);
    let beyond = amounts.reconcile_at("r", &one(json!(10.5)), &one(json!(10)), &base, now());
    assert_eq!(beyond.patch_b()["f"], Change::Set(json!(10.5)));
}

#[test]
fn a_comparison_needs_a_synced_field_and_a_real_tolerance() {
    let builder = || {
        SyncBoundary::builder()
            .record_type("contact")
            .system_a("crm")
            .system_b("erp")
            .field("amount", RecordAuthority::SystemB)
            .exclude("notes")
    };
    assert_eq!(
        builder()
            .compare("notes", Compare::Trimmed)
            .build()
            .unwrap_err(),
        BoundaryError::CompareUnsynced {
            field: "notes".into()
        }
    );
    assert_eq!(
        builder()
            .compare("email", Compare::Trimmed)
            .build()
            .unwrap_err(),
        BoundaryError::CompareUnsynced {
            field: "email".into()
        }
    );
    for tolerance in [-0.5, f64::NAN, f64::INFINITY] {
        let error = builder()
            .compare("amount", Compare::Tolerance(tolerance))
            .build()
            .unwrap_err();
        assert!(
            matches!(error, BoundaryError::BadTolerance { .. }),
            "{error}"
        );
    }
    let boundary = builder()
        .compare("amount", Compare::Tolerance(0.0))
        .build()
        .unwrap();
    assert_eq!(
        boundary.comparison_for("amount"),
        Some(Compare::Tolerance(0.0))
    );
    assert_eq!(boundary.comparison_for("notes"), None);
}
