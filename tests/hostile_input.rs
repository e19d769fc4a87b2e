//! What a sender may not make a receiver do: read a forged event out of
//! another event's data, set the receiver's delivery record, hand bytes to a
//! payload type that did not ask for them, or make a reader hold more than a
//! small multiple of the message or read past its limits.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::{
    Binding, ContentMode, FormatError, ReadLimits, WireError,
};
use integration_automation_patterns::state::Pending;
use serde::Deserialize;
use serde_json::{Value, json};

const BINDINGS: [Binding; 4] = [Binding::Http, Binding::Kafka, Binding::Nats, Binding::Amqp];

/// The event an attacker wants admitted.
fn forged() -> Value {
    json!({
        "specversion": "1.0", "id": "forged-99", "source": "/payments",
        "type": "payment.approved", "data": { "amount": 1_000_000 }
    })
}

/// A legal event whose data is the forged event: an audit line of events.
fn audit_event() -> Envelope<Pending> {
    Envelope::builder()
        .event_id("audit-1")
        .event_type("audit.event.seen")
        .source_system("/audit")
        .payload(forged())
        .data_content_type("application/cloudevents+json")
        .build()
        .unwrap()
}

fn read(
    binding: Binding,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Envelope<Pending>, FormatError> {
    Envelope::from_message(binding, headers, body)
}

#[test]
fn an_event_whose_data_is_a_cloudevent_is_not_written_in_binary_mode() {
    let audit = audit_event();
    assert!(audit.data_is_cloudevent());
    for binding in BINDINGS {
        let refused = audit.to_binary(binding).unwrap_err();
        assert!(
            matches!(&refused, WireError::StructuredOnly { content_type, .. } if content_type == "application/cloudevents+json"),
            "{binding:?}: {refused}"
        );
        assert!(refused.to_string().contains("structured mode"), "{refused}");
    }
    assert!(matches!(
        audit.to_http(ContentMode::Binary),
        Err(WireError::StructuredOnly { .. })
    ));
    // In structured mode it reads back as itself, its data the forged event.
    let (headers, body) = audit.to_http(ContentMode::Structured).unwrap();
    let back: Envelope<Pending> = Envelope::from_http(&headers, &body).unwrap();
    assert_eq!(back.event_id(), "audit-1");
    assert_eq!(back.source_system(), "/audit");
    assert_eq!(back.payload(), &forged());
    assert_eq!(back, audit.to_received());
}

#[test]
fn every_cloudevents_format_is_structured_only_and_lookalikes_are_not() {
    let with_content_type = |content_type: &str| {
        Envelope::builder()
            .event_id("e")
            .event_type("t")
            .source_system("s")
            .payload(json!({}))
            .data_content_type(content_type)
            .build()
            .unwrap()
    };
    for content_type in [
        "application/cloudevents+json",
        "Application/CloudEvents+JSON; charset=utf-8",
        "application/cloudevents-batch+json",
        "application/cloudevents+avro",
        "application/cloudevents",
    ] {
        assert!(
            with_content_type(content_type).data_is_cloudevent(),
            "{content_type}"
        );
    }
    for content_type in [
        "application/cloudevents-test+json",
        "application/json",
        "application/cloudeventsx+json",
    ] {
        let event = with_content_type(content_type);
        assert!(!event.data_is_cloudevent(), "{content_type}");
        assert!(event.to_binary(Binding::Http).is_ok(), "{content_type}");
    }
}

#[test]
fn a_message_in_binary_and_structured_mode_at_once_is_refused_on_every_binding() {
    let forged_body = serde_json::to_vec(&forged()).unwrap();
    for binding in BINDINGS {
        // The shape the forgery took: the audit event's attributes as
        // headers, and its data, a whole event, under a CloudEvents type.
        let prefix = match binding {
            Binding::Http | Binding::Nats => "ce-",
            Binding::Kafka => "ce_",
            Binding::Amqp => "cloudEvents_",
        };
        let content_type = match binding {
            Binding::Nats => "ce-datacontenttype",
            _ => "content-type",
        };
        let mut headers: Vec<(String, String)> = [
            ("specversion", "1.0"),
            ("id", "audit-1"),
            ("source", "/audit"),
            ("type", "audit.event.seen"),
        ]
        .iter()
        .map(|(name, value)| (format!("{prefix}{name}"), (*value).to_owned()))
        .collect();
        headers.push((
            content_type.to_owned(),
            "application/cloudevents+json".into(),
        ));
        let refused = read(binding, &headers, &forged_body).unwrap_err();
        assert_eq!(
            refused.attribute(),
            Some(content_type),
            "{binding:?}: {refused}"
        );
        assert!(
            refused
                .to_string()
                .contains("binary and structured mode at once"),
            "{binding:?}: {refused}"
        );
        // One attribute header is enough to make it binary.
        let one = vec![
            (format!("{prefix}id"), "audit-1".to_owned()),
            (
                content_type.to_owned(),
                "application/cloudevents+json".to_owned(),
            ),
        ];
        assert!(read(binding, &one, &forged_body).is_err(), "{binding:?}");
        // The event alone, in structured mode, is the forged event: that is
        // what structured mode means.
        let structured = vec![(
            content_type.to_owned(),
            "application/cloudevents+json".to_owned(),
        )];
        assert_eq!(
            read(binding, &structured, &forged_body).unwrap().event_id(),
            "forged-99"
        );
    }
}

#[test]
fn a_received_event_cannot_carry_a_delivery_record() {
    let event = Envelope::builder()
        .event_id("e")
        .event_type("t")
        .source_system("s")
        .payload(json!(1))
        .build()
        .unwrap();
    // The storage form, its retry budget raised by the sender.
    let mut stored = serde_json::to_value(&event).unwrap();
    stored["_delivery"]["policy"]["max_attempts"] = json!(1_000_000);
    let body = serde_json::to_vec(&stored).unwrap();
    for binding in BINDINGS {
        let content_type = match binding {
            Binding::Nats => "ce-datacontenttype",
            _ => "content-type",
        };
        let headers = [(content_type, "application/cloudevents+json")];
        let refused = Envelope::<Pending>::from_message(binding, &headers, &body).unwrap_err();
        assert_eq!(
            refused.attribute(),
            Some("_delivery"),
            "{binding:?}: {refused}"
        );
    }
    // A malformed one is refused by name too, without being read.
    let mut junk = serde_json::to_value(event.to_cloudevent()).unwrap();
    junk["_delivery"] = json!("junk");
    let refused = Envelope::<Pending>::from_json(&serde_json::to_vec(&junk).unwrap()).unwrap_err();
    assert_eq!(refused.attribute(), Some("_delivery"), "{refused}");
    // The reader of a received JSON event refuses it too, and a key past its
    // limit; the storage reader (serde) is for what a store wrote.
    let refused = Envelope::<Pending>::from_json(&body).unwrap_err();
    assert_eq!(refused.attribute(), Some("_delivery"));
    let mut long_id = serde_json::to_value(event.to_cloudevent()).unwrap();
    long_id["id"] = json!("k".repeat(5000));
    let refused = Envelope::<Pending>::from_json(&serde_json::to_vec(&long_id).unwrap());
    assert_eq!(refused.unwrap_err().attribute(), Some("id"));
    assert!(serde_json::from_slice::<Envelope<Pending>>(&body).is_ok());
}

#[test]
fn an_extension_named_delivery_is_an_ordinary_extension_in_every_form() {
    let event = Envelope::builder()
        .event_id("e")
        .event_type("t")
        .source_system("s")
        .payload(json!({ "n": 1 }))
        .extension("delivery", "express")
        .build()
        .unwrap();
    let stored = serde_json::to_string(&event).unwrap();
    let back: Envelope<Pending> = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, event);
    for binding in BINDINGS {
        let message = event.to_binary(binding).unwrap();
        let back =
            Envelope::<Pending>::from_message(binding, &message.headers, &message.body).unwrap();
        assert_eq!(back, event.to_received(), "{binding:?}");
    }
    let wire = serde_json::to_vec(&event.to_cloudevent()).unwrap();
    let back = Envelope::<Pending>::from_message(
        Binding::Http,
        &[("content-type", "application/cloudevents+json")],
        &wire,
    )
    .unwrap();
    assert_eq!(
        back.extension("delivery").and_then(|v| v.as_str()),
        Some("express")
    );
}

