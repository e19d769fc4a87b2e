//! CloudEvents in and out, in the JSON format: the examples of the
//! specification read and are written back equal, every optional attribute
//! stays as it came (absent stays absent), extensions keep their JSON type,
//! data travels as JSON, text, base64 or not at all, and what is not a valid
//! event is refused with an error that names the attribute.

mod common;

use integration_automation_patterns::envelope::ExtensionValue;
use integration_automation_patterns::state::Pending;
use integration_automation_patterns::{AnyEnvelope, Envelope, EnvelopeError};
use serde_json::{Value, json};

/// Reads `event` as a received (pending) envelope with payload `P`.
fn read<P: serde::de::DeserializeOwned>(event: &Value) -> Envelope<Pending, P> {
    serde_json::from_value(event.clone()).unwrap_or_else(|error| panic!("{error}\n{event:#}"))
}

/// The event as the crate writes it for the wire.
fn written<P: serde::Serialize>(envelope: &Envelope<Pending, P>) -> Value {
    serde_json::to_value(envelope.to_cloudevent()).unwrap()
}

/// `event` with its `null` members removed: they are the same as absent.
fn without_nulls(event: &Value) -> Value {
    let mut event = event.clone();
    if let Value::Object(members) = &mut event {
        members.retain(|_, value| !value.is_null());
    }
    event
}

fn refusal(event: &Value) -> String {
    serde_json::from_value::<AnyEnvelope>(event.clone())
        .unwrap_err()
        .to_string()
}

/// The three examples of the JSON format specification, section 3.2 (the
/// binary one with real base64 in place of its placeholder).
fn specification_examples() -> [Value; 3] {
    [
        json!({
            "specversion" : "1.0",
            "type" : "com.example.someevent",
            "source" : "/mycontext",
            "id" : "A234-1234-1234",
            "time" : "2018-04-05T17:31:00Z",
            "comexampleextension1" : "value",
            "comexampleothervalue" : 5,
            "datacontenttype" : "application/vnd.apache.thrift.binary",
            "data_base64" : "gAEAAQAAAARwaW5nAAAAAA=="
        }),
        json!({
            "specversion" : "1.0",
            "type" : "com.example.someevent",
            "source" : "/mycontext",
            "id" : "B234-1234-1234",
            "time" : "2018-04-05T17:31:00Z",
            "comexampleextension1" : "value",
            "comexampleothervalue" : 5,
            "unsetextension": null,
            "datacontenttype" : "application/xml",
            "data" : "<much wow=\"xml\"/>"
        }),
        json!({
            "specversion" : "1.0",
            "type" : "com.example.someevent",
            "source" : "/mycontext",
            "subject": null,
            "id" : "C234-1234-1234",
            "time" : "2018-04-05T17:31:00Z",
            "comexampleextension1" : "value",
            "comexampleothervalue" : 5,
            "datacontenttype" : "application/json",
            "data" : {
                "appinfoA" : "abc",
                "appinfoB" : 123,
                "appinfoC" : true
            }
        }),
    ]
}

#[test]
fn the_specification_examples_read_and_are_written_back_equal() {
    for example in specification_examples() {
        let envelope = read::<Value>(&example);
        assert_eq!(written(&envelope), without_nulls(&example));
        assert_eq!(
            envelope.extension("comexampleothervalue"),
            Some(&ExtensionValue::Integer(5))
        );
        assert_eq!(envelope.extension("unsetextension"), None);
        assert_eq!(envelope.subject(), None);
        let any: AnyEnvelope = serde_json::from_value(example.clone()).unwrap();
        assert_eq!(any, envelope.clone().into());
    }
    let binary = read::<Vec<u8>>(&specification_examples()[0]);
    assert_eq!(binary.payload()[..4], [0x80, 0x01, 0x00, 0x01]);
    let text = read::<String>(&specification_examples()[1]);
    assert_eq!(text.payload(), "<much wow=\"xml\"/>");
}

