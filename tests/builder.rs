//! The envelope builder: defaults, and refusal of unusable text parts.

mod common;

use common::start;
use integration_automation_patterns::envelope::Field;
use integration_automation_patterns::{DeliveryStatus, Envelope, EnvelopeError, RetryPolicy};

#[test]
fn defaults_follow_the_reference_package() {
    let before = chrono::Utc::now();
    let envelope = Envelope::builder()
        .event_id("evt-1")
        .event_type("crm.contact.updated")
        .source_system("crm")
        .payload(serde_json::json!({ "contact_id": 1 }))
        .build()
        .unwrap();
    assert_eq!(envelope.status(), DeliveryStatus::Pending);
    assert_eq!(envelope.attempt_count(), 0);
    assert_eq!(envelope.schema_version(), "1.0");
    assert_eq!(envelope.correlation_id(), None);
    assert_eq!(envelope.retry_policy(), &RetryPolicy::default());
    assert!(envelope.tags().is_empty());
    assert!(envelope.history().is_empty());
    assert!(envelope.created_at().unwrap() >= before);
}

#[test]
fn optional_parts_are_kept() {
    let envelope = Envelope::builder()
        .event_id("evt-1")
        .event_type("crm.contact.updated")
        .source_system("crm")
        .payload(7_u32)
        .correlation_id("sync-17")
        .schema_version("2.1")
        .created_at(start())
        .tag("region", "emea")
        .tag("region", "apac")
        .tag("tenant", "acme")
        .build()
        .unwrap();
    assert_eq!(envelope.payload(), &7);
    assert_eq!(envelope.correlation_id(), Some("sync-17"));
    assert_eq!(envelope.schema_version(), "2.1");
    assert_eq!(envelope.created_at(), Some(start()));
    let tags: Vec<(&str, &str)> = envelope
        .tags()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(tags, [("region", "apac"), ("tenant", "acme")]);
}

fn build_with(
    event_id: &str,
    event_type: &str,
    source: &str,
    correlation_id: Option<&str>,
) -> Result<(), EnvelopeError> {
    let mut builder = Envelope::builder()
        .event_id(event_id)
        .event_type(event_type)
        .source_system(source)
        .payload(());
    if let Some(correlation_id) = correlation_id {
        builder = builder.correlation_id(correlation_id);
    }
    builder.build().map(|_| ())
}

#[test]
fn empty_required_parts_are_refused_by_name() {
    for (result, field) in [
        (build_with("", "t.e.a", "crm", None), Field::EventId),
        (build_with("e", "", "crm", None), Field::EventType),
        (build_with("e", "t.e.a", "", None), Field::SourceSystem),
        (
            build_with("e", "t.e.a", "crm", Some("")),
            Field::CorrelationId,
        ),
    ] {
        let error = result.unwrap_err();
        assert_eq!(error, EnvelopeError::Empty { field });
        assert_eq!(error.to_string(), format!("{field} must not be empty"));
    }
}

#[test]
fn control_characters_are_refused_with_their_position() {
    let error = build_with("evt-1\nstatus=processed", "t.e.a", "crm", None).unwrap_err();
    assert_eq!(
        error,
        EnvelopeError::ControlCharacter {
            field: Field::EventId,
            value: "evt-1\nstatus=processed".into(),
            character: '\n',
            index: 5,
        }
    );
    assert_eq!(
        error.to_string(),
        "event_id \"evt-1\\nstatus=processed\" contains the control character '\\n' at byte 5"
    );
    assert!(build_with("e", "t.e\u{7f}", "crm", None).is_err());
    assert!(build_with("e", "t.e.a", "c\u{0}rm", None).is_err());
    assert!(build_with("e", "t.e.a", "crm", Some("req\r1")).is_err());
}

#[test]
fn schema_version_and_tag_keys_are_checked_too() {
    let empty_schema = Envelope::builder()
        .event_id("e")
        .event_type("t")
        .source_system("s")
        .payload(())
        .schema_version("")
        .build()
        .unwrap_err();
    assert_eq!(
        empty_schema,
        EnvelopeError::Empty {
            field: Field::SchemaVersion
        }
    );
    let bad_tag = Envelope::builder()
        .event_id("e")
        .event_type("t")
        .source_system("s")
        .payload(())
        .tag("", "value")
        .build()
        .unwrap_err();
    assert_eq!(
        bad_tag,
        EnvelopeError::Empty {
            field: Field::TagKey
        }
    );
}

#[test]
fn unicode_text_that_is_not_control_is_accepted() {
    // The source is a URI reference, in which non-ASCII text is percent-encoded.
    assert!(build_with("évt-ü-1", "crm.kontakt.geändert", "crm-%E6%9D%B1", None).is_ok());
    assert!(matches!(
        build_with("évt-ü-1", "crm.kontakt.geändert", "crm-東京", None),
        Err(EnvelopeError::NotAUriReference { .. })
    ));
}
