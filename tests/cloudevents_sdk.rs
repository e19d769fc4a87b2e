//! The official SDK's events, both ways: what `cloudevents-sdk` writes reads
//! as an envelope and is written back equal, and every envelope goes through
//! `cloudevents::Event` and comes back the same event.
#![cfg(feature = "cloudevents")]

#[path = "support/events.rs"]
mod events;

use chrono::{TimeZone, Utc};
use cloudevents::{Event, EventBuilder, EventBuilderV10};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::EnvelopeError;
use integration_automation_patterns::envelope::{ExtensionValue, Field};
use integration_automation_patterns::state::Pending;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Events as the SDK builds them: every optional attribute, one extension of
/// each JSON type, JSON, text and binary data, and no data.
fn sdk_events() -> Vec<Event> {
    let full = || {
        EventBuilderV10::new()
            .id("evt-1")
            .source("https://crm.example.com/eu")
            .ty("crm.contact.updated")
            .subject("contact/42")
            .time(Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).unwrap())
            .extension("tenant", "acme")
            .extension("priority", 3i64)
            .extension("replay", true)
    };
    vec![
        full()
            .data_with_schema(
                "application/json",
                "https://schemas.example.com/contact/v2",
                json!({ "contact_id": 42 }),
            )
            .build()
            .unwrap(),
        full().data("text/plain", "plain words").build().unwrap(),
        full()
            .data("application/octet-stream", vec![0u8, 1, 2, 255])
            .build()
            .unwrap(),
        full().build().unwrap(),
        EventBuilderV10::new()
            .id("evt-2")
            .source("/minimal")
            .ty("t")
            .build()
            .unwrap(),
    ]
}

#[test]
fn events_written_by_the_sdk_read_and_are_written_back_equal() {
    for event in sdk_events() {
        let written_by_sdk = serde_json::to_value(&event).unwrap();
        let envelope: Envelope<Pending> = serde_json::from_value(written_by_sdk.clone())
            .unwrap_or_else(|error| panic!("{error}: {written_by_sdk}"));
        assert_eq!(
            serde_json::to_value(envelope.to_cloudevent()).unwrap(),
            written_by_sdk
        );
        assert_eq!(Event::try_from(&envelope).unwrap(), event);
        let converted: Envelope<Pending> = Envelope::try_from(event.clone()).unwrap();
        assert_eq!(converted, envelope);
    }
    let full: Envelope<Pending> = Envelope::try_from(sdk_events().remove(0)).unwrap();
    assert_eq!(
        full.extension("priority"),
        Some(&ExtensionValue::Integer(3))
    );
    assert_eq!(
        full.extension("replay"),
        Some(&ExtensionValue::Boolean(true))
    );
    assert_eq!(full.subject(), Some("contact/42"));
    let binary: Envelope<Pending, Vec<u8>> = Envelope::try_from(sdk_events().remove(2)).unwrap();
    assert_eq!(binary.payload(), &[0, 1, 2, 255]);
    let none: Envelope<Pending> = Envelope::try_from(sdk_events().remove(3)).unwrap();
    assert_eq!(none.payload(), &Value::Null);
}

#[test]
fn a_relative_data_schema_is_refused_before_the_sdk_sees_it() {
    // The specification asks for an absolute URI, and the SDK refuses any
    // other: the builder refuses it first, naming it.
    let refused = Envelope::builder()
        .event_id("e")
        .event_type("t")
        .source_system("s")
        .payload(json!({}))
        .data_schema("contact-v2")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            refused,
            EnvelopeError::NotAUri {
                field: Field::DataSchema,
                ..
            }
        ),
        "{refused}"
    );
    assert_eq!(
        refused.to_string(),
        "dataschema \"contact-v2\" is not an absolute URI: it has no scheme (such as `https:`)"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_envelope_goes_through_the_sdk_and_comes_back(envelope in events::event()) {
        let wire = serde_json::to_value(envelope.to_cloudevent()).unwrap();
        let event: Event = serde_json::from_value(wire).unwrap();
        prop_assert_eq!(Event::try_from(&envelope).unwrap(), event.clone());
        let back: Envelope<Pending> = Envelope::try_from(event).unwrap();
        prop_assert_eq!(back, envelope.to_received());
    }
}
