//! Typed records: the derive's boundary equals the builder's, the typed plan
//! routes each change to the side that may receive it, review items become
//! changes only by a person's decision, and typed and string-keyed copies
//! convert both ways.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use integration_automation_patterns::sync::{
    Change, Compare, Decision, NotInReview, RecordError, RecordPatch, Rule, Stamped, SyncRecord,
    TypedBoundary, TypedSnapshot, UnmappedField, Versioned,
};
use integration_automation_patterns::{RecordAuthority, Side, SyncBoundary};
use serde::{Deserialize, Serialize};
use serde_json::json;

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

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, hour, 0, 0).unwrap()
}

fn ada() -> Contact {
    Contact {
        email: "ada@example.com".into(),
        credit_limit: 1000.0,
        phone: Some("+1 555 0100".into()),
        segment: "smb".into(),
        internal_notes: "met at the fair".into(),
    }
}

/// The base of a record both systems held as `ada()`.
fn synced_base() -> ContactBase {
    ContactBase {
        email: Some("ada@example.com".into()),
        credit_limit: Some(1000.0),
        phone: Some(Some("+1 555 0100".into())),
        segment: Some("smb".into()),
    }
}

#[test]
fn the_boundary_from_the_type_is_the_builders() {
    let built = SyncBoundary::builder()
        .record_type("contact")
        .system_a("crm")
        .system_b("erp")
        .field("email", RecordAuthority::SystemA)
        .compare("email", Compare::TrimmedCaseInsensitive)
        .field("credit_limit", RecordAuthority::SystemB)
        .compare("credit_limit", Compare::Tolerance(0.01))
        .field("phone", RecordAuthority::Shared)
        .field("segment", RecordAuthority::Manual)
        .exclude("internal_notes")
        .build()
        .unwrap();
    assert_eq!(Contact::boundary(), built);
    let with_options = TypedBoundary::<Contact>::new()
        .review_overrides_from(Side::B)
        .max_clock_skew(Duration::from_secs(5));
    let built_with_options = SyncBoundary::builder()
        .record_type("contact")
        .system_a("crm")
        .system_b("erp")
        .field("email", RecordAuthority::SystemA)
        .compare("email", Compare::TrimmedCaseInsensitive)
        .field("credit_limit", RecordAuthority::SystemB)
        .compare("credit_limit", Compare::Tolerance(0.01))
        .field("phone", RecordAuthority::Shared)
        .field("segment", RecordAuthority::Manual)
        .exclude("internal_notes")
        .review_overrides_from(Side::B)
        .max_clock_skew(Duration::from_secs(5))
        .build()
        .unwrap();
    assert_eq!(with_options.boundary(), &built_with_options);
}

#[test]
fn each_change_goes_into_the_patch_of_the_side_that_may_receive_it() {
    let boundary = TypedBoundary::<Contact>::new();
    let mut crm = ada();
    crm.email = "ada@new.example".into();
    crm.phone = Some("+1 555 0199".into());
    let mut erp = ada();
    erp.credit_limit = 5000.0;
    let plan = boundary.reconcile_at(
        "contact-42",
        &Stamped::at(crm.clone(), at(9)),
        &Stamped::at(erp.clone(), at(10)),
        &synced_base(),
        at(12),
    );
    assert_eq!(
        plan.patch_a(),
        ContactCrmPatch {
            credit_limit: Some(5000.0),
            ..Default::default()
        }
    );
    assert_eq!(
        plan.patch_b(),
        ContactErpPatch {
            email: Some("ada@new.example".into()),
            phone: Some(Some("+1 555 0199".into())),
            segment: None,
        }
    );
    assert_eq!(plan.decisions().email.rule, Rule::OwnerChanged);
    let (mut crm_after, mut erp_after) = (crm, erp);
    plan.patch_a().apply_to(&mut crm_after);
    plan.patch_b().apply_to(&mut erp_after);
    assert_eq!(
        crm_after,
        Contact {
            internal_notes: "met at the fair".into(),
            ..erp_after.clone()
        }
    );
    let base = plan.applied_a().applied_b().new_base();
    let again = boundary.reconcile_at(
        "contact-42",
        &Stamped::new(crm_after),
        &Stamped::new(erp_after),
        &base,
        at(13),
    );
    assert!(again.is_settled());
}

