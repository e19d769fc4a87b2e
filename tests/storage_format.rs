//! The serialized form: a CloudEvents 1.0 event plus a `delivery` object, and
//! the refusal of anything inconsistent or malformed.

mod common;

use common::{dispatched, one_of_each, pending, retrying};
use integration_automation_patterns::state::{Dispatched, Pending, Processed, Retrying};
use integration_automation_patterns::{AnyEnvelope, DeliveryStatus, Envelope};
use proptest::prelude::*;
use serde_json::{Value, json};

fn to_value(envelope: &AnyEnvelope) -> Value {
    serde_json::to_value(envelope).unwrap()
}

/// Reads `document` as an `AnyEnvelope` and returns the error message.
fn refusal(document: &Value) -> String {
    serde_json::from_value::<AnyEnvelope>(document.clone())
        .unwrap_err()
        .to_string()
}

#[test]
fn all_seven_states_round_trip() {
    for envelope in one_of_each() {
        let text = serde_json::to_string(&envelope).unwrap();
        let back: AnyEnvelope = serde_json::from_str(&text).unwrap();
        assert_eq!(back, envelope);
        assert_eq!(
            to_value(&back)["_delivery"]["status"],
            envelope.status().as_str()
        );
    }
}

#[test]
fn a_typed_envelope_round_trips_and_refuses_another_state() {
    let typed = retrying();
    let text = serde_json::to_string(&typed).unwrap();
    let back: Envelope<Retrying> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, typed);
    let error = serde_json::from_str::<Envelope<Processed>>(&text).unwrap_err();
    assert_eq!(
        error.to_string(),
        "expected an envelope in state `processed`, found `retrying` (event_id \"evt-1\")"
    );
}

#[test]
fn the_document_is_a_cloudevent_with_a_delivery_object() {
    let envelope = Envelope::builder()
        .event_id("evt-9")
        .event_type("crm.contact.updated")
        .source_system("crm")
        .payload(json!({ "contact_id": 9 }))
        .correlation_id("req-7")
        .tag("region", "emea")
        .created_at(common::start())
        .build()
        .unwrap()
        .dispatch_at(common::at(1));
    let document = serde_json::to_value(&envelope).unwrap();
    assert_eq!(
        document,
        json!({
            "specversion": "1.0",
            "id": "evt-9",
            "source": "crm",
            "type": "crm.contact.updated",
            "time": "2026-03-01T09:30:00Z",
            "datacontenttype": "application/json",
            "correlationid": "req-7",
            "schemaversion": "1.0",
            "data": { "contact_id": 9 },
            "_delivery": {
                "status": "dispatched",
                "attempts": 1,
                "policy": {
                    "max_attempts": 3,
                    "backoff": { "secs": 30, "nanos": 0 },
                    "exponential": true,
                    "max_backoff": { "secs": 3600, "nanos": 0 },
                    "jitter": "none"
                },
                "tags": { "region": "emea" },
                "history": [
                    { "from": "pending", "to": "dispatched", "at": "2026-03-01T09:30:01Z", "attempt": 1 }
                ]
            }
        })
    );
}