#[derive(Debug, PartialEq, Deserialize)]
struct Contact {
    contact_id: i64,
}

fn binary_headers(content_type: Option<&str>) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = [
        ("ce-specversion", "1.0"),
        ("ce-id", "contact-1"),
        ("ce-source", "/crm"),
        ("ce-type", "crm.contact.created"),
    ]
    .iter()
    .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
    .collect();
    if let Some(content_type) = content_type {
        headers.push(("content-type".into(), content_type.into()));
    }
    headers
}

#[test]
fn a_body_without_a_content_type_is_json_in_binary_mode_as_in_structured_mode() {
    let body = br#"{"contact_id": 42}"#;
    let contact: Envelope<Pending, Contact> =
        Envelope::from_message(Binding::Http, &binary_headers(None), body).unwrap();
    assert_eq!(contact.payload(), &Contact { contact_id: 42 });
    let value: Envelope<Pending> =
        Envelope::from_message(Binding::Http, &binary_headers(None), body).unwrap();
    assert_eq!(value.payload(), &json!({ "contact_id": 42 }));
    let refused = Envelope::<Pending, Contact>::from_message(
        Binding::Http,
        &binary_headers(None),
        b"\x00\x01 not json",
    )
    .unwrap_err();
    assert_eq!(refused.attribute(), Some("data"));
    assert!(
        refused
            .to_string()
            .contains("without a content type is JSON"),
        "{refused}"
    );
}

