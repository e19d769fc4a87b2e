//! Binary content mode for the HTTP, Kafka, NATS and AMQP bindings, both
//! ways: the specification's HTTP examples read, header values are encoded
//! as the binding asks, every event comes back equal (an event whose data is
//! an event, in structured mode only), and a message that is not an event is
//! refused without a panic.

#[path = "support/events.rs"]
mod events;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::{
    BinaryMessage, Binding, ExtensionValue, FormatError, WireError,
};
use integration_automation_patterns::state::Pending;
use proptest::prelude::*;
use serde_json::{Value, json};

const BINDINGS: [Binding; 4] = [Binding::Http, Binding::Kafka, Binding::Nats, Binding::Amqp];

fn read(
    binding: Binding,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Envelope<Pending>, FormatError> {
    Envelope::from_message(binding, headers, body)
}

#[test]
fn the_specification_http_examples_read_as_their_json_events() {
    let common: [(&str, &str); 6] = [
        ("ce-specversion", "1.0"),
        ("ce-type", "com.example.someevent"),
        ("ce-source", "/mycontext"),
        ("ce-time", "2018-04-05T17:31:00Z"),
        ("ce-comexampleextension1", "value"),
        ("ce-comexampleothervalue", "5"),
    ];
    let message = |id: &'static str, content_type: &'static str| {
        let mut headers = common.to_vec();
        headers.push(("ce-id", id));
        headers.push(("content-type", content_type));
        headers
    };
    let xml = read(
        Binding::Http,
        &message("B234-1234-1234", "application/xml"),
        b"<much wow=\"xml\"/>",
    )
    .unwrap();
    assert_eq!(xml.payload(), &json!("<much wow=\"xml\"/>"));
    assert_eq!(
        serde_json::to_value(xml.to_cloudevent()).unwrap(),
        json!({
            "specversion" : "1.0",
            "type" : "com.example.someevent",
            "source" : "/mycontext",
            "id" : "B234-1234-1234",
            "time" : "2018-04-05T17:31:00Z",
            "comexampleextension1" : "value",
            "comexampleothervalue" : "5",
            "datacontenttype" : "application/xml",
            "data" : "<much wow=\"xml\"/>"
        }),
        "binary mode carries every extension as text"
    );
    let object = read(
        Binding::Http,
        &message("C234-1234-1234", "application/json"),
        br#"{ "appinfoA" : "abc", "appinfoB" : 123, "appinfoC" : true }"#,
    )
    .unwrap();
    assert_eq!(object.payload()["appinfoB"], 123);
    let thrift = read(
        Binding::Http,
        &message("A234-1234-1234", "application/vnd.apache.thrift.binary"),
        &[0x80, 0x01, 0x00, 0x01],
    )
    .unwrap();
    // Binary data reads into a `Value` as its base64 text.
    assert_eq!(thrift.payload(), &json!("gAEAAQ=="));

    // The HTTP binding's own example: charset parameter, attributes in any case.
    let webhook = read(
        Binding::Http,
        &[
            ("CE-SpecVersion", "1.0"),
            ("ce-type", "com.example.someevent"),
            ("ce-time", "2018-04-05T03:56:24Z"),
            ("ce-id", "1234-1234-1234"),
            ("ce-source", "/mycontext/subcontext"),
            ("Content-Type", "application/json; charset=utf-8"),
        ],
        br#"{ "order": 7 }"#,
    )
    .unwrap();
    assert_eq!(webhook.payload(), &json!({ "order": 7 }));
    assert_eq!(
        webhook.data_content_type(),
        Some("application/json; charset=utf-8")
    );
}

#[test]
fn http_and_nats_header_values_are_percent_encoded_as_the_binding_says() {
    let envelope = Envelope::builder()
        .event_id("evt 1")
        .event_type("t")
        .source_system("s")
        .payload(json!(1))
        .subject("Euro € 😀")
        .extension("quote", "say \"100%\"")
        .build()
        .unwrap();
    for binding in [Binding::Http, Binding::Nats] {
        let message = envelope.to_binary(binding).unwrap();
        assert_eq!(
            message.header("ce-subject"),
            Some("Euro%20%E2%82%AC%20%F0%9F%98%80")
        );
        assert_eq!(message.header("ce-quote"), Some("say%20%22100%25%22"));
        assert_eq!(message.header("ce-id"), Some("evt%201"));
        let back =
            Envelope::<Pending>::from_message(binding, &message.headers, &message.body).unwrap();
        assert_eq!(back, envelope.to_received());
    }
    let kafka = envelope.to_binary(Binding::Kafka).unwrap();
    assert_eq!(
        kafka.header("ce_subject"),
        Some("Euro € 😀"),
        "Kafka carries UTF-8 as it is"
    );
    assert_eq!(kafka.header("content-type"), Some("application/json"));
    let nats = envelope.to_binary(Binding::Nats).unwrap();
    assert_eq!(nats.header("ce-datacontenttype"), Some("application/json"));
    assert_eq!(nats.header("content-type"), None);
    let amqp = envelope.to_binary(Binding::Amqp).unwrap();
    assert_eq!(amqp.header("cloudEvents_subject"), Some("Euro € 😀"));

    let base: Vec<(&str, &str)> = vec![
        ("ce-specversion", "1.0"),
        ("ce-id", "e"),
        ("ce-source", "s"),
        ("ce-type", "t"),
    ];
    let with = |name: &'static str, value: &'static str| {
        let mut headers = base.clone();
        headers.push((name, value));
        headers
    };
    // A value wholly in double quotes keeps them, as every SDK does.
    let quoted = read(Binding::Http, &with("ce-subject", "\"hello\""), b"").unwrap();
    assert_eq!(quoted.subject(), Some("\"hello\""));
    // A `%` is followed by two hex digits, never a sign.
    assert!(read(Binding::Http, &with("ce-subject", "a%+Ab"), b"").is_err());
    let lower = read(Binding::Http, &with("ce-subject", "caf%c3%a9"), b"").unwrap();
    assert_eq!(lower.subject(), Some("café"));
    let overlong = read(Binding::Http, &with("ce-subject", "%C0%A0"), b"").unwrap_err();
    assert_eq!(
        overlong.to_string(),
        "attribute `subject` is invalid: \"%C0%A0\" decodes to bytes that are not UTF-8"
    );
    let broken = read(Binding::Http, &with("ce-subject", "50%"), b"").unwrap_err();
    assert_eq!(
        broken.to_string(),
        "attribute `subject` is invalid: \"50%\" has a `%` not followed by two hex digits"
    );
}

#[test]
fn amqp_reads_either_prefix_and_structured_messages_read_too() {
    let amqp = read(
        Binding::Amqp,
        &[
            ("cloudEvents:specversion", "1.0"),
            ("cloudEvents:id", "e"),
            ("cloudEvents_source", "s"),
            ("cloudEvents:type", "t"),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(amqp.event_id(), "e");
    assert_eq!(amqp.payload(), &Value::Null, "an empty body is no data");

    let event = json!({ "specversion": "1.0", "id": "e", "source": "s", "type": "t", "data": 5 });
    let body = serde_json::to_vec(&event).unwrap();
    for binding in [Binding::Http, Binding::Kafka, Binding::Amqp] {
        let structured = read(
            binding,
            &[(
                "content-type",
                "application/cloudevents+json; charset=UTF-8",
            )],
            &body,
        )
        .unwrap();
        assert_eq!(structured.payload(), &json!(5));
    }
    let nats = read(Binding::Nats, &[] as &[(&str, &str)], &body).unwrap();
    assert_eq!(
        nats.payload(),
        &json!(5),
        "NATS structured mode has no content type"
    );
}

#[test]
fn a_message_that_is_not_an_event_names_what_is_missing_or_bad() {
    let refused = |headers: &[(&str, &str)], body: &[u8]| {
        read(Binding::Http, headers, body).unwrap_err().to_string()
    };
    assert_eq!(
        refused(&[("content-type", "application/json")], b"{}"),
        "the required attribute `specversion` is missing"
    );
    assert_eq!(
        refused(
            &[
                ("ce-specversion", "1.0"),
                ("ce-source", "s"),
                ("ce-type", "t")
            ],
            b""
        ),
        "the required attribute `id` is missing"
    );
    assert_eq!(
        refused(
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "e"),
                ("ce-id", "f"),
                ("ce-source", "s"),
                ("ce-type", "t")
            ],
            b""
        ),
        "`ce-id` appears twice"
    );
    assert!(
        refused(
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "e"),
                ("ce-source", "s"),
                ("ce-type", "t"),
                ("content-type", "application/json")
            ],
            b"{not json"
        )
        .starts_with("the data does not read as the payload type: the JSON body does not parse"),
    );
    assert_eq!(
        refused(
            &[("content-type", "application/cloudevents-batch+json")],
            b"[]"
        ),
        "attribute `content-type` is invalid: batched events are not read here; read each event of the batch"
    );
    assert_eq!(
        refused(
            &[("content-type", "application/cloudevents+json")],
            b"{\"id\": 5}"
        ),
        "attribute `id` is invalid: expected a string, found 5"
    );
    assert!(
        refused(
            &[("content-type", "application/cloudevents+json")],
            b"[1, 2]"
        )
        .starts_with("the event is not a JSON object: invalid type: sequence"),
    );
}