/// Without `delivery`, every attribute is a CloudEvents 1.0 context attribute:
/// the required ones present and non-empty, extension names lowercase
/// alphanumeric, `time` an RFC 3339 timestamp.
#[test]
fn without_delivery_the_document_is_a_valid_cloudevent() {
    for envelope in one_of_each() {
        let mut document = to_value(&envelope);
        let attributes = document.as_object_mut().unwrap();
        attributes.remove("_delivery");
        assert_eq!(attributes["specversion"], "1.0");
        for required in ["id", "source", "type"] {
            assert!(!attributes[required].as_str().unwrap().is_empty());
        }
        let time = attributes["time"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
        for name in attributes.keys().filter(|name| *name != "data") {
            assert!(
                name.len() <= 20
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
                "attribute {name} is not a valid CloudEvents attribute name"
            );
        }
    }
}

#[test]
fn a_plain_cloudevent_reads_as_a_new_pending_envelope() {
    let event = json!({
        "specversion": "1.0",
        "id": "A234-1234-1234",
        "source": "https://erp.example.com/invoices",
        "type": "com.example.invoice.created",
        "time": "2026-04-05T17:31:00+02:00",
        "data": { "invoice": 7 }
    });
    let envelope: Envelope<Pending> = serde_json::from_value(event).unwrap();
    assert_eq!(envelope.event_id(), "A234-1234-1234");
    assert_eq!(envelope.attempt_count(), 0);
    assert_eq!(envelope.schema_version(), "1.0");
    assert_eq!(
        envelope.created_at().unwrap().to_rfc3339(),
        "2026-04-05T15:31:00+00:00"
    );
    assert!(envelope.history().is_empty());
}

#[test]
fn a_dispatched_envelope_with_no_attempts_is_refused() {
    let mut document = to_value(&dispatched().into());
    document["_delivery"]["attempts"] = json!(0);
    assert_eq!(
        refusal(&document),
        "attempts is 0, but the history counts 1"
    );
    let mut no_history = document.clone();
    no_history["_delivery"]["history"] = json!([]);
    assert_eq!(
        refusal(&no_history),
        "status is `dispatched`, but the history leads to `pending`"
    );
}

#[test]
fn a_history_that_skips_a_step_or_takes_an_illegal_one_is_refused() {
    let mut document = to_value(&retrying().into());
    document["_delivery"]["history"][1]["from"] = json!("acknowledged");
    assert_eq!(
        refusal(&document),
        "history entry 1 starts from `acknowledged`, but the envelope was `dispatched` then"
    );

    let mut document = to_value(&dispatched().into());
    document["_delivery"]["history"][0]["to"] = json!("processed");
    document["_delivery"]["status"] = json!("processed");
    assert_eq!(
        refusal(&document),
        "history entry 0 goes from `pending` to `processed`, which is not a legal transition"
    );
}

#[test]
fn history_attempts_reasons_and_budget_are_checked() {
    let mut document = to_value(&retrying().into());
    document["_delivery"]["history"][1]["attempt"] = json!(2);
    assert_eq!(
        refusal(&document),
        "history entry 1 records attempt 2, but the transitions before it count 1"
    );

    let mut document = to_value(&retrying().into());
    document["_delivery"]["history"][1]
        .as_object_mut()
        .unwrap()
        .remove("reason");
    assert_eq!(
        refusal(&document),
        "history entry 1 (to `retrying`) has no reason"
    );

    let mut document = to_value(&retrying().into());
    document["_delivery"]["policy"]["max_attempts"] = json!(1);
    assert_eq!(
        refusal(&document),
        "history entry 1 schedules a retry after attempt 1, but max_attempts is 1"
    );
}

#[test]
fn foreign_versions_types_and_text_are_refused() {
    let base = to_value(&pending().into());
    let cases = [
        (
            "specversion",
            json!("0.3"),
            "specversion \"0.3\" is not supported (expected \"1.0\")",
        ),
        (
            "datacontenttype",
            json!("xml"),
            "datacontenttype \"xml\" is not a media type (expected type/subtype)",
        ),
        ("id", json!(""), "event_id must not be empty"),
        (
            "source",
            json!("crm\nstatus=failed"),
            "source_system \"crm\\nstatus=failed\" contains the control character '\\n' at byte 3",
        ),
    ];
    for (attribute, value, message) in cases {
        let mut document = base.clone();
        document[attribute] = value;
        assert_eq!(refusal(&document), message);
    }
    let mut unknown = base.clone();
    unknown["correlationID"] = json!("typo");
    assert_eq!(
        refusal(&unknown),
        "extension attribute name \"correlationID\" is invalid: CloudEvents attribute names are lowercase ASCII letters and digits"
    );
    let mut bad_policy = base.clone();
    bad_policy["_delivery"]["policy"]["max_attempts"] = json!(0);
    assert!(refusal(&bad_policy).contains("max_attempts must be at least 1"));
    let mut bad_status = base;
    bad_status["_delivery"]["status"] = json!("done");
    assert!(refusal(&bad_status).starts_with("unknown variant `done`"));
}

#[test]
fn malformed_and_hostile_json_is_an_error() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_data = format!(
        r#"{{"specversion":"1.0","id":"e","source":"s","type":"t","time":"2026-01-01T00:00:00Z","data":{}}}"#,
        deep
    );
    for document in [
        "",
        "null",
        "[]",
        "{",
        r#"{"specversion":"1.0"}"#,
        r#"{"specversion":1.0,"id":"e","source":"s","type":"t","time":"2026-01-01T00:00:00Z","data":null}"#,
        r#"{"specversion":"1.0","id":"e","source":"s","type":"t","time":"yesterday","data":null}"#,
        r#"{"specversion":"1.0","id":"e","source":"s","type":"t","time":"2026-01-01T00:00:00Z","data":null,"_delivery":{"status":"pending","attempts":4294967296,"policy":{},"history":[]}}"#,
        &deep_data,
    ] {
        assert!(
            serde_json::from_str::<AnyEnvelope>(document).is_err(),
            "{document:.80}"
        );
    }
    assert!(serde_json::from_slice::<AnyEnvelope>(b"{\"id\":\"\xff\"}").is_err());
}