#[test]
fn a_change_by_the_non_owner_is_reverted_from_the_owners_value() {
    let boundary = TypedBoundary::<Contact>::new();
    let mut erp = ada();
    erp.email = "typo@exmaple.com".into();
    let plan = boundary.reconcile_at(
        "contact-42",
        &Stamped::new(ada()),
        &Stamped::new(erp),
        &synced_base(),
        at(12),
    );
    assert_eq!(plan.decisions().email.rule, Rule::NonOwnerReverted);
    assert_eq!(plan.patch_b().email.as_deref(), Some("ada@example.com"));
    assert!(plan.patch_a().is_empty());
}

#[test]
fn comparisons_of_the_attributes_apply() {
    let boundary = TypedBoundary::<Contact>::new();
    let mut crm = ada();
    crm.email = " ADA@example.com".into();
    let mut erp = ada();
    erp.credit_limit = 1000.004;
    let plan = boundary.reconcile_at(
        "contact-42",
        &Stamped::new(crm),
        &Stamped::new(erp),
        &synced_base(),
        at(12),
    );
    assert!(plan.is_settled(), "{plan:?}");
}

#[test]
fn a_review_item_becomes_a_change_for_one_side_by_a_decision_that_names_the_winner() {
    let boundary = TypedBoundary::<Contact>::new();
    let mut crm = ada();
    crm.segment = "strategic".into();
    let mut plan = boundary.reconcile_at(
        "contact-42",
        &Stamped::new(crm),
        &Stamped::new(ada()),
        &synced_base(),
        at(12),
    );
    assert_eq!(plan.review_fields(), ["segment"]);
    assert_eq!(plan.patch_a().segment, None);
    assert_eq!(plan.patch_b().segment, None);
    assert!(matches!(
        plan.keep(Side::A, ContactField::Email),
        Err(NotInReview::Decided { .. })
    ));
    plan.keep(Side::A, ContactField::Segment).unwrap();
    assert_eq!(plan.patch_b().segment.as_deref(), Some("strategic"));
    assert_eq!(plan.patch_a().segment, None);
    assert_eq!(plan.decisions().segment.rule, Rule::PersonDecided);
    assert!(matches!(
        plan.decisions().segment.decision,
        Decision::Overwrite {
            winner: Side::A,
            ..
        }
    ));
    assert!(plan.review_fields().is_empty());
    let base = plan.applied_b().applied_a().new_base();
    assert_eq!(base.segment.as_deref(), Some("strategic"));
}

#[test]
fn a_partial_base_keeps_the_old_value_of_what_the_failed_side_still_needs() {
    let boundary = TypedBoundary::<Contact>::new();
    let mut crm = ada();
    crm.email = "ada@new.example".into();
    let mut erp = ada();
    erp.credit_limit = 5000.0;
    let plan = boundary.reconcile_at(
        "contact-42",
        &Stamped::new(crm),
        &Stamped::new(erp),
        &synced_base(),
        at(12),
    );
    // The CRM took its patch; the ERP's write failed.
    let partial = plan.applied_a().partial_base();
    assert_eq!(partial.credit_limit, Some(5000.0));
    assert_eq!(partial.email.as_deref(), Some("ada@example.com"));
}

#[test]
fn a_field_never_synced_is_none_in_the_base() {
    let boundary = TypedBoundary::<Contact>::new();
    let mut erp = ada();
    erp.phone = None;
    let plan = boundary.reconcile_at(
        "contact-42",
        &Stamped::at(ada(), at(9)),
        &Stamped::at(erp, at(10)),
        &ContactBase::default(),
        at(12),
    );
    // Never synced, both changed: the later writer (the ERP) wins.
    assert_eq!(plan.decisions().phone.rule, Rule::LastWriterWins);
    assert_eq!(plan.patch_a().phone, Some(None));
    assert_eq!(plan.decisions().email.rule, Rule::Agreed);
}

#[test]
fn typed_copies_convert_to_and_from_string_keyed_records() {
    let stamped = Stamped::at(ada(), at(9));
    let record = stamped.to_record().unwrap();
    assert_eq!(
        record["email"],
        Versioned::at(json!("ada@example.com"), at(9))
    );
    assert_eq!(
        record["internal_notes"],
        Versioned::new(json!("met at the fair"))
    );
    assert_eq!(Stamped::<Contact>::from_record(&record).unwrap(), stamped);

    let base = Contact::base_to_json(&synced_base()).unwrap();
    assert_eq!(base["phone"], json!("+1 555 0100"));
    assert_eq!(Contact::base_from_json(&base).unwrap(), synced_base());
    assert_eq!(
        Contact::base_from_json(&Default::default()).unwrap(),
        ContactBase::default()
    );
}