#[test]
fn extension_values_travel_as_text_in_headers() {
    let envelope = Envelope::builder()
        .event_id("e")
        .event_type("t")
        .source_system("s")
        .payload(json!(null))
        .extension("priority", 3)
        .extension("replay", true)
        .build()
        .unwrap();
    let message = envelope.to_binary(Binding::Kafka).unwrap();
    assert_eq!(message.header("ce_priority"), Some("3"));
    let back =
        Envelope::<Pending>::from_message(Binding::Kafka, &message.headers, &message.body).unwrap();
    assert_eq!(
        back.extension("priority"),
        Some(&ExtensionValue::Text("3".into()))
    );
    assert_eq!(
        back.extension("replay"),
        Some(&ExtensionValue::Text("true".into()))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_event_comes_back_equal_through_every_binding(envelope in events::event()) {
        let received = envelope.to_received();
        for binding in BINDINGS {
            match envelope.to_binary(binding) {
                Ok(message) => {
                    let back = Envelope::<Pending>::from_message(binding, &message.headers, &message.body);
                    prop_assert_eq!(back.as_ref().ok(), Some(&received), "{:?}: {:?}", binding, back);
                    // Times compare as instants: the offset, as text.
                    let offset = |envelope: &Envelope<Pending>| envelope.time().map(|time| time.to_rfc3339());
                    prop_assert_eq!(back.as_ref().ok().and_then(offset), offset(&received));
                }
                // An event whose data is an event is not written in binary
                // mode, where its data would read as the event.
                Err(WireError::StructuredOnly { .. }) => {
                    prop_assert!(envelope.data_is_cloudevent());
                    prop_assert!(!envelope.fits_binary_mode());
                }
                Err(other) => prop_assert!(false, "{:?}: {}", binding, other),
            }
        }
        // Structured mode, as the HTTP sender writes it and as the NATS
        // sender does (no attribute header at all).
        let structured = serde_json::to_vec(&envelope.to_cloudevent()).unwrap();
        for (binding, headers) in [
            (Binding::Http, &[("content-type", "application/cloudevents+json")][..]),
            (Binding::Nats, &[][..]),
        ] {
            let back = Envelope::<Pending>::from_message(binding, headers, &structured);
            prop_assert_eq!(back.as_ref().ok(), Some(&received), "{:?}: {:?}", binding, back);
        }
    }

    #[test]
    fn hostile_messages_are_refused_without_a_panic(
        headers in proptest::collection::vec(
            (prop_oneof![
                Just("ce-specversion".to_owned()), Just("ce-id".to_owned()), Just("ce-source".to_owned()),
                Just("ce-type".to_owned()), Just("ce-time".to_owned()), Just("content-type".to_owned()),
                Just("ce-traceparent".to_owned()), Just("ce_specversion".to_owned()),
                Just("cloudEvents:id".to_owned()), "ce-[a-zA-Z0-9_-]{0,8}",
            ], prop_oneof![Just("1.0".to_owned()), ".{0,20}", "(%[0-9A-Fa-f]{2}|%|[a-z\"\\\\ ]){0,12}"]),
            0..10,
        ),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        for binding in BINDINGS {
            let _ = Envelope::<Pending>::from_message(binding, &headers, &body);
            let _ = Envelope::<Pending, Vec<u8>>::from_message(binding, &headers, &body);
        }
    }
}

#[test]
fn a_message_can_be_built_by_hand() {
    let message = BinaryMessage {
        headers: vec![
            ("ce-specversion".into(), "1.0".into()),
            ("ce-id".into(), "e".into()),
            ("ce-source".into(), "s".into()),
            ("ce-type".into(), "t".into()),
        ],
        body: Vec::new(),
        key: None,
    };
    assert_eq!(message.header("CE-ID"), Some("e"));
    let envelope =
        Envelope::<Pending>::from_message(Binding::Http, &message.headers, &message.body).unwrap();
    assert_eq!(envelope.source_system(), "s");
}

#[test]
fn the_http_content_type_is_the_protocols_own_header_and_not_percent_encoded() {
    let envelope = Envelope::builder()
        .event_id("e")
        .event_type("t")
        .source_system("s")
        .payload(Value::String("hello".into()))
        .data_content_type("text/plain; charset=utf-8")
        .build()
        .unwrap();
    let http = envelope.to_binary(Binding::Http).unwrap();
    assert_eq!(
        http.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let back = read_owned(Binding::Http, &http.headers, &http.body).unwrap();
    assert_eq!(back.data_content_type(), Some("text/plain; charset=utf-8"));
    // A content type as other senders write it, a space after the `;`.
    let sent = [
        ("ce-specversion", "1.0"),
        ("ce-id", "e"),
        ("ce-source", "s"),
        ("ce-type", "t"),
        ("content-type", "application/json; charset=utf-8"),
    ];
    let read_back = read(Binding::Http, &sent, br#"{"a": 1}"#).unwrap();
    assert_eq!(
        read_back.data_content_type(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(read_back.payload(), &json!({ "a": 1 }));
    // NATS carries it in an attribute header, percent-encoded as the others.
    let nats = envelope.to_binary(Binding::Nats).unwrap();
    assert_eq!(
        nats.header("ce-datacontenttype"),
        Some("text/plain;%20charset=utf-8")
    );
    assert_eq!(
        read_owned(Binding::Nats, &nats.headers, &nats.body).unwrap(),
        envelope.to_received()
    );
}

#[test]
fn kafka_reads_the_content_type_given_twice_alike_and_refuses_two_that_differ() {
    let headers = |second: &'static str| {
        [
            ("ce_specversion", "1.0"),
            ("ce_id", "e"),
            ("ce_source", "s"),
            ("ce_type", "t"),
            ("content-type", "application/json"),
            ("ce_datacontenttype", second),
        ]
    };
    let event = read(Binding::Kafka, &headers("application/json"), br#"{"a": 1}"#).unwrap();
    assert_eq!(event.data_content_type(), Some("application/json"));
    let refused = read(Binding::Kafka, &headers("text/plain"), br#"{"a": 1}"#).unwrap_err();
    assert_eq!(refused.attribute(), Some("ce_datacontenttype"));
    assert!(refused.to_string().contains("disagrees"), "{refused}");
    // Any other attribute twice is still refused.
    let twice = [
        ("ce_specversion", "1.0"),
        ("ce_id", "e"),
        ("ce_id", "e"),
        ("ce_source", "s"),
        ("ce_type", "t"),
    ];
    assert_eq!(
        read(Binding::Kafka, &twice, b"").unwrap_err(),
        FormatError::DuplicateMember("ce_id".into())
    );
}

fn read_owned(
    binding: Binding,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Envelope<Pending>, FormatError> {
    Envelope::from_message(binding, headers, body)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Received events whose data may disagree with their content type (a
    /// number under `text/plain`, bytes under a JSON type, no data under a
    /// binary type): binary mode carries each one that fits it back equal,
    /// and refuses each other one, which structured mode carries back equal.
    #[test]
    fn binary_mode_carries_back_equal_every_event_it_accepts(event in received_event()) {
        let envelope = Envelope::<Pending>::from_json(event.to_string().as_bytes())
            .map_err(|error| TestCaseError::fail(format!("{event}: {error}")))?;
        for binding in BINDINGS {
            match envelope.to_binary(binding) {
                Ok(message) => {
                    prop_assert!(envelope.fits_binary_mode());
                    // Data without a content type goes under the type of its
                    // form, which the receiver then reads.
                    let mut named = event.clone();
                    if event.get("datacontenttype").is_none() {
                        if event.get("data").is_some() {
                            named["datacontenttype"] = json!("application/json");
                        } else if event.get("data_base64").is_some() {
                            named["datacontenttype"] = json!("application/octet-stream");
                        }
                    }
                    let expected = Envelope::<Pending>::from_json(named.to_string().as_bytes()).unwrap();
                    let back = Envelope::<Pending>::from_message(binding, &message.headers, &message.body);
                    prop_assert_eq!(back.as_ref().ok(), Some(&expected), "{:?} {}: {:?}", binding, event, back);
                }
                Err(WireError::StructuredOnly { .. }) => prop_assert!(!envelope.fits_binary_mode()),
                Err(other) => prop_assert!(false, "{:?} {}: {}", binding, event, other),
            }
        }
        let structured = serde_json::to_vec(&envelope.to_cloudevent()).unwrap();
        let back = Envelope::<Pending>::from_message(
            Binding::Http,
            &[("content-type", "application/cloudevents+json")],
            &structured,
        );
        prop_assert_eq!(back.as_ref().ok(), Some(&envelope), "{}: {:?}", event, back);
    }
}

/// A received event in the JSON format with any content type (or none) and
/// any data: a JSON value, a string (empty too), bytes (none too), `null`,
/// or none at all.
fn received_event() -> impl Strategy<Value = Value> {
    let content_type = proptest::option::of(prop_oneof![
        Just("application/json"),
        Just("application/vnd.api+json; charset=utf-8"),
        Just("text/plain"),
        Just("application/xml"),
        Just("application/octet-stream"),
        Just("image/png"),
    ]);
    let data = prop_oneof![
        Just(None),
        Just(Some(("data", Value::Null))),
        any::<i32>().prop_map(|number| Some(("data", json!(number)))),
        ".{0,12}".prop_map(|text| Some(("data", json!(text)))),
        Just(Some(("data", json!({ "a": [1, null, "b"] })))),
        proptest::collection::vec(any::<u8>(), 0..16)
            .prop_map(|bytes| Some(("data_base64", json!(BASE64.encode(bytes))))),
    ];
    (content_type, data).prop_map(|(content_type, data)| {
        let mut event = json!({ "specversion": "1.0", "id": "e-1", "source": "/crm", "type": "t" });
        if let Some(content_type) = content_type {
            event["datacontenttype"] = json!(content_type);
        }
        if let Some((member, value)) = data {
            event[member] = value;
        }
        event
    })
}

#[test]
fn empty_text_and_empty_bytes_stay_empty_data_and_no_data_stays_none() {
    let built = |content_type: &str, payload: Value| {
        Envelope::builder()
            .event_id("e")
            .event_type("t")
            .source_system("s")
            .payload(payload)
            .data_content_type(content_type)
            .build()
            .unwrap()
    };
    let empty_text = built("text/plain; charset=utf-8", json!(""));
    let empty_bytes = built("application/octet-stream", json!(""));
    for binding in BINDINGS {
        let message = empty_text.to_binary(binding).unwrap();
        assert!(message.body.is_empty());
        let text: Envelope<Pending, String> =
            Envelope::from_message(binding, &message.headers, &message.body).unwrap();
        assert_eq!(text.payload(), "", "{binding:?}");
        let message = empty_bytes.to_binary(binding).unwrap();
        let bytes: Envelope<Pending, Vec<u8>> =
            Envelope::from_message(binding, &message.headers, &message.body).unwrap();
        assert_eq!(bytes.payload(), &Vec::<u8>::new(), "{binding:?}");
        // No data under a JSON type (or none) is still no data.
        let none = read(
            binding,
            &[
                (&*format!("{}specversion", prefix(binding)), "1.0"),
                (&*format!("{}id", prefix(binding)), "e"),
                (&*format!("{}source", prefix(binding)), "s"),
                (&*format!("{}type", prefix(binding)), "t"),
            ],
            b"",
        )
        .unwrap();
        assert_eq!(none.payload(), &Value::Null);
        assert!(none.fits_binary_mode());
    }
    // A received event with no data under a text type cannot say so in
    // binary mode, where its empty body would read as empty text.
    let no_text = Envelope::<Pending>::from_json(
        br#"{"specversion":"1.0","id":"e","source":"s","type":"t","datacontenttype":"text/plain"}"#,
    )
    .unwrap();
    assert!(!no_text.fits_binary_mode());
    let refused = no_text.to_binary(Binding::Http).unwrap_err();
    assert!(
        refused.to_string().contains(
            "the event has no data, and a receiver would read the empty body as empty data"
        ),
        "{refused}"
    );
}

/// The attribute header prefix of `binding`.
fn prefix(binding: Binding) -> &'static str {
    match binding {
        Binding::Http | Binding::Nats => "ce-",
        Binding::Kafka => "ce_",
        Binding::Amqp => "cloudEvents_",
    }
}

#[test]
fn on_kafka_the_ordering_key_is_the_record_key_both_ways() {
    let keyed = Envelope::builder()
        .event_id("e")
        .event_type("t")
        .source_system("s")
        .payload(json!({ "a": 1 }))
        .ordering_key("contact-42")
        .build()
        .unwrap();
    let message = keyed.to_binary(Binding::Kafka).unwrap();
    assert_eq!(message.key.as_deref(), Some("contact-42"));
    assert_eq!(message.header("ce_partitionkey"), Some("contact-42"));
    for binding in [Binding::Http, Binding::Nats, Binding::Amqp] {
        assert_eq!(keyed.to_binary(binding).unwrap().key, None, "{binding:?}");
    }
    // Read back with its key, in either content mode.
    let back: Envelope<Pending> =
        Envelope::from_kafka(Some(b"contact-42"), &message.headers, &message.body).unwrap();
    assert_eq!(back, keyed.to_received());
    // A record whose event names no ordering key: the key is it, in binary
    // and in structured mode.
    let unkeyed = Envelope::builder()
        .event_id("e")
        .event_type("t")
        .source_system("s")
        .payload(json!({ "a": 1 }))
        .build()
        .unwrap();
    let binary = unkeyed.to_binary(Binding::Kafka).unwrap();
    assert_eq!(binary.key, None);
    let structured = serde_json::to_vec(&unkeyed.to_cloudevent()).unwrap();
    let structured_headers = [("content-type", "application/cloudevents+json")];
    let from_binary: Envelope<Pending> =
        Envelope::from_kafka(Some(b"tenant-7"), &binary.headers, &binary.body).unwrap();
    let from_structured: Envelope<Pending> =
        Envelope::from_kafka(Some(b"tenant-7"), &structured_headers, &structured).unwrap();
    assert_eq!(from_binary.ordering_key(), Some("tenant-7"));
    assert_eq!(from_structured.ordering_key(), Some("tenant-7"));
    // The event's own partitionkey wins over a key of the producer's own,
    // and a key that is not text is no ordering key.
    let own: Envelope<Pending> =
        Envelope::from_kafka(Some(b"other"), &message.headers, &message.body).unwrap();
    assert_eq!(own.ordering_key(), Some("contact-42"));
    let bytes: Envelope<Pending> =
        Envelope::from_kafka(Some(&[0xff, 0x00]), &binary.headers, &binary.body).unwrap();
    assert_eq!(bytes.ordering_key(), None);
    // A record key that could be no ordering key (too long, empty, a
    // serialized integer, a tab) is left alone: the event still reads.
    let long = vec![b'k'; 2000];
    for key in [&long[..], b"", &[0, 0, 0, 5], b"a\tb"] {
        let read: Envelope<Pending> =
            Envelope::from_kafka(Some(key), &binary.headers, &binary.body).unwrap();
        assert_eq!(read.ordering_key(), None, "{key:?}");
    }
}
