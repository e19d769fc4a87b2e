//! One envelope's full lifecycle, typed against runtime-checked, in one run:
//! build with a small JSON payload, dispatch, fail once, dispatch, acknowledge,
//! process, format the audit line.
//!
//! `cargo bench --bench lifecycle`

mod runtime_checked;

use std::hint::black_box;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use integration_automation_patterns::{Envelope, FailOutcome};
use runtime_checked::RuntimeEnvelope;
use serde_json::json;

fn typed_lifecycle(at: &[DateTime<Utc>; 6]) -> String {
    let envelope = Envelope::builder()
        .event_id(black_box("evt-20260301-0001"))
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": 1042, "total": "89.90" }))
        .created_at(at[0])
        .build();
    let Ok(envelope) = envelope else {
        return String::new();
    };
    let retrying = match envelope.dispatch_at(at[1]).fail_at("ERP timed out", at[2]) {
        FailOutcome::Retry(retrying) => retrying,
        FailOutcome::Exhausted(_) => return String::new(),
    };
    let processed = retrying
        .dispatch_at(at[3])
        .acknowledge_at(at[4])
        .process_at(at[5]);
    processed.to_audit_line()
}

fn runtime_lifecycle(at: &[DateTime<Utc>; 6]) -> String {
    let envelope = RuntimeEnvelope::new(
        black_box("evt-20260301-0001"),
        "commerce.order.placed",
        "webshop",
        json!({ "order_id": 1042, "total": "89.90" }),
        at[0],
    );
    let Ok(mut envelope) = envelope else {
        return String::new();
    };
    let steps = envelope
        .dispatch(at[1])
        .and_then(|()| envelope.fail("ERP timed out", at[2]))
        .and_then(|()| envelope.dispatch(at[3]))
        .and_then(|()| envelope.acknowledge(at[4]))
        .and_then(|()| envelope.process(at[5]));
    match steps {
        Ok(()) => envelope.audit_line(),
        Err(_) => String::new(),
    }
}

fn lifecycle(c: &mut Criterion) {
    let start = Utc
        .with_ymd_and_hms(2026, 3, 1, 9, 30, 0)
        .single()
        .unwrap_or_default();
    // The times each step records, one second apart, computed once.
    let at: [DateTime<Utc>; 6] = std::array::from_fn(|i| start + TimeDelta::seconds(i as i64));
    assert_eq!(
        typed_lifecycle(&at),
        runtime_lifecycle(&at),
        "both versions must do the same work"
    );
    let mut group = c.benchmark_group("full_lifecycle");
    group.bench_function("typestate", |b| b.iter(|| typed_lifecycle(black_box(&at))));
    group.bench_function("runtime_checked", |b| {
        b.iter(|| runtime_lifecycle(black_box(&at)))
    });
    group.finish();
}

criterion_group!(benches, lifecycle);
criterion_main!(benches);