#[test]
fn every_optional_attribute_is_kept_as_it_came_and_none_is_invented() {
    let minimal = json!({
        "specversion": "1.0",
        "id": "evt-1",
        "source": "https://crm.example.com",
        "type": "crm.contact.updated",
    });
    let envelope = read::<Value>(&minimal);
    assert_eq!(
        written(&envelope),
        minimal,
        "no time, no data, no content type"
    );
    assert_eq!(envelope.created_at(), None);
    assert_eq!(envelope.data_content_type(), None);
    assert_eq!(envelope.schema_version(), "1.0");
    assert_eq!(envelope.payload(), &Value::Null);

    let full = json!({
        "specversion": "1.0",
        "id": "evt-2",
        "source": "/crm/eu",
        "type": "crm.contact.updated",
        "subject": "contact/42",
        "time": "2026-03-01T09:30:00.123456Z",
        "datacontenttype": "application/json; charset=utf-8",
        "dataschema": "https://schemas.example.com/contact/v2",
        "correlationid": "req-7",
        "schemaversion": "2.1",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
        "tenant": "acme",
        "priority": 3,
        "replay": false,
        "data": { "contact_id": 42 }
    });
    let envelope = read::<Value>(&full);
    assert_eq!(written(&envelope), full);
    assert_eq!(envelope.subject(), Some("contact/42"));
    assert_eq!(
        envelope.data_schema(),
        Some("https://schemas.example.com/contact/v2")
    );
    assert_eq!(
        envelope.traceparent(),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    );
    assert_eq!(
        envelope.tracestate(),
        Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
    );
    assert_eq!(envelope.payload()["contact_id"], 42, "JSON data stays JSON");
    assert_eq!(
        envelope.extension("priority"),
        Some(&ExtensionValue::Integer(3))
    );
    assert_eq!(
        envelope.extension("replay"),
        Some(&ExtensionValue::Boolean(false))
    );
    // The wire form round-trips through to_received, and the storage form
    // keeps every attribute too.
    assert_eq!(read::<Value>(&written(&envelope)), envelope.to_received());
    let stored = serde_json::to_value(&envelope).unwrap();
    assert_eq!(read::<Value>(&stored), envelope);
}

#[test]
fn data_is_json_text_bytes_or_absent_and_explicit_null_is_not_absent() {
    let event = |data: (&str, Value)| {
        let mut event = json!({
            "specversion": "1.0", "id": "e", "source": "s", "type": "t",
        });
        event[data.0] = data.1;
        event
    };
    let json_string = event(("data", json!("\"quoted\" text")));
    let envelope = read::<Value>(&json_string);
    assert_eq!(envelope.payload(), &json!("\"quoted\" text"));
    assert_eq!(written(&envelope), json_string);

    let mut text = event(("data", json!("plain words")));
    text["datacontenttype"] = json!("text/plain");
    assert_eq!(read::<String>(&text).payload(), "plain words");
    assert_eq!(written(&read::<String>(&text)), text);

    let mut bytes = event(("data_base64", json!("AAEC/w==")));
    bytes["datacontenttype"] = json!("application/octet-stream");
    assert_eq!(read::<Vec<u8>>(&bytes).payload(), &[0, 1, 2, 255]);
    assert_eq!(written(&read::<Vec<u8>>(&bytes)), bytes);
    assert_eq!(
        written(&read::<Value>(&bytes)),
        bytes,
        "a Value holds bytes too"
    );

    let explicit_null = event(("data", Value::Null));
    assert_eq!(written(&read::<Value>(&explicit_null)), explicit_null);
    let absent = event(("id", json!("e")));
    assert!(written(&read::<Value>(&absent)).get("data").is_none());
    assert_eq!(read::<Option<u32>>(&absent).payload(), &None);
}