#[test]
fn a_typed_read_of_dispatched_accepts_only_dispatched() {
    let text = serde_json::to_string(&dispatched()).unwrap();
    assert!(serde_json::from_str::<Envelope<Dispatched>>(&text).is_ok());
    assert!(serde_json::from_str::<Envelope<Pending>>(&text).is_err());
    let any: AnyEnvelope = serde_json::from_str(&text).unwrap();
    assert_eq!(any.status(), DeliveryStatus::Dispatched);
}

proptest! {
    /// Any corruption of a stored envelope is either read consistently or
    /// refused with an error; it never panics.
    #[test]
    fn corrupted_documents_never_panic(
        state in 0..7usize,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = serde_json::to_vec(&one_of_each()[state]).unwrap();
        for (position, byte) in edits {
            let index = position.index(bytes.len());
            bytes[index] = byte;
        }
        if let Ok(envelope) = serde_json::from_slice::<AnyEnvelope>(&bytes) {
            // Whatever was read passed the consistency check: it round-trips.
            let again = serde_json::to_vec(&envelope).unwrap();
            let reread: AnyEnvelope = serde_json::from_slice(&again).unwrap();
            prop_assert_eq!(reread, envelope);
        }
    }
}

/// What a receiver gets is the CloudEvent alone: the same envelope as reading
/// the serialized form without its `delivery` object.
#[test]
fn the_received_copy_is_the_cloudevent_without_the_senders_bookkeeping() {
    let sender = Envelope::builder()
        .event_id("evt-3")
        .event_type("crm.contact.updated")
        .source_system("crm")
        .payload(json!({ "contact_id": 3 }))
        .correlation_id("req-9")
        .schema_version("2.0")
        .tag("region", "emea")
        .retry_policy(
            integration_automation_patterns::RetryPolicy::builder()
                .max_attempts(9)
                .build()
                .unwrap(),
        )
        .created_at(common::start())
        .build()
        .unwrap()
        .dispatch_at(common::at(1));
    let mut wire = serde_json::to_value(&sender).unwrap();
    wire.as_object_mut().unwrap().remove("_delivery");
    let from_wire: Envelope<Pending> = serde_json::from_value(wire).unwrap();
    let received = sender.to_received();
    assert_eq!(received, from_wire);
    assert_eq!(
        (
            received.attempt_count(),
            received.history().len(),
            received.tags().len()
        ),
        (0, 0, 0)
    );
    assert_eq!(received.correlation_id(), Some("req-9"));
}

#[test]
fn an_envelope_reads_inside_an_untagged_or_tagged_enum_of_the_callers() {
    use serde::Deserialize;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Event(Box<AnyEnvelope>),
        Other(Value),
    }
    #[derive(Deserialize)]
    #[serde(tag = "kind")]
    enum Tagged {
        Event(Box<AnyEnvelope>),
    }
    let event = json!({
        "specversion": "1.0", "id": "e", "source": "s", "type": "t", "data": { "n": 1 }
    });
    let read: Either = serde_json::from_value(event.clone()).unwrap();
    assert!(matches!(read, Either::Event(envelope) if envelope.payload()["n"] == 1));
    let other: Either = serde_json::from_value(json!({ "not": "an event" })).unwrap();
    assert!(matches!(other, Either::Other(value) if value["not"] == "an event"));
    let mut tagged = event;
    tagged["kind"] = "Event".into();
    let read: Tagged = serde_json::from_str(&tagged.to_string()).unwrap();
    let Tagged::Event(envelope) = read;
    assert_eq!(envelope.payload()["n"], 1);
}
