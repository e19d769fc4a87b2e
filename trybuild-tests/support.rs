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
