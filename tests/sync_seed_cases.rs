//! The reference package's own sync-boundary tests, ported.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use integration_automation_patterns::{RecordAuthority, Side, SyncBoundary, SyncConflict};
use serde_json::{Value, json};

fn dt(offset_seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + TimeDelta::seconds(offset_seconds)
}

fn boundary() -> SyncBoundary {
    SyncBoundary::builder()
        .record_type("contact")
        .system_a("crm")
        .system_b("erp")
        .field("email", RecordAuthority::SystemA)
        .field("billing_address", RecordAuthority::SystemB)
        .field("status", RecordAuthority::SystemA)
        .exclude("internal_notes")
        .build()
        .unwrap()
}

fn detect(field: &str, a: &str, b: &str, record: &str, base: Option<&str>) -> Option<SyncConflict> {
    let base = base.map(|base| json!(base));
    boundary().detect_conflict(record, field, &json!(a), &json!(b), base.as_ref())
}

#[test]
fn returns_authority_for_known_field() {
    let b = boundary();
    assert_eq!(b.authority_for("email"), Some(RecordAuthority::SystemA));
    assert_eq!(
        b.authority_for("billing_address"),
        Some(RecordAuthority::SystemB)
    );
}

#[test]
fn returns_none_for_excluded_and_unknown_fields() {
    assert_eq!(boundary().authority_for("internal_notes"), None);
    assert_eq!(boundary().authority_for("unknown_field"), None);
}

#[test]
fn is_synced_only_for_mapped_fields() {
    let b = boundary();
    assert!(b.is_synced("email"));
    assert!(!b.is_synced("internal_notes"));
    assert!(!b.is_synced("no_such_field"));
}

#[test]
fn synced_fields_excludes_excluded_in_declaration_order() {
    assert_eq!(
        boundary().synced_fields(),
        ["email", "billing_address", "status"]
    );
    assert_eq!(boundary().excluded_fields(), ["internal_notes"]);
}

#[test]
fn fields_owned_by_each_system() {
    let b = boundary();
    assert_eq!(
        b.fields_owned_by(RecordAuthority::SystemA),
        ["email", "status"]
    );
    assert_eq!(
        b.fields_owned_by(RecordAuthority::SystemB),
        ["billing_address"]
    );
    assert!(b.fields_owned_by(RecordAuthority::Manual).is_empty());
}

#[test]
fn no_conflict_when_values_equal() {
    assert!(detect("email", "a@x.com", "a@x.com", "rec-1", None).is_none());
}

#[test]
fn conflict_when_both_differ_from_last_sync() {
    let conflict = detect(
        "email",
        "new_a@x.com",
        "new_b@x.com",
        "rec-1",
        Some("old@x.com"),
    )
    .unwrap();
    assert_eq!(conflict.field_name(), "email");
}

#[test]
fn no_conflict_when_only_one_side_changed() {
    assert!(
        detect(
            "email",
            "new_a@x.com",
            "old@x.com",
            "rec-1",
            Some("old@x.com")
        )
        .is_none()
    );
    assert!(
        detect(
            "email",
            "old@x.com",
            "new_b@x.com",
            "rec-1",
            Some("old@x.com")
        )
        .is_none()
    );
}

#[test]
fn conflict_without_last_sync_value() {
    assert!(detect("email", "a@x.com", "b@x.com", "rec-1", None).is_some());
}

#[test]
fn no_conflict_for_excluded_or_unmapped_field() {
    assert!(detect("internal_notes", "val_a", "val_b", "rec-1", None).is_none());
    assert!(detect("unknown_field", "val_a", "val_b", "rec-1", None).is_none());
}

#[test]
fn conflict_contains_correct_values() {
    let conflict = detect("email", "a@x.com", "b@x.com", "rec-42", Some("old@x.com")).unwrap();
    assert_eq!(conflict.value_a(), &json!("a@x.com"));
    assert_eq!(conflict.value_b(), &json!("b@x.com"));
    assert_eq!(conflict.last_sync_value(), Some(&json!("old@x.com")));
    assert_eq!(conflict.record_id(), "rec-42");
}

/// Where the reference treated a `None` base like a missing one, `Some(null)`
/// is a real base here: a side still at `null` did not change.
#[test]
fn a_null_base_is_a_real_base() {
    let b = boundary();
    let (changed, null) = (json!("a@x.com"), Value::Null);
    assert!(
        b.detect_conflict("rec-1", "email", &changed, &null, Some(&null))
            .is_none()
    );
    assert!(
        b.detect_conflict("rec-1", "email", &changed, &null, None)
            .is_some()
    );
}

fn conflict(a: Option<i64>, b: Option<i64>) -> SyncConflict<&'static str> {
    SyncConflict::new("r1", "email", "a", "b").with_modified_at(a.map(dt), b.map(dt))
}

#[test]
fn last_writer_is_the_later_side() {
    assert_eq!(conflict(Some(100), Some(50)).last_writer(), Some(Side::A));
    assert_eq!(conflict(Some(50), Some(100)).last_writer(), Some(Side::B));
}

#[test]
fn last_writer_is_none_when_times_are_missing_or_equal() {
    assert_eq!(conflict(None, None).last_writer(), None);
    assert_eq!(conflict(Some(100), None).last_writer(), None);
    assert_eq!(conflict(Some(100), Some(100)).last_writer(), None);
}

#[test]
fn any_comparable_value_type_works() {
    let b = boundary();
    let conflict = b
        .detect_conflict_at("rec-1", "status", &3_u8, &4_u8, Some(&1_u8), dt(5))
        .unwrap();
    assert_eq!((conflict.value_a(), conflict.value_b()), (&3, &4));
    assert_eq!(conflict.detected_at(), dt(5));
}
