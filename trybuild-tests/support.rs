//! Envelopes in each state, for the compile tests.
#![allow(dead_code)]

use integration_automation_patterns::state::{
    Acknowledged, Dispatched, Failed, Pending, Processed, Retrying, Skipped,
};
use integration_automation_patterns::{Envelope, FailOutcome};

pub fn pending() -> Envelope<Pending> {
    Envelope::builder()
        .event_id("evt-1")
        .event_type("crm.contact.updated")
        .source_system("crm")
        .payload(serde_json::json!({ "contact_id": 42 }))
        .build()
        .unwrap()
}

pub fn dispatched() -> Envelope<Dispatched> {
    pending().dispatch()
}

pub fn acknowledged() -> Envelope<Acknowledged> {
    dispatched().acknowledge()
}

pub fn processed() -> Envelope<Processed> {
    dispatched().process()
}

pub fn retrying() -> Envelope<Retrying> {
    match dispatched().fail("timeout") {
        FailOutcome::Retry(retrying) => retrying,
        FailOutcome::Exhausted(_) => unreachable!("the default policy allows 3 attempts"),
    }
}

pub fn failed() -> Envelope<Failed> {
    dispatched().fail_permanently("payload rejected as invalid")
}

pub fn skipped() -> Envelope<Skipped> {
    pending().skip("duplicate")
}

/// A plan for one contact whose email the CRM changed.
pub fn plan() -> integration_automation_patterns::sync::ReconcilePlan {
    batch().into_plans().remove(0)
}

/// The same as a batch of one record.
pub fn batch() -> integration_automation_patterns::sync::BatchPlan {
    use integration_automation_patterns::sync::{RecordSnapshot, Versioned};
    use integration_automation_patterns::{RecordAuthority, SyncBoundary};
    let boundary = SyncBoundary::builder()
        .record_type("contact")
        .system_a("crm")
        .system_b("erp")
        .field("email", RecordAuthority::SystemA)
        .build()
        .unwrap();
    let email = |value: &str| [("email".to_owned(), Versioned::new(serde_json::json!(value)))].into();
    let record = RecordSnapshot {
        record_id: "contact-42".into(),
        a: email("ada@new.example"),
        b: email("ada@old.example"),
        base: [("email".to_owned(), serde_json::json!("ada@old.example"))].into(),
    };
    boundary.reconcile_batch_at([&record], chrono::Utc::now())
}
