//! Envelopes and times shared by the test files.
#![allow(dead_code)]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use integration_automation_patterns::state::{
    Acknowledged, Dispatched, Failed, Pending, Processed, Retrying, Skipped,
};
use integration_automation_patterns::{AnyEnvelope, Envelope, FailOutcome};
use serde_json::json;

/// The fixed creation time of every test envelope.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).unwrap()
}

/// `seconds` after [`start`].
pub fn at(seconds: i64) -> DateTime<Utc> {
    start() + TimeDelta::seconds(seconds)
}

pub fn pending() -> Envelope<Pending> {
    Envelope::builder()
        .event_id("evt-1")
        .event_type("crm.contact.updated")
        .source_system("crm")
        .payload(json!({ "contact_id": 42 }))
        .created_at(start())
        .build()
        .unwrap()
}

pub fn dispatched() -> Envelope<Dispatched> {
    pending().dispatch_at(at(1))
}

pub fn acknowledged() -> Envelope<Acknowledged> {
    dispatched().acknowledge_at(at(2))
}

pub fn processed() -> Envelope<Processed> {
    acknowledged().process_at(at(3))
}

pub fn retrying() -> Envelope<Retrying> {
    match dispatched().fail_at("timeout", at(2)) {
        FailOutcome::Retry(retrying) => retrying,
        FailOutcome::Exhausted(failed) => panic!("first failure exhausted: {failed:?}"),
    }
}

pub fn failed() -> Envelope<Failed> {
    dispatched().fail_permanently_at("rejected as invalid", at(2))
}

pub fn skipped() -> Envelope<Skipped> {
    pending().skip_at("duplicate", at(1))
}

/// One envelope in each of the seven states, in lifecycle order.
pub fn one_of_each() -> Vec<AnyEnvelope> {
    vec![
        pending().into(),
        dispatched().into(),
        acknowledged().into(),
        processed().into(),
        retrying().into(),
        failed().into(),
        skipped().into(),
    ]
}