#[test]
fn json_from_an_api_plans_through_the_typed_path_and_reports_drift() {
    let boundary = TypedBoundary::<Contact>::new();
    let crm = [
        ("email".to_owned(), Versioned::new(json!("ada@new.example"))),
        ("credit_limit".to_owned(), Versioned::new(json!(1000))),
        ("segment".to_owned(), Versioned::new(json!("smb"))),
        ("internal_notes".to_owned(), Versioned::new(json!("vip"))),
        ("lead_score".to_owned(), Versioned::new(json!(87))),
    ]
    .into();
    // The ERP has no phone (an `Option`: `None`) and no notes (excluded: `Default`).
    let erp = [
        ("email".to_owned(), Versioned::new(json!("ada@example.com"))),
        ("credit_limit".to_owned(), Versioned::new(json!(1000.0))),
        ("segment".to_owned(), Versioned::new(json!("smb"))),
    ]
    .into();
    let base = Contact::base_to_json(&synced_base()).unwrap();
    let plan = boundary
        .reconcile_records("contact-42", &crm, &erp, &base, at(12))
        .unwrap();
    assert_eq!(
        plan.unmapped_fields(),
        [UnmappedField {
            side: Side::A,
            field: "lead_score".into()
        }]
    );
    assert_eq!(plan.patch_b().email.as_deref(), Some("ada@new.example"));
    let string_plan = boundary
        .boundary()
        .reconcile_at("contact-42", &crm, &erp, &base, at(12));
    assert_eq!(
        string_plan.patch_b()["email"],
        Change::Set(json!("ada@new.example"))
    );
    assert_eq!(
        plan.to_plan().unwrap().unmapped_fields(),
        string_plan.unmapped_fields()
    );
}

#[test]
fn json_that_does_not_fit_the_type_names_the_field() {
    let wrong_type = [
        ("email".to_owned(), Versioned::new(json!("ada@example.com"))),
        ("credit_limit".to_owned(), Versioned::new(json!("lots"))),
    ]
    .into();
    let error = Stamped::<Contact>::from_record(&wrong_type).unwrap_err();
    assert!(
        matches!(
            error,
            RecordError::Mistyped {
                field: "credit_limit",
                found: "string",
                ..
            }
        ),
        "{error}"
    );
    let missing = [("credit_limit".to_owned(), Versioned::new(json!(5)))].into();
    let error = Stamped::<Contact>::from_record(&missing).unwrap_err();
    assert!(
        matches!(error, RecordError::Missing { field: "email" }),
        "{error}"
    );
    assert!(error.to_string().contains("make its type an `Option`"));
}

#[test]
fn a_typed_batch_counts_guards_and_settles() {
    let boundary = TypedBoundary::<Contact>::new();
    let records: Vec<TypedSnapshot<Contact>> = (0..10)
        .map(|n| {
            let mut crm = ada();
            if n % 2 == 0 {
                crm.phone = Some(format!("+1 555 99{n:02}"));
            }
            TypedSnapshot {
                record_id: format!("contact-{n}"),
                a: Stamped::new(crm),
                b: Stamped::new(ada()),
                base: synced_base(),
            }
        })
        .collect();
    let batch = boundary.reconcile_batch_at(&records, at(12));
    assert_eq!(batch.counts().propagate, 5);
    assert_eq!(batch.counts().nothing, 35);
    batch.guard(Default::default()).unwrap();
    let bases = batch.applied_a().applied_b().new_bases();
    assert_eq!(bases[0].1.phone, Some(Some("+1 555 9900".into())));
    assert_eq!(bases[1].1, synced_base());
}

#[test]
fn a_float_without_a_json_form_is_refused_by_name_and_settles_in_the_typed_plan() {
    let unknown = Contact {
        credit_limit: f64::NAN,
        ..ada()
    };
    let error = Stamped::new(unknown.clone()).to_record().unwrap_err();
    assert!(
        matches!(&error, RecordError::Unwritable { field, .. } if field == "credit_limit"),
        "{error}"
    );
    let boundary = TypedBoundary::<Contact>::new();
    let plan = boundary.reconcile_at(
        "contact-42",
        &Stamped::new(unknown.clone()),
        &Stamped::new(unknown.clone()),
        &ContactBase {
            credit_limit: Some(f64::NAN),
            ..synced_base()
        },
        at(12),
    );
    assert!(plan.is_settled());
    assert_eq!(plan.decisions().credit_limit.rule, Rule::Unchanged);
}