#[test]
fn what_is_not_a_valid_event_is_refused_naming_the_attribute() {
    let base = json!({
        "specversion": "1.0", "id": "e", "source": "s", "type": "t", "data": {},
    });
    let with = |member: &str, value: Value| {
        let mut event = base.clone();
        event[member] = value;
        event
    };
    let without = |member: &str| {
        let mut event = base.clone();
        event.as_object_mut().unwrap().remove(member);
        event
    };
    let cases = [
        (with("specversion", json!("0.3")), "specversion \"0.3\" is not supported (expected \"1.0\")".to_owned()),
        (without("id"), "the required attribute `id` is missing".to_owned()),
        (with("source", Value::Null), "the required attribute `source` is missing".to_owned()),
        (with("type", json!("")), "event_type must not be empty".to_owned()),
        (
            with("time", json!("yesterday")),
            "attribute `time` is invalid: \"yesterday\" is not an RFC 3339 time: premature end of input".to_owned(),
        ),
        (
            with("data_base64", json!("AAEC")),
            "an event has `data` or `data_base64`, never both".to_owned(),
        ),
        (
            with("Tenant", json!("acme")),
            "extension attribute name \"Tenant\" is invalid: CloudEvents attribute names are lowercase ASCII letters and digits".to_owned(),
        ),
        (
            with("ratio", json!(0.5)),
            "attribute `ratio` is invalid: an extension number must be an integer".to_owned(),
        ),
        (
            with("tags", json!(["a"])),
            "attribute `tags` is invalid: an extension attribute is a string, an integer or a boolean".to_owned(),
        ),
        (
            with("traceparent", json!("00-abc-def-01")),
            "traceparent \"00-abc-def-01\" is not a valid W3C trace context value: the trace id must be 32 lowercase hex digits".to_owned(),
        ),
        (
            with("datacontenttype", json!("json")),
            "datacontenttype \"json\" is not a media type (expected type/subtype)".to_owned(),
        ),
    ];
    for (event, message) in cases {
        assert_eq!(refusal(&event), message, "{event}");
    }
    let no_base64 = without("data");
    let mut no_base64 = no_base64;
    no_base64["data_base64"] = json!("not base64!");
    assert!(
        refusal(&no_base64).starts_with("attribute `data_base64` is invalid: not base64"),
        "{}",
        refusal(&no_base64)
    );
    // Base64 as the specification writes it: no whitespace around it.
    let mut padded = without("data");
    padded["data_base64"] = json!(" AAEC ");
    assert!(
        refusal(&padded).starts_with("attribute `data_base64` is invalid: not base64"),
        "{}",
        refusal(&padded)
    );
    // `data` and `data_base64` are refused together in either order, a
    // `null` one included.
    for both in [
        r#"{"specversion":"1.0","id":"e","source":"s","type":"t","data_base64":null,"data":1}"#,
        r#"{"specversion":"1.0","id":"e","source":"s","type":"t","data":1,"data_base64":null}"#,
    ] {
        assert_eq!(
            serde_json::from_str::<AnyEnvelope>(both)
                .unwrap_err()
                .to_string()
                .split(" at line")
                .next(),
            Some("an event has `data` or `data_base64`, never both"),
            "{both}"
        );
    }
    let duplicate = r#"{"specversion":"1.0","id":"e","id":"f","source":"s","type":"t"}"#;
    assert_eq!(
        serde_json::from_str::<AnyEnvelope>(duplicate)
            .unwrap_err()
            .to_string(),
        "`id` appears twice"
    );
    let wrong_payload = serde_json::from_value::<Envelope<Pending, u32>>(base.clone()).unwrap_err();
    assert!(
        wrong_payload
            .to_string()
            .starts_with("the data does not read as the payload type"),
        "{wrong_payload}"
    );
}