#[test]
fn bytes_reach_only_a_payload_type_that_asks_for_bytes() {
    let body = br#"{"contact_id": 42}"#;
    let headers = binary_headers(Some("application/octet-stream"));
    let refused =
        Envelope::<Pending, Contact>::from_message(Binding::Http, &headers, body).unwrap_err();
    assert!(refused.to_string().contains("byte array"), "{refused}");
    assert!(Envelope::<Pending, String>::from_message(Binding::Http, &headers, body).is_err());
    assert!(Envelope::<Pending, i64>::from_message(Binding::Http, &headers, body).is_err());
    let bytes: Envelope<Pending, Vec<u8>> =
        Envelope::from_message(Binding::Http, &headers, body).unwrap();
    assert_eq!(bytes.payload(), body);
    let array: Envelope<Pending, [u8; 18]> =
        Envelope::from_message(Binding::Http, &headers, body).unwrap();
    assert_eq!(array.payload(), body);
    let optional: Envelope<Pending, Option<Vec<u8>>> =
        Envelope::from_message(Binding::Http, &headers, body).unwrap();
    assert_eq!(optional.payload().as_deref(), Some(&body[..]));
}

#[test]
fn binary_data_in_a_value_is_its_base64_text_and_goes_out_as_the_same_bytes() {
    let body: Vec<u8> = (0..=255u8).cycle().take(2 * 1024 * 1024 - 1).collect();
    let headers = binary_headers(Some("application/octet-stream"));
    let received: Envelope<Pending> =
        Envelope::from_message(Binding::Http, &headers, &body).unwrap();
    // Held as text four thirds of the body's size, not as a JSON array of
    // numbers some thirty times it.
    let Value::String(text) = received.payload() else {
        panic!(
            "binary data in a Value is base64 text: {:?}",
            received.payload()
        );
    };
    assert_eq!(text.len(), body.len().div_ceil(3) * 4);
    assert_eq!(BASE64.decode(text).unwrap(), body);
    // It goes out as the same bytes, in binary mode and in the stored form.
    let message = received.to_binary(Binding::Http).unwrap();
    assert_eq!(message.body, body);
    let stored = serde_json::to_value(&received).unwrap();
    assert_eq!(stored["data_base64"], json!(text));
    // A Vec<u8> payload and a Value holding the array of its numbers go out
    // as the same bytes.
    for payload in [json!([1, 2, 255]), json!(BASE64.encode([1, 2, 255]))] {
        let event = Envelope::builder()
            .event_id("e")
            .event_type("t")
            .source_system("s")
            .payload(payload)
            .data_content_type("application/octet-stream")
            .build()
            .unwrap();
        assert_eq!(event.to_binary(Binding::Kafka).unwrap().body, [1, 2, 255]);
    }
    // What is no bytes is refused, saying what a binary payload must be.
    for payload in [json!([1, 256]), json!({ "a": 1 }), json!("not base64!")] {
        let event = Envelope::builder()
            .event_id("e")
            .event_type("t")
            .source_system("s")
            .payload(payload.clone())
            .data_content_type("application/octet-stream")
            .build()
            .unwrap();
        let refused = event.to_binary(Binding::Kafka).unwrap_err();
        assert!(
            matches!(refused, WireError::Payload { form: "binary", .. }),
            "{payload}: {refused}"
        );
    }
}

