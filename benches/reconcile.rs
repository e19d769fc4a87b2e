//! Reconciling 100,000 records of 20 fields, and `detect_conflict` on a mix of
//! equal, one-sided, two-sided and excluded fields.
//!
//! `cargo bench --bench reconcile`; the reference package's figure for the
//! same `detect_conflict` mix comes from `benches/reference/detect_conflict.py`.

use std::hint::black_box;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use integration_automation_patterns::sync::{Base, Record, RecordSnapshot, Versioned};
use integration_automation_patterns::{RecordAuthority, SyncBoundary};
use serde_json::{Value, json};

const RECORDS: usize = 100_000;
const FIELDS: usize = 20;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn field_name(i: usize) -> String {
    format!("field_{i:02}")
}

/// Five fields owned by A, five by B, eight shared, two manual; one excluded.
fn boundary() -> SyncBoundary {
    let mut builder = SyncBoundary::builder()
        .record_type("contact")
        .system_a("crm")
        .system_b("erp")
        .exclude("internal_notes");
    for i in 0..FIELDS {
        let authority = match i {
            0..5 => RecordAuthority::SystemA,
            5..10 => RecordAuthority::SystemB,
            10..18 => RecordAuthority::Shared,
            _ => RecordAuthority::Manual,
        };
        builder = builder.field(field_name(i), authority);
    }
    builder.build().unwrap_or_else(|error| panic!("{error}"))
}

/// A deterministic stream of numbers (SplitMix64), so every run plans the same batch.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Records where most fields are unchanged, about one in ten changed on one
/// side and about one in fifty changed on both.
fn records() -> Vec<RecordSnapshot> {
    let mut numbers = Numbers(7);
    let at = |seconds: u64| Some(now() - TimeDelta::seconds(seconds as i64 % 3600 + 1));
    (0..RECORDS)
        .map(|r| {
            let mut a = Record::new();
            let mut b = Record::new();
            let mut base = Base::new();
            for i in 0..FIELDS {
                let name = field_name(i);
                let old: Value = if i % 2 == 0 {
                    json!(r * 31 + i)
                } else {
                    json!(format!("v{r}-{i}"))
                };
                let roll = numbers.next() % 100;
                let (value_a, value_b) = match roll {
                    0..5 => (json!(roll), old.clone()),
                    5..10 => (old.clone(), json!(roll)),
                    10..12 => (json!(roll), json!(roll + 1000)),
                    _ => (old.clone(), old.clone()),
                };
                a.insert(
                    name.clone(),
                    Versioned {
                        value: value_a,
                        modified_at: at(numbers.next()),
                    },
                );
                b.insert(
                    name.clone(),
                    Versioned {
                        value: value_b,
                        modified_at: at(numbers.next()),
                    },
                );
                base.insert(name, old);
            }
            RecordSnapshot {
                record_id: format!("contact-{r}"),
                a,
                b,
                base,
            }
        })
        .collect()
}

fn reconcile(c: &mut Criterion) {
    let boundary = boundary();
    let records = records();
    let mut group = c.benchmark_group("reconcile");
    group.sample_size(10);
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("100k_records_20_fields", |b| {
        b.iter(|| boundary.reconcile_batch_at(black_box(&records), now()))
    });
    group.finish();
}

fn detect_conflict(c: &mut Criterion) {
    let boundary = SyncBoundary::builder()
        .record_type("contact")
        .system_a("crm")
        .system_b("erp")
        .field("email", RecordAuthority::SystemA)
        .field("phone", RecordAuthority::SystemB)
        .field("name", RecordAuthority::Shared)
        .exclude("internal_notes")
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    // The same mix as benches/reference/detect_conflict.py.
    let cases: [(&str, Value, Value, Option<Value>); 4] = [
        (
            "email",
            json!("ada@example.com"),
            json!("ada@example.com"),
            Some(json!("ada@example.com")),
        ),
        (
            "phone",
            json!("+44 20 7946 0000"),
            json!("+44 20 7946 0001"),
            Some(json!("+44 20 7946 0000")),
        ),
        (
            "name",
            json!("Ada Lovelace"),
            json!("Ada King"),
            Some(json!("Ada Byron")),
        ),
        ("internal_notes", json!("vip"), json!("churn risk"), None),
    ];
    let mut group = c.benchmark_group("detect_conflict");
    group.throughput(Throughput::Elements(cases.len() as u64));
    group.bench_function("mix_of_4", |b| {
        b.iter(|| {
            cases
                .iter()
                .filter_map(|(field, a, b, base)| {
                    boundary.detect_conflict(black_box("contact-42"), field, a, b, base.as_ref())
                })
                .count()
        })
    });
    for (field, a, b, base) in &cases {
        group.throughput(Throughput::Elements(1));
        group.bench_function(*field, |bench| {
            bench.iter(|| {
                boundary.detect_conflict(black_box("contact-42"), field, a, b, base.as_ref())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, detect_conflict, reconcile);
criterion_main!(benches);