#[test]
fn extensions_and_trace_context_are_set_in_the_builder_and_checked() {
    let built = Envelope::builder()
        .event_id("evt-1")
        .event_type("crm.contact.updated")
        .source_system("crm")
        .payload(json!({}))
        .extension("tenant", "acme")
        .extension("priority", 3)
        .extension("replay", true)
        .traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .tracestate("vendor=abc")
        .build()
        .unwrap();
    assert_eq!(built.extensions().len(), 5);
    let wire = written(&built.to_received());
    assert_eq!(wire["priority"], 3);
    assert_eq!(wire["replay"], true);

    let refused = |name: &str, value: ExtensionValue| {
        Envelope::builder()
            .event_id("evt-1")
            .event_type("t")
            .source_system("s")
            .payload(())
            .extension(name, value)
            .build()
            .unwrap_err()
    };
    assert!(matches!(
        refused("trace-id", "x".into()),
        EnvelopeError::ExtensionName { .. }
    ));
    assert!(matches!(
        refused("subject", "x".into()),
        EnvelopeError::ReservedExtension { .. }
    ));
    assert!(matches!(
        refused("data_base64", "x".into()),
        EnvelopeError::ExtensionName { .. }
    ));
    for bad in [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
    ] {
        assert!(
            matches!(
                refused("traceparent", bad.into()),
                EnvelopeError::TraceContext { .. }
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        refused("traceparent", 5.into()),
        EnvelopeError::TraceContext { .. }
    ));
    for bad in ["novalue", "Upper=1", "k=has=equals", "k=é"] {
        let error = Envelope::builder()
            .event_id("evt-1")
            .event_type("t")
            .source_system("s")
            .payload(())
            .tracestate(bad)
            .build();
        assert!(
            matches!(error, Err(EnvelopeError::TraceContext { .. })),
            "{bad}: {error:?}"
        );
    }
    // A future version may add fields after the flags.
    let future = Envelope::builder()
        .event_id("evt-1")
        .event_type("t")
        .source_system("s")
        .payload(())
        .traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future")
        .build();
    assert!(future.is_ok(), "{future:?}");
}

#[test]
fn trace_context_is_kept_through_every_transition_and_form() {
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let envelope = Envelope::builder()
        .event_id("evt-1")
        .event_type("t")
        .source_system("s")
        .payload(json!({ "n": 1 }))
        .created_at(common::start())
        .traceparent(traceparent)
        .build()
        .unwrap();
    let retrying = match envelope
        .dispatch_at(common::at(1))
        .fail_at("503", common::at(2))
    {
        integration_automation_patterns::FailOutcome::Retry(retrying) => retrying,
        other => panic!("{other:?}"),
    };
    assert_eq!(retrying.traceparent(), Some(traceparent));
    let stored = serde_json::to_value(&retrying).unwrap();
    let back: AnyEnvelope = serde_json::from_value(stored).unwrap();
    assert_eq!(back.traceparent(), Some(traceparent));
    let processed = retrying
        .dispatch_at(common::at(40))
        .process_at(common::at(41));
    assert_eq!(processed.traceparent(), Some(traceparent));
    let wire = written(&processed.to_received());
    assert_eq!(wire["traceparent"], traceparent);
}

#[test]
fn a_stored_history_is_checked_strictly() {
    let stored = serde_json::to_value(AnyEnvelope::from(common::retrying())).unwrap();
    let refused = |edit: &dyn Fn(&mut Value)| {
        let mut document = stored.clone();
        edit(&mut document);
        refusal(&document)
    };
    assert_eq!(
        refused(&|d| d["_delivery"]["history"][1]["at"] = json!("2026-03-01T09:29:00Z")),
        "history entry 1 is at 2026-03-01 09:29:00 UTC, before 2026-03-01 09:30:01 UTC, the time before it"
    );
    assert_eq!(
        refused(&|d| d["_delivery"]["history"][0]["at"] = json!("2026-03-01T09:00:00Z")),
        "history entry 0 is at 2026-03-01 09:00:00 UTC, before 2026-03-01 09:30:00 UTC, the time before it"
    );
    assert_eq!(
        refused(&|d| d["_delivery"]["history"][0]["reason"] = json!("")),
        "history entry 0 (to `dispatched`) has no reason"
    );
    let processed = serde_json::to_value(AnyEnvelope::from(common::processed())).unwrap();
    let mut with_reason = processed.clone();
    with_reason["_delivery"]["history"][2]["reason"] = json!("because");
    assert_eq!(
        refusal(&with_reason),
        "history entry 2 (to `processed`) has a reason, which only failures, skips, redrives and dispatches carry"
    );
    assert_eq!(
        refused(&|d| d["_delivery"]["history"][1]["reason"] = json!("")),
        "history entry 1 (to `retrying`) has no reason"
    );
    let text = serde_json::to_string(&stored).unwrap();
    let duplicated_tag = text.replacen(
        "\"_delivery\":{",
        "\"_delivery\":{\"tags\":{\"a\":\"1\",\"a\":\"2\"},",
        1,
    );
    let error = serde_json::from_str::<AnyEnvelope>(&duplicated_tag).unwrap_err();
    assert!(
        error.to_string().starts_with("`tag \"a\"` appears twice"),
        "{error}"
    );
    let duplicated_status = text.replacen(
        "\"_delivery\":{",
        "\"_delivery\":{\"status\":\"failed\",",
        1,
    );
    let error = serde_json::from_str::<AnyEnvelope>(&duplicated_status).unwrap_err();
    assert!(
        error.to_string().starts_with("duplicate field `status`"),
        "{error}"
    );
}

#[test]
fn the_lifecycle_never_writes_a_history_it_would_refuse() {
    // A clock that goes back, and an empty reason.
    let envelope = common::pending().dispatch_at(common::at(10));
    let retrying = match envelope.fail_at("", common::at(5)) {
        integration_automation_patterns::FailOutcome::Retry(retrying) => retrying,
        other => panic!("{other:?}"),
    };
    assert_eq!(retrying.history()[1].at(), common::at(10));
    assert_eq!(retrying.failure_reason(), "no reason given");
    let stored = serde_json::to_value(&retrying).unwrap();
    let back: AnyEnvelope = serde_json::from_value(stored).unwrap();
    assert_eq!(back, retrying.into());
    // An event stamped by a clock ahead of ours.
    let early = common::pending().dispatch_at(common::at(-60));
    assert_eq!(early.history()[0].at(), common::start());
}

#[test]
fn hostile_json_is_refused_without_a_panic() {
    use proptest::prelude::*;
    let member = prop_oneof![
        Just("specversion"),
        Just("id"),
        Just("source"),
        Just("type"),
        Just("time"),
        Just("subject"),
        Just("datacontenttype"),
        Just("dataschema"),
        Just("data"),
        Just("data_base64"),
        Just("delivery"),
        Just("_delivery"),
        Just("traceparent"),
        Just("tracestate"),
        Just("x"),
        Just("X-y"),
    ];
    let value = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
        Just(json!("1.0")),
        Just(json!("2026-03-01T09:30:00Z")),
        Just(json!({ "status": "pending", "attempts": 0 })),
        Just(json!([1, 2, 3])),
    ];
    let events = proptest::collection::vec((member, value), 0..14);
    proptest!(ProptestConfig::with_cases(2000), |(members in events)| {
        let object: serde_json::Map<String, Value> = members
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        let event = Value::Object(object);
        let _ = serde_json::from_value::<AnyEnvelope>(event.clone());
        let _ = serde_json::from_value::<Envelope<Pending, Vec<u8>>>(event.clone());
        let _ = serde_json::from_value::<Envelope<Pending, String>>(event);
    });
}