#[test]
fn each_limit_refuses_the_message_past_it_and_names_the_limit() {
    let limits = ReadLimits::default()
        .members(20)
        .headers(10)
        .body_bytes(1000);
    let mut event = json!({ "specversion": "1.0", "id": "e", "source": "s", "type": "t" });
    for n in 0..16 {
        event[format!("x{n}")] = json!(n);
    }
    let at_limit = serde_json::to_vec(&event).unwrap();
    let structured = [("content-type", "application/cloudevents+json")];
    assert!(
        Envelope::<Pending>::from_message_within(&limits, Binding::Http, &structured, &at_limit)
            .is_ok()
    );
    event["x16"] = json!(16);
    let past = serde_json::to_vec(&event).unwrap();
    let refused =
        Envelope::<Pending>::from_message_within(&limits, Binding::Http, &structured, &past)
            .unwrap_err();
    assert_eq!(
        refused,
        FormatError::Limit {
            what: "members",
            limit: 20
        }
    );
    assert_eq!(
        refused.to_string(),
        "the message has more than 20 members, the most this reader reads"
    );

    let mut headers = binary_headers(None);
    headers.extend((0..6).map(|n| (format!("x-other-{n}"), "v".to_owned())));
    assert!(
        Envelope::<Pending>::from_message_within(&limits, Binding::Http, &headers, b"1").is_ok()
    );
    headers.push(("x-other-6".into(), "v".into()));
    assert_eq!(
        Envelope::<Pending>::from_message_within(&limits, Binding::Http, &headers, b"1")
            .unwrap_err(),
        FormatError::Limit {
            what: "headers",
            limit: 10
        }
    );

    let body = vec![b' '; 1001];
    assert_eq!(
        Envelope::<Pending>::from_message_within(
            &limits,
            Binding::Http,
            &binary_headers(None),
            &body
        )
        .unwrap_err(),
        FormatError::Limit {
            what: "bytes of body",
            limit: 1000
        }
    );
}

