//! Random CloudEvents, as envelopes built through the builder, for the
//! property tests of the wire forms.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::state::Pending;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Text an attribute may hold: printable, with spaces, quotes, percent signs
/// and characters beyond ASCII, which header bindings must encode.
fn attribute_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 %\"/:._~€😀-]{1,24}".prop_filter("not blank", |text| !text.trim().is_empty())
}

/// A payload and the content type it travels under: JSON, text, XML, bytes,
/// or another event.
fn data() -> impl Strategy<Value = (Option<&'static str>, Value)> {
    prop_oneof![
        Just((None, json!({ "contact_id": 42, "name": "Zoë" }))),
        (any::<i64>(), ".{0,12}").prop_map(|(n, s)| (
            Some("application/json; charset=utf-8"),
            json!({ "n": n, "s": s })
        )),
        Just((
            Some("application/cloudevents-test+json"),
            json!([1, "two", null])
        )),
        "[^\u{0}]{0,40}".prop_map(|text| (Some("text/plain"), Value::String(text))),
        // An event whose data is itself an event: structured mode only.
        (
            ".{1,12}",
            prop_oneof![
                Just("application/cloudevents+json"),
                Just("application/cloudevents-batch+json"),
            ]
        )
            .prop_map(|(id, content_type)| (
                Some(content_type),
                json!({ "specversion": "1.0", "id": id, "source": "/payments",
                    "type": "payment.approved", "data": { "amount": 1 } })
            )),
        "<[a-z]{1,8}/>".prop_map(|xml| (Some("application/xml"), Value::String(xml))),
        // Binary data held in a `Value` is its base64 text, as it reads.
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|bytes| (
            Some("application/octet-stream"),
            Value::String(BASE64.encode(bytes))
        )),
    ]
}

/// A time at a UTC offset of whole minutes (UTC itself among them), which
/// every form must write back as it is.
fn time() -> impl Strategy<Value = DateTime<FixedOffset>> {
    (
        0i64..4_000_000_000,
        0u32..1_000_000,
        prop_oneof![Just(0), -(14 * 60)..=14 * 60],
    )
        .prop_map(|(seconds, micros, minutes)| {
            let offset = FixedOffset::east_opt(minutes * 60).unwrap();
            Utc.timestamp_opt(seconds, micros * 1000)
                .single()
                .unwrap()
                .with_timezone(&offset)
        })
}

/// A source: a URI reference, relative or absolute, sometimes with a
/// percent-encoded character.
fn source() -> impl Strategy<Value = String> {
    "(/|https://crm\\.example\\.com/|urn:)?[a-z0-9._~-]{1,12}(%[0-9A-F]{2}[a-z]{0,4})?"
}

/// A random event with string-valued extensions (header bindings carry every
/// extension as text, so only strings come back with the same type).
pub fn event() -> impl Strategy<Value = Envelope<Pending>> {
    (
        (attribute_text(), "[a-z]{1,8}(\\.[a-z]{1,8}){0,3}", source()),
        (
            proptest::option::of(attribute_text()),
            proptest::option::of("https://schemas\\.example\\.com/[a-z]{1,8}"),
            time(),
            proptest::option::of(attribute_text()),
        ),
        data(),
        proptest::collection::btree_map("[a-z][a-z0-9]{0,10}", attribute_text(), 0..4),
        proptest::option::of(Just(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )),
    )
        .prop_filter_map(
            "extension names the event uses for something else",
            |(
                (id, event_type, source),
                (subject, schema, time, correlation),
                (content_type, payload),
                extensions,
                traceparent,
            )| {
                let mut builder = Envelope::builder()
                    .event_id(id)
                    .event_type(event_type)
                    .source_system(source)
                    .payload(payload)
                    .created_at(time);
                if let Some(content_type) = content_type {
                    builder = builder.data_content_type(content_type);
                }
                if let Some(subject) = subject {
                    builder = builder.subject(subject);
                }
                if let Some(schema) = schema {
                    builder = builder.data_schema(schema);
                }
                if let Some(correlation) = correlation {
                    builder = builder.correlation_id(correlation);
                }
                for (name, value) in extensions {
                    builder = builder.extension(name, value);
                }
                if let Some(traceparent) = traceparent {
                    builder = builder.traceparent(traceparent);
                }
                builder.build().ok()
            },
        )
}