#[test]
fn the_ordering_key_is_the_partitioning_extension_in_every_form() {
    let event = Envelope::builder()
        .event_id("contact-42-updated")
        .event_type("crm.contact.updated")
        .source_system("crm")
        .payload(json!({ "contact_id": 42 }))
        .ordering_key("contact-42")
        .build()
        .unwrap();
    assert_eq!(event.ordering_key(), Some("contact-42"));
    let wire = written(&event);
    assert_eq!(wire["partitionkey"], "contact-42");
    let received: Envelope<Pending, Value> = read(&wire);
    assert_eq!(received.ordering_key(), Some("contact-42"));
    let stored = serde_json::to_value(AnyEnvelope::from(event)).unwrap();
    let stored: AnyEnvelope = serde_json::from_value(stored).unwrap();
    assert_eq!(stored.ordering_key(), Some("contact-42"));

    let mut numbered = wire.clone();
    numbered["partitionkey"] = json!(42);
    assert_eq!(refusal(&numbered), "partitionkey 42 must be a string");
    let refused = |key: &str| {
        Envelope::builder()
            .event_id("contact-42-updated")
            .event_type("crm.contact.updated")
            .source_system("crm")
            .payload(json!({}))
            .ordering_key(key)
            .build()
            .unwrap_err()
            .to_string()
    };
    assert_eq!(refused(""), "ordering_key must not be empty");
    assert!(
        refused("contact\n42").contains("control character"),
        "{}",
        refused("contact\n42")
    );
}