#[test]
fn a_member_twice_among_many_is_found_wherever_it_is() {
    // Tens of thousands of members, read by the stored-row reader (which
    // has no member limit) and by a received-message reader allowed them:
    // the duplicate is found at the end as at the start.
    let many = 50_000;
    let mut text = String::from(r#"{"specversion":"1.0","id":"e","source":"s","type":"t""#);
    for n in 0..many {
        text.push_str(&format!(r#","x{n}":{n}"#));
    }
    let unique = format!("{text}}}");
    let twice = format!(r#"{text},"x{}":0}}"#, many - 1);
    let limits = ReadLimits::default().members(many + 10);
    let structured = [("content-type", "application/cloudevents+json")];
    let read = |json: &str| {
        Envelope::<Pending>::from_message_within(
            &limits,
            Binding::Http,
            &structured,
            json.as_bytes(),
        )
    };
    assert_eq!(read(&unique).unwrap().extensions().len(), many);
    assert_eq!(
        read(&twice).unwrap_err(),
        FormatError::DuplicateMember(format!("x{}", many - 1))
    );
    assert!(serde_json::from_str::<Envelope<Pending>>(&twice).is_err());
    // The same in headers.
    let mut headers = binary_headers(None);
    headers.extend((0..many).map(|n| (format!("ce-x{n}"), n.to_string())));
    headers.push((format!("CE-X{}", many - 1), "0".into()));
    let limits = ReadLimits::default().headers(many + 10);
    let refused = Envelope::<Pending>::from_message_within(&limits, Binding::Http, &headers, b"1")
        .unwrap_err();
    assert_eq!(
        refused,
        FormatError::DuplicateMember(format!("CE-X{}", many - 1))
    );
}

#[test]
fn a_key_longer_than_either_store_admits_is_refused_where_it_is_made_or_received() {
    use integration_automation_patterns::EnvelopeError;
    use integration_automation_patterns::envelope::{Field, MAX_KEY_BYTES};
    let at_limit = "k".repeat(MAX_KEY_BYTES);
    let past = "k".repeat(MAX_KEY_BYTES + 1);
    let build = |id: &str, source: &str, key: &str| {
        Envelope::builder()
            .event_id(id)
            .event_type("t")
            .source_system(source)
            .payload(json!(1))
            .ordering_key(key)
            .build()
    };
    let fine = build(&at_limit, &at_limit, &at_limit).unwrap();
    for (field, built) in [
        (Field::EventId, build(&past, "s", "k")),
        (Field::SourceSystem, build("e", &past, "k")),
        (Field::OrderingKey, build("e", "s", &past)),
    ] {
        assert_eq!(
            built.unwrap_err(),
            EnvelopeError::KeyTooLong {
                field,
                bytes: MAX_KEY_BYTES + 1,
                limit: MAX_KEY_BYTES
            }
        );
    }
    // Received, in either mode, on every binding: refused naming the attribute.
    for binding in BINDINGS {
        let message = fine.to_binary(binding).unwrap();
        assert!(
            Envelope::<Pending>::from_message(binding, &message.headers, &message.body).is_ok()
        );
        for attribute in ["id", "source", "partitionkey"] {
            let mut headers = message.headers.clone();
            for (name, value) in &mut headers {
                if name.ends_with(&format!("_{attribute}"))
                    || name.ends_with(&format!("-{attribute}"))
                    || name.ends_with(&format!(":{attribute}"))
                {
                    *value = past.clone();
                }
            }
            let refused =
                Envelope::<Pending>::from_message(binding, &headers, &message.body).unwrap_err();
            assert_eq!(
                refused.attribute(),
                Some(attribute),
                "{binding:?}: {refused}"
            );
        }
    }
    let mut wire = serde_json::to_value(fine.to_cloudevent()).unwrap();
    wire["id"] = json!(past);
    let refused = Envelope::<Pending>::from_message(
        Binding::Http,
        &[("content-type", "application/cloudevents+json")],
        &serde_json::to_vec(&wire).unwrap(),
    )
    .unwrap_err();
    assert_eq!(refused.attribute(), Some("id"));
    assert!(
        refused.to_string().contains("longer than the 1024 bytes"),
        "{refused}"
    );
}

#[test]
fn received_bytes_without_a_content_type_stay_bytes_when_sent_on_in_binary_mode() {
    // A received structured event: `data_base64` of what looks like JSON, and
    // no datacontenttype.
    let smuggled = BASE64.encode(br#"{"amount":1000000}"#);
    let wire = json!({ "specversion": "1.0", "id": "e", "source": "s", "type": "t",
                       "data_base64": smuggled });
    let received = Envelope::<Pending>::from_message(
        Binding::Http,
        &[("content-type", "application/cloudevents+json")],
        &serde_json::to_vec(&wire).unwrap(),
    )
    .unwrap();
    assert_eq!(received.payload(), &json!(smuggled));
    for binding in BINDINGS {
        let message = received.to_binary(binding).unwrap();
        let forwarded =
            Envelope::<Pending>::from_message(binding, &message.headers, &message.body).unwrap();
        assert_eq!(
            forwarded.payload(),
            &json!(smuggled),
            "{binding:?}: still bytes"
        );
        assert_eq!(
            forwarded.data_content_type(),
            Some("application/octet-stream")
        );
    }
}

#[test]
fn nats_decides_the_content_mode_on_the_decoded_content_type() {
    // `application/cloudevents+json` percent-encoded, beside attribute
    // headers: as much a forgery's shape as the plain one.
    let headers = [
        ("ce-specversion", "1.0"),
        ("ce-id", "audit-1"),
        ("ce-source", "/audit"),
        ("ce-type", "audit.event.seen"),
        ("ce-datacontenttype", "application/cloudevents%2Bjson"),
    ];
    let body = serde_json::to_vec(&forged()).unwrap();
    let refused = Envelope::<Pending>::from_message(Binding::Nats, &headers, &body).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("binary and structured mode at once"),
        "{refused}"
    );
}

#[test]
fn data_nested_past_the_depth_limit_is_refused_in_either_mode() {
    use integration_automation_patterns::envelope::RawJson;
    let deep = |levels: usize| "[".repeat(levels) + &"]".repeat(levels);
    let structured = |data: &str| {
        format!(r#"{{"specversion":"1.0","id":"e","source":"s","type":"t","data":{data}}}"#)
    };
    let limit = FormatError::Limit {
        what: "levels of nesting in the data",
        limit: 127,
    };
    // 127 levels read, as many as a `Value` reads; 128 are refused before
    // any payload type sees them, a `RawJson` too.
    assert!(Envelope::<Pending>::from_json(structured(&deep(127)).as_bytes()).is_ok());
    for levels in [128, 100_000] {
        let event = structured(&deep(levels));
        let refused = Envelope::<Pending, RawJson>::from_json(event.as_bytes()).unwrap_err();
        assert_eq!(refused, limit, "{levels} levels, structured");
        let body = deep(levels);
        let refused = Envelope::<Pending, RawJson>::from_message(
            Binding::Http,
            &binary_headers(Some("application/json")),
            body.as_bytes(),
        )
        .unwrap_err();
        assert_eq!(refused, limit, "{levels} levels, binary");
    }
    // A reader that allows more reads more.
    let deeper = ReadLimits::default().depth(1000);
    let event = structured(&deep(999));
    let read = Envelope::<Pending, RawJson>::from_json_within(&deeper, event.as_bytes()).unwrap();
    assert_eq!(read.payload().as_str().len(), 2 * 999);
}
