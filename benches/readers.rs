//! The readers of received CloudEvents on events of 1,000 to 200,000 members
//! or headers, each size one input read in full: a structured JSON event of
//! n extension members (`from_message_within`, structured mode), a
//! binary-mode message of n `ce-` extension headers and a small JSON body
//! (`from_message_within`, binary mode), and the storage form of an envelope
//! of n extensions (`serde_json::from_slice::<AnyEnvelope>`). The limits are
//! raised to fit each input, so every read succeeds. Throughput is per member
//! or header: a reader linear in its input keeps the time per element about
//! the same at every size.
//!
//! `cargo bench --bench readers`

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use integration_automation_patterns::envelope::{Binding, CLOUDEVENTS_JSON, ReadLimits};
use integration_automation_patterns::state::Pending;
use integration_automation_patterns::{AnyEnvelope, Envelope};
use serde_json::json;

const SIZES: [usize; 5] = [1_000, 10_000, 50_000, 100_000, 200_000];

/// A structured event: the four required attributes and `n` integer
/// extensions `"x0":0, "x1":1, ...`.
fn structured_body(n: usize) -> Vec<u8> {
    let mut body = String::from(
        r#"{"specversion":"1.0","id":"evt-1","source":"bench","type":"bench.readers""#,
    );
    for i in 0..n {
        body.push_str(&format!(r#","x{i}":{i}"#));
    }
    body.push('}');
    body.into_bytes()
}

/// A binary-mode HTTP message's headers: the four required attributes, `n`
/// extensions `ce-x0: 0, ce-x1: 1, ...` and the body's content type.
fn binary_headers(n: usize) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = [
        ("ce-specversion", "1.0"),
        ("ce-id", "evt-1"),
        ("ce-source", "bench"),
        ("ce-type", "bench.readers"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    headers.extend((0..n).map(|i| (format!("ce-x{i}"), i.to_string())));
    headers.push(("content-type".to_owned(), "application/json".to_owned()));
    headers
}

/// The storage form of a pending envelope with `n` integer extensions.
fn stored_row(n: usize) -> Vec<u8> {
    let mut builder = Envelope::builder()
        .event_id("evt-1")
        .event_type("bench.readers")
        .source_system("bench")
        .payload(json!({ "order_id": 1042 }));
    for i in 0..n {
        builder = builder.extension(format!("x{i}"), i as i64);
    }
    let envelope = builder.build().unwrap_or_else(|error| panic!("{error}"));
    serde_json::to_vec(&envelope).unwrap_or_else(|error| panic!("{error}"))
}

fn readers(c: &mut Criterion) {
    let structured = [("content-type", CLOUDEVENTS_JSON)];
    let binary_body = br#"{"order_id":1042}"#;

    let mut group = c.benchmark_group("readers");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));

        let limits = ReadLimits::default().members(n + 10).body_bytes(usize::MAX);
        let body = structured_body(n);
        let read = |body: &[u8]| {
            Envelope::<Pending>::from_message_within(&limits, Binding::Http, &structured, body)
        };
        match read(&body) {
            Ok(envelope) => assert_eq!(envelope.extensions().len(), n),
            Err(error) => panic!("the structured event of {n} members is refused: {error}"),
        }
        group.bench_with_input(BenchmarkId::new("structured", n), &body, |b, body| {
            b.iter(|| read(black_box(body)))
        });

        let limits = ReadLimits::default().headers(n + 10);
        let headers = binary_headers(n);
        let read = |headers: &[(String, String)]| {
            Envelope::<Pending>::from_message_within(&limits, Binding::Http, headers, binary_body)
        };
        match read(&headers) {
            Ok(envelope) => assert_eq!(envelope.extensions().len(), n),
            Err(error) => panic!("the binary message of {n} headers is refused: {error}"),
        }
        group.bench_with_input(BenchmarkId::new("binary", n), &headers, |b, headers| {
            b.iter(|| read(black_box(headers)))
        });

        let row = stored_row(n);
        let read = |row: &[u8]| serde_json::from_slice::<AnyEnvelope>(row);
        match read(&row) {
            Ok(envelope) => assert_eq!(envelope.extensions().len(), n),
            Err(error) => panic!("the stored row of {n} extensions is refused: {error}"),
        }
        group.bench_with_input(BenchmarkId::new("stored", n), &row, |b, row| {
            b.iter(|| read(black_box(row)))
        });
    }
    group.finish();
}

criterion_group!(benches, readers);
criterion_main!(benches);