#[test]
fn the_specifications_type_rules_are_kept_on_reading_and_building() {
    let event = |member: &str, value: Value| {
        let mut event = json!({ "specversion": "1.0", "id": "e", "source": "s", "type": "t" });
        event[member] = value;
        event
    };
    let refusal = |event: &Value| {
        serde_json::from_value::<AnyEnvelope>(event.clone())
            .unwrap_err()
            .to_string()
    };
    for (event, refused) in [
        (
            event("count", json!(2_147_483_648_i64)),
            "a CloudEvents integer is 32 bits",
        ),
        (
            event("count", json!(-2_147_483_649_i64)),
            "a CloudEvents integer is 32 bits",
        ),
        (
            event("subject", json!("a\u{fffe}b")),
            "contains the noncharacter '\\u{fffe}' at byte 1",
        ),
        (
            event("note", json!("a\u{0}b")),
            "which a CloudEvents string may not",
        ),
        (
            event("note", json!("a\u{fdd0}")),
            "which a CloudEvents string may not",
        ),
        (
            event("dataschema", json!("schemas/x.json")),
            "is not an absolute URI",
        ),
        (
            event("dataschema", json!("https://x/a b")),
            "has no place in a URI",
        ),
        (
            event("time", json!("2026-03-01 09:30:00Z")),
            "date and time are separated by `T`",
        ),
    ] {
        let message = refusal(&event);
        assert!(message.contains(refused), "{event}: {message}");
    }
    for fine in [
        event("count", json!(2_147_483_647)),
        event("count", json!(-2_147_483_648_i64)),
        event("dataschema", json!("urn:example:schema")),
        event(
            "dataschema",
            json!("https://schemas.example.com/contact%20v2.json"),
        ),
        event("time", json!("2026-03-01t09:30:00z")),
    ] {
        assert!(
            serde_json::from_value::<AnyEnvelope>(fine.clone()).is_ok(),
            "{fine}"
        );
    }
    // The builder keeps the same rules.
    let built = Envelope::builder()
        .event_id("e")
        .event_type("t")
        .source_system("s")
        .payload(())
        .extension("count", 1_i64 << 40)
        .build();
    assert!(matches!(built, Err(EnvelopeError::ExtensionValue { .. })));
}

#[test]
fn a_source_is_a_uri_reference_where_an_event_is_built_or_received() {
    let received = |source: &str| {
        let event = json!({ "specversion": "1.0", "id": "e", "source": source, "type": "t" });
        Envelope::<Pending>::from_json(event.to_string().as_bytes())
    };
    let built = |source: &str| {
        Envelope::builder()
            .event_id("e")
            .event_type("t")
            .source_system(source)
            .payload(())
            .build()
    };
    for (source, refused) in [
        ("not a uri ref", "' ' at byte 3 has no place in a URI"),
        ("C:\\crm", "'\\\\' at byte 2 has no place in a URI"),
        (
            "crm%zz",
            "the `%` at byte 3 is not followed by two hex digits",
        ),
        ("a#b#c", "more than one `#`"),
        ("1crm:x", "\"1crm\" before the first `:` is no scheme"),
        (":crm", "\"\" before the first `:` is no scheme"),
        ("/crm/[1]", "`[` and `]` appear only around an IP address"),
        ("zoë", "'ë' at byte 2 has no place in a URI"),
        ("http://host:port/", "the port \"port\" is not digits"),
        ("http://a:b:c/", "the port \"b:c\" is not digits"),
        ("http://a@b@c/", "the user information \"a@b\" holds a `@`"),
        ("http://[::1", "the IP literal in \"[::1\" has no `]`"),
        (
            "http://a]b/",
            "`[` and `]` appear only around an IP address",
        ),
        ("http://[::1]x/", "\"x\" follows the IP literal"),
        (
            "http://user[x]@h/",
            "the user information \"user[x]\" holds",
        ),
    ] {
        let message = received(source).unwrap_err().to_string();
        assert!(
            message.contains("is not a URI reference") && message.contains(refused),
            "{source}: {message}"
        );
        let error = built(source).unwrap_err();
        assert!(
            matches!(&error, EnvelopeError::NotAUriReference { value, .. } if value == source),
            "{source}: {error}"
        );
    }
    for source in [
        "crm",
        "/crm/contacts",
        "https://crm.example.com/contacts?region=emea#top",
        "urn:example:crm",
        "//crm.example.com:8080/a",
        "http://[2001:db8::1]/crm",
        "crm%20eu",
        "./a:b",
        "mailto:ops@example.com",
        // RFC 3986, section 5.4: every reference of its examples.
        "g:h",
        "g",
        "./g",
        "g/",
        "/g",
        "//g",
        "?y",
        "g?y",
        "#s",
        "g#s",
        "g?y#s",
        ";x",
        "g;x",
        "g;x?y#s",
        "",
        ".",
        "./",
        "..",
        "../",
        "../g",
        "../..",
        "../../g",
        "http:g",
        "http://user:pass@[v7.fe80::1]:8080/a?b#c",
        "http://h:/",
        "tel:+1-816-555-1212",
    ]
    .into_iter()
    .filter(|source| !source.is_empty())
    {
        assert_eq!(received(source).unwrap().source_system(), source);
        assert_eq!(built(source).unwrap().source_system(), source);
    }
    // A dataschema is held to the same grammar where an event is received;
    // a stored row only to what rows were held to before (a URI's
    // characters and a scheme), so that what a store admitted still reads.
    for schema in ["https://example.com/s?v=[1]", "https://example.com/s#a#b"] {
        let event = json!({ "specversion": "1.0", "id": "e", "source": "s", "type": "t",
            "dataschema": schema });
        let refused = Envelope::<Pending>::from_json(event.to_string().as_bytes()).unwrap_err();
        assert!(
            refused.to_string().contains("is not an absolute URI"),
            "{refused}"
        );
        assert_eq!(read::<Value>(&event).data_schema(), Some(schema));
    }
    // A stored row is not held to the rule: what a store admitted before it
    // still reads.
    let stored = json!({ "specversion": "1.0", "id": "e", "source": "CRM System", "type": "t" });
    assert_eq!(
        read::<Value>(&stored).source_system(),
        "CRM System",
        "a stored row's source is read as it was written"
    );
}

