//! The audit line: the reference package's format, and no forgery by values.

mod common;

use chrono::{TimeZone, Utc};
use common::{one_of_each, pending, retrying, start};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::AuditLine;
use proptest::prelude::*;

// Expected lines below were printed by the reference Python package (0.1.0)
// for the same envelopes.

#[test]
fn ordinary_values_match_the_reference_byte_for_byte() {
    assert_eq!(
        pending().to_audit_line(),
        "[INTEGRATION_EVENT] event_id=evt-1 type=crm.contact.updated source=crm status=pending \
         attempts=0 correlation=none schema=1.0 created=2026-03-01T09:30:00+00:00"
    );
    assert_eq!(
        retrying().to_audit_line(),
        "[INTEGRATION_EVENT] event_id=evt-1 type=crm.contact.updated source=crm status=retrying \
         attempts=1 correlation=none schema=1.0 created=2026-03-01T09:30:00+00:00"
    );
}

#[test]
fn correlation_schema_and_microseconds_match_the_reference() {
    let envelope = Envelope::builder()
        .event_id("evt-2")
        .event_type("erp.invoice.created")
        .source_system("erp")
        .payload(())
        .correlation_id("req-7")
        .schema_version("2.0")
        .created_at(
            Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).unwrap()
                + chrono::TimeDelta::microseconds(123_456),
        )
        .build()
        .unwrap();
    assert_eq!(
        envelope.to_audit_line(),
        "[INTEGRATION_EVENT] event_id=evt-2 type=erp.invoice.created source=erp status=pending \
         attempts=0 correlation=req-7 schema=2.0 created=2026-03-01T09:30:00.123456+00:00"
    );
}

#[test]
fn every_state_writes_its_lowercase_name() {
    for envelope in one_of_each() {
        let line = envelope.to_audit_line();
        assert!(
            line.contains(&format!(" status={} ", envelope.status().as_str())),
            "{line}"
        );
    }
}

#[test]
fn a_value_that_could_forge_a_key_is_quoted_and_escaped() {
    let envelope = Envelope::builder()
        .event_id("evt-1 status=processed")
        .event_type("crm.\"contact\".updated")
        .source_system("crm?status=failed")
        .payload(())
        .correlation_id("none")
        .schema_version("1.0\u{2028}attempts=0")
        .created_at(start())
        .build()
        .unwrap();
    assert_eq!(
        envelope.to_audit_line(),
        "[INTEGRATION_EVENT] event_id=\"evt-1 status=processed\" type=\"crm.\\\"contact\\\".updated\" \
         source=\"crm?status=failed\" status=pending attempts=0 correlation=\"none\" \
         schema=\"1.0\\u{2028}attempts=0\" created=2026-03-01T09:30:00+00:00"
    );
}

#[test]
fn invisible_characters_are_quoted_and_shown() {
    let envelope = Envelope::builder()
        // A right-to-left override, to show "status=failed" reversed.
        .event_id("evt-1\u{202e}deliaf=sutats")
        .event_type("zero\u{200b}width")
        .source_system("crm")
        .payload(())
        .created_at(start())
        .build()
        .unwrap();
    let line = envelope.to_audit_line();
    assert!(
        line.starts_with(
            "[INTEGRATION_EVENT] event_id=\"evt-1\\u{202e}deliaf=sutats\" type=\"zero\\u{200b}width\" "
        ),
        "{line}"
    );
}

#[test]
fn the_tag_and_the_keys_are_quoted_like_values() {
    let line = AuditLine::new("DEAD] LETTER")
        .text("event id", "evt-1")
        .text("reason\u{2029}status", "x")
        .finish();
    assert_eq!(
        line,
        "[\"DEAD] LETTER\"] \"event id\"=evt-1 \"reason\\u{2029}status\"=x"
    );
    assert_eq!(
        AuditLine::new("DEAD_LETTER").text("event_id", "e").finish(),
        "[DEAD_LETTER] event_id=e",
        "plain tags and keys are written as they are"
    );
}

/// Reads an audit line back into its key/value pairs, undoing the quoting.
fn parse(line: &str) -> Vec<(String, String)> {
    let rest = line
        .strip_prefix("[INTEGRATION_EVENT] ")
        .expect("the line starts with its tag");
    let mut pairs = Vec::new();
    let mut chars = rest.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some('r') => value.push('\r'),
                        Some('t') => value.push('\t'),
                        Some('u') => {
                            let code: String =
                                chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                            let code = u32::from_str_radix(&code, 16).unwrap();
                            value.push(char::from_u32(code).unwrap());
                        }
                        Some(other) => value.push(other),
                        None => panic!("dangling escape in {line}"),
                    },
                    c => value.push(c),
                }
            }
            assert!(matches!(chars.next(), Some(' ') | None), "{line}");
        } else {
            value = chars.by_ref().take_while(|c| *c != ' ').collect();
        }
        pairs.push((key, value));
    }
    pairs
}

proptest! {
    /// Whatever text the builder accepts, the line is one line with exactly the
    /// eight keys in order, and each value reads back as given.
    #[test]
    fn any_accepted_value_reads_back_and_forges_nothing(
        event_id in "\\PC{1,24}",
        event_type in "[ a-z.=\"\\\\]{1,24}",
        // A source is a URI reference: no spaces or quotes, but `=`, `&`, `'`.
        source in "[a-z][a-z0-9/?=&'._~-]{0,11}",
        correlation in proptest::option::of("\\PC{1,12}"),
    ) {
        let mut builder = Envelope::builder()
            .event_id(event_id.clone())
            .event_type(event_type.clone())
            .source_system(source.clone())
            .payload(())
            .created_at(start());
        if let Some(correlation) = &correlation {
            builder = builder.correlation_id(correlation.clone());
        }
        let line = builder.build().unwrap().to_audit_line();
        prop_assert_eq!(line.lines().count(), 1);
        let pairs = parse(&line);
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        prop_assert_eq!(
            keys,
            ["event_id", "type", "source", "status", "attempts", "correlation", "schema", "created"]
        );
        prop_assert_eq!(&pairs[0].1, &event_id);
        prop_assert_eq!(&pairs[1].1, &event_type);
        prop_assert_eq!(&pairs[2].1, &source);
        prop_assert_eq!(&pairs[5].1, correlation.as_deref().unwrap_or("none"));
    }
}
