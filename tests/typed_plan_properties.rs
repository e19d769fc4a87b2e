//! For any two copies and any base, the typed plan decides what the
//! string-keyed plan decides on the same data, field by field, and it
//! settles: after its patches are applied and its base stored, reconciling
//! again leaves nothing to apply.
//!
//! Floats are drawn finite, negative zero included: a NaN or an infinity has
//! no JSON form (serde_json writes `null`), so a typed record holding one has
//! no string-keyed copy to compare with (`tests/typed_records.rs` shows the
//! error, and that the typed plan takes a NaN as the same as a NaN).

use std::fmt::Debug;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use integration_automation_patterns::Side;
use integration_automation_patterns::sync::{RecordPatch, Stamped, SyncRecord, TypedBoundary};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// Every authority, and the comparisons of the README's example.
#[derive(SyncRecord, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[sync(record_type = "contact", a = "crm", b = "erp")]
struct Contact {
    #[sync(owner = "crm", compare = "trimmed_case_insensitive")]
    email: String,
    #[sync(owner = "erp", compare = "tolerance(0.01)")]
    credit_limit: f64,
    #[sync(shared)]
    phone: Option<String>,
    #[sync(manual)]
    segment: String,
    #[sync(exclude)]
    internal_notes: String,
}

/// Other value types and the other comparisons.
#[derive(SyncRecord, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[sync(record_type = "order", a = "shop", b = "warehouse")]
struct Order {
    #[sync(shared, compare = "case_insensitive")]
    status: Option<String>,
    #[sync(owner = "warehouse", compare = "trimmed")]
    carrier: String,
    #[sync(owner = "shop")]
    quantity: i64,
    #[sync(shared, compare = "tolerance(0.5)")]
    weight: Option<f64>,
    #[sync(manual)]
    gift: bool,
    #[sync(owner = "shop")]
    tags: Vec<String>,
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

fn text() -> impl Strategy<Value = String> {
    proptest::sample::select(vec!["ada@example.com", "ADA@example.com ", "", "b", " b"])
        .prop_map(str::to_owned)
}

fn float() -> impl Strategy<Value = f64> {
    proptest::sample::select(vec![0.0, -0.0, 1.0, 1.004, 1.3, 10.0])
}

fn contact() -> impl Strategy<Value = Contact> {
    (
        text(),
        float(),
        proptest::option::of(text()),
        text(),
        text(),
    )
        .prop_map(
            |(email, credit_limit, phone, segment, internal_notes)| Contact {
                email,
                credit_limit,
                phone,
                segment,
                internal_notes,
            },
        )
}

fn order() -> impl Strategy<Value = Order> {
    (
        proptest::option::of(proptest::sample::select(vec!["Open", "open", "shipped"])),
        text(),
        -2..3i64,
        proptest::option::of(float()),
        any::<bool>(),
        proptest::collection::vec(text(), 0..2),
    )
        .prop_map(|(status, carrier, quantity, weight, gift, tags)| Order {
            status: status.map(str::to_owned),
            carrier,
            quantity,
            weight,
            gift,
            tags,
        })
}

/// A time a few seconds either side of now, or none.
fn time() -> impl Strategy<Value = Option<DateTime<Utc>>> {
    proptest::option::of((-5..5i64).prop_map(|s| now() + TimeDelta::seconds(s)))
}

/// A copy whose fields are each dated by the `times` drawn, in order.
fn stamped<R: SyncRecord>(value: R, times: &[Option<DateTime<Utc>>]) -> Stamped<R> {
    let mut record = Stamped::new(value).to_record().unwrap();
    for ((_, versioned), time) in record
        .iter_mut()
        .filter(|(field, _)| R::boundary().is_synced(field))
        .zip(times)
    {
        versioned.modified_at = *time;
    }
    Stamped::from_record(&record).unwrap()
}

/// A base holding `value`'s synced fields where `synced` says so (a field
/// left out was never synced).
fn base<R: SyncRecord>(value: R, synced: &[bool]) -> R::Base {
    let boundary = R::boundary();
    let mut keep = synced.iter().copied().cycle();
    let json = Stamped::new(value)
        .to_record()
        .unwrap()
        .into_iter()
        .filter(|(field, _)| boundary.is_synced(field))
        .filter(|_| keep.next().unwrap_or(true))
        .map(|(field, versioned)| (field, versioned.value))
        .collect();
    R::base_from_json(&json).unwrap()
}

fn boundary<R: SyncRecord>(overrides: Option<Side>, skew: u64) -> TypedBoundary<R> {
    let boundary = TypedBoundary::<R>::new().max_clock_skew(Duration::from_secs(skew));
    match overrides {
        Some(side) => boundary.review_overrides_from(side),
        None => boundary,
    }
}

/// The typed plan decides each field as the string-keyed plan does, and
/// settles.
fn typed_equals_string_keyed_and_settles<R: SyncRecord + Debug>(
    boundary: &TypedBoundary<R>,
    a: Stamped<R>,
    b: Stamped<R>,
    base: R::Base,
) -> Result<(), TestCaseError> {
    let typed = boundary.reconcile_at("rec-1", &a, &b, &base, now());
    let string_keyed = boundary.boundary().reconcile_at(
        "rec-1",
        &a.to_record().unwrap(),
        &b.to_record().unwrap(),
        &R::base_to_json(&base).unwrap(),
        now(),
    );
    let typed_as_json = typed.to_plan().unwrap();
    prop_assert_eq!(typed_as_json.decisions(), string_keyed.decisions());
    prop_assert_eq!(typed_as_json.patch_a(), string_keyed.patch_a());
    prop_assert_eq!(typed_as_json.patch_b(), string_keyed.patch_b());
    prop_assert!(string_keyed.unmapped_fields().is_empty());

    let (mut a, mut b) = (a, b);
    typed.patch_a().apply_to(&mut a.value);
    typed.patch_b().apply_to(&mut b.value);
    let review = typed.review_fields().len();
    let base = typed.applied_a().applied_b().new_base();
    let again = boundary.reconcile_at("rec-1", &a, &b, &base, now());
    prop_assert!(again.is_settled(), "{:#?}", again.decisions());
    prop_assert_eq!(again.review_fields().len(), review);
    Ok(())
}

fn side() -> impl Strategy<Value = Option<Side>> {
    proptest::option::of(prop_oneof![Just(Side::A), Just(Side::B)])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn typed_contacts_plan_as_string_keyed_ones_and_settle(
        (overrides, skew) in (side(), 0..3u64),
        (a, a_times) in (contact(), proptest::collection::vec(time(), 4)),
        (b, b_times) in (contact(), proptest::collection::vec(time(), 4)),
        (base_value, synced) in (contact(), proptest::collection::vec(any::<bool>(), 4)),
    ) {
        typed_equals_string_keyed_and_settles(
            &boundary::<Contact>(overrides, skew),
            stamped(a, &a_times),
            stamped(b, &b_times),
            base(base_value, &synced),
        )?;
    }

    #[test]
    fn typed_orders_plan_as_string_keyed_ones_and_settle(
        (overrides, skew) in (side(), 0..3u64),
        (a, a_times) in (order(), proptest::collection::vec(time(), 6)),
        (b, b_times) in (order(), proptest::collection::vec(time(), 6)),
        (base_value, synced) in (order(), proptest::collection::vec(any::<bool>(), 6)),
    ) {
        typed_equals_string_keyed_and_settles(
            &boundary::<Order>(overrides, skew),
            stamped(a, &a_times),
            stamped(b, &b_times),
            base(base_value, &synced),
        )?;
    }
}