#[test]
fn correlationid_and_schemaversion_of_another_type_or_empty_are_kept_as_plain_extensions() {
    let event = |correlation: Value, schema: Value| {
        json!({
            "specversion": "1.0", "id": "e", "source": "s", "type": "t",
            "correlationid": correlation, "schemaversion": schema,
        })
    };
    for (correlation, schema) in [
        (json!(42), json!(true)),
        (json!(""), json!("")),
        (json!(false), json!(2)),
    ] {
        let sent = event(correlation.clone(), schema.clone());
        let envelope = Envelope::<Pending>::from_json(sent.to_string().as_bytes())
            .unwrap_or_else(|error| panic!("{sent}: {error}"));
        assert_eq!(envelope.correlation_id(), None, "{sent}");
        assert_eq!(envelope.schema_version(), "1.0", "{sent}");
        assert_eq!(
            serde_json::to_value(envelope.extension("correlationid")).unwrap(),
            correlation
        );
        assert_eq!(
            serde_json::to_value(envelope.extension("schemaversion")).unwrap(),
            schema
        );
        // Written back as they came, and so read again.
        assert_eq!(written(&envelope), sent);
        assert_eq!(read::<Value>(&written(&envelope)), envelope);
    }
    // A non-empty string is the crate's own, as before.
    let own =
        Envelope::<Pending>::from_json(event(json!("req-7"), json!("2.0")).to_string().as_bytes())
            .unwrap();
    assert_eq!(own.correlation_id(), Some("req-7"));
    assert_eq!(own.schema_version(), "2.0");
    assert!(own.extensions().is_empty());
    // Another type is still held to the extension rules.
    let wide = event(json!(1_i64 << 40), Value::Null);
    let message = Envelope::<Pending>::from_json(wide.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("a CloudEvents integer is 32 bits"),
        "{message}"
    );
    // The builder keeps the names to their own setters.
    let built = Envelope::builder()
        .event_id("e")
        .event_type("t")
        .source_system("s")
        .payload(())
        .extension("correlationid", 5)
        .build();
    assert!(matches!(
        built,
        Err(EnvelopeError::ReservedExtension { name }) if name == "correlationid"
    ));
}

#[test]
fn a_time_keeps_the_offset_it_came_with_in_every_form() {
    use integration_automation_patterns::envelope::Binding;
    let sent = json!({
        "specversion": "1.0", "id": "e", "source": "s", "type": "t",
        "time": "2026-03-01T11:30:00.123+02:00",
    });
    let envelope = Envelope::<Pending>::from_json(sent.to_string().as_bytes()).unwrap();
    let time = envelope.time().unwrap();
    assert_eq!(time.offset().local_minus_utc(), 2 * 3600);
    assert_eq!(
        envelope.created_at().unwrap().to_rfc3339(),
        "2026-03-01T09:30:00.123+00:00",
        "created_at is the same instant in UTC"
    );
    assert_eq!(written(&envelope), sent, "structured mode");
    for binding in [Binding::Http, Binding::Kafka, Binding::Nats, Binding::Amqp] {
        let message = envelope.to_binary(binding).unwrap();
        let time = message
            .headers
            .iter()
            .find(|(name, _)| name.ends_with("time"))
            .map(|(_, value)| value.as_str());
        // No character of a time is percent-encoded.
        assert_eq!(time, Some("2026-03-01T11:30:00.123+02:00"), "{binding:?}");
        let back =
            Envelope::<Pending>::from_message(binding, &message.headers, &message.body).unwrap();
        // Compared as text: times compare as instants, whatever their offsets.
        assert_eq!(
            back.time().map(|time| time.to_rfc3339()),
            envelope.time().map(|time| time.to_rfc3339()),
            "{binding:?}"
        );
        assert_eq!(written(&back), sent, "{binding:?}");
    }
    let stored = serde_json::to_value(&envelope).unwrap();
    assert_eq!(stored["time"], sent["time"], "the storage form");
    // The builder takes a time in any zone, and writes its offset.
    let offset = chrono::FixedOffset::west_opt(5 * 3600).unwrap();
    let built = Envelope::builder()
        .event_id("e")
        .event_type("t")
        .source_system("s")
        .payload(())
        .created_at(chrono::DateTime::parse_from_rfc3339("2026-03-01T04:30:00-05:00").unwrap())
        .build()
        .unwrap();
    assert_eq!(built.time().unwrap().offset(), &offset);
    assert_eq!(written(&built)["time"], "2026-03-01T04:30:00-05:00");
}

#[test]
fn raw_json_keeps_every_number_as_written_in_every_form() {
    use integration_automation_patterns::envelope::{Binding, RawJson};
    let data = r#"{"big":12345678901234567890123,"money":0.1000000000000000055511151231257827,"n":[1.0,-0,2e400]}"#;
    let event = format!(
        r#"{{"specversion":"1.0","id":"e","source":"/erp","type":"t","datacontenttype":"application/json","data":{data}}}"#
    );
    let envelope = Envelope::<Pending, RawJson>::from_json(event.as_bytes()).unwrap();
    assert_eq!(envelope.payload().as_str(), data);
    assert_eq!(
        serde_json::to_string(&envelope.to_cloudevent()).unwrap(),
        event,
        "structured mode"
    );
    for binding in [Binding::Http, Binding::Kafka, Binding::Nats, Binding::Amqp] {
        let message = envelope.to_binary(binding).unwrap();
        assert_eq!(message.body, data.as_bytes(), "{binding:?}");
        let back: Envelope<Pending, RawJson> =
            Envelope::from_message(binding, &message.headers, &message.body).unwrap();
        assert_eq!(back, envelope, "{binding:?}");
    }
    // The storage form, as the stores read it.
    let stored = serde_json::to_string(&envelope).unwrap();
    let back = AnyEnvelope::<RawJson>::from_storage_json(stored.as_bytes()).unwrap();
    assert_eq!(
        Envelope::try_from(back).unwrap(),
        envelope,
        "the storage form"
    );
    // serde's `Deserialize`, which must read any format and work inside any
    // type, reads data through a `Value`, and so rounds: say so.
    let through_value = stored.replace(",2e400", "");
    let back: Envelope<Pending, RawJson> = serde_json::from_str(&through_value).unwrap();
    assert!(back.payload().as_str().contains("1.2345678901234568e+22"));
    // A `Value` rounds what an f64 cannot hold, as the README says.
    let rounded = Envelope::<Pending>::from_json(event.as_bytes());
    assert!(
        rounded.is_err(),
        "2e400 is past f64: a Value refuses it ({rounded:?})"
    );
    let without_overflow = event.replace(",2e400", "");
    let value = Envelope::<Pending>::from_json(without_overflow.as_bytes()).unwrap();
    assert_eq!(value.payload()["big"].to_string(), "1.2345678901234568e+22");
    // Built from text, it is checked to be JSON.
    assert!(RawJson::from_text("{\"a\": 1").is_err());
    assert_eq!(
        RawJson::from_text("[1, 2]")
            .unwrap()
            .parse::<Vec<u8>>()
            .unwrap(),
        [1, 2]
    );
}
