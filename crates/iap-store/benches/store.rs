//! The SQLite store's throughput, every commit durable (`synchronous = FULL`):
//! inbox admissions with half of them duplicates, one transaction each; and
//! the outbox relay's claim, send and record.
//!
//! And relay workers draining the outbox together, each with its own
//! connection, on SQLite and (with the `postgres` feature and
//! `IAP_POSTGRES_URL` set) on PostgreSQL.
//!
//! `cargo bench --all-features --bench store`; the reference package's
//! figure for the inbox workload comes from `crates/iap-store/benches/reference/sqlite_consume.py`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
#[cfg(feature = "postgres")]
use iap_store::StoreOptions;
#[cfg(feature = "postgres")]
use iap_store::postgres::PostgresStore;
use iap_store::sqlite::SqliteStore;
use iap_store::{Admission, Delivery, DeliveryStore, SendError, StoreError};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::state::Pending;
use rusqlite::params;
use serde_json::{Value, json};

/// A fresh database file for one benchmark, removed when dropped.
struct BenchDb(PathBuf);

impl BenchDb {
    fn new(name: &str) -> BenchDb {
        let path = std::env::temp_dir().join(format!("iap-bench-{name}-{}.db", std::process::id()));
        let db = BenchDb(path);
        db.remove();
        db
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = self.0.as_os_str().to_owned();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        self.remove();
    }
}

fn order(n: u64) -> Envelope<Pending> {
    let event = Envelope::builder()
        .event_id(format!("order-{n}"))
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": n, "amount": "19.90" }))
        .build();
    event.unwrap_or_else(|error| panic!("{error}"))
}

fn open(db: &BenchDb) -> SqliteStore {
    let mut store = SqliteStore::open(&db.0).unwrap_or_else(|error| panic!("{error}"));
    store
        .write(|tx| {
            tx.execute(
                "CREATE TABLE IF NOT EXISTS effects (order_id INTEGER NOT NULL)",
                [],
            )?;
            Ok::<_, StoreError>(())
        })
        .unwrap_or_else(|error| panic!("{error}"));
    store
}

fn inbox(c: &mut Criterion) {
    let db = BenchDb::new("inbox");
    let mut store = open(&db);
    let mut next = 0u64;
    let mut group = c.benchmark_group("inbox");
    // Each iteration admits a new event and then the same event again.
    group.throughput(Throughput::Elements(2));
    group.bench_function("admit_half_duplicates_durable", |b| {
        b.iter(|| {
            next += 1;
            for _ in 0..2 {
                let admission = store
                    .admit(order(next), Utc::now(), |tx, event| {
                        tx.execute(
                            "INSERT INTO effects (order_id) VALUES (?1)",
                            params![event.payload()["order_id"].as_u64()],
                        )
                    })
                    .unwrap_or_else(|error| panic!("{error}"));
                black_box(matches!(admission, Admission::Processed(..)));
            }
        })
    });
    // The batched form: 100 admissions (50 events, each twice) in one commit.
    group.throughput(Throughput::Elements(INBOX_BATCH));
    group.bench_function("admit_batch_of_100_half_duplicates_durable", |b| {
        b.iter(|| {
            let first = next + 1;
            next += INBOX_BATCH / 2;
            let batch: Vec<Envelope<Pending>> =
                (first..=next).flat_map(|n| [order(n), order(n)]).collect();
            let results = store
                .admit_batch(batch, Utc::now(), |tx, event| {
                    tx.execute(
                        "INSERT INTO effects (order_id) VALUES (?1)",
                        params![event.payload()["order_id"].as_u64()],
                    )
                })
                .unwrap_or_else(|error| panic!("{error}"));
            black_box(results.len());
        })
    });
    group.finish();
}

const INBOX_BATCH: u64 = 100;
/// Envelopes drained per iteration of the worker benchmarks.
const DRAIN: u64 = 400;

/// Enqueues `DRAIN` envelopes (not timed), then times `stores.len()` workers,
/// one thread and one connection each, claiming batches of 50 and recording
/// each outcome until nothing is due.
fn drain_with_workers<S: DeliveryStore + Send>(
    stores: &mut [S],
    next: &mut u64,
    iterations: u64,
) -> Duration {
    let mut timed = Duration::ZERO;
    for _ in 0..iterations {
        let first = *next + 1;
        *next += DRAIN;
        stores[0]
            .write(|tx| {
                for n in first..=*next {
                    S::enqueue(tx, &order(n), Utc::now())?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap_or_else(|error| panic!("{error}"));
        let started = Instant::now();
        let delivered: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = stores
                .iter_mut()
                .map(|store| {
                    scope.spawn(move || {
                        let mut delivered = 0;
                        loop {
                            let report = store
                                .run_once(Utc::now(), 50, |envelope: &Envelope<_, Value>| {
                                    black_box(envelope.event_id());
                                    Ok::<_, SendError>(Delivery::Processed)
                                })
                                .unwrap_or_else(|error| panic!("{error}"));
                            if report.claimed == 0 {
                                return delivered;
                            }
                            delivered += report.delivered;
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().unwrap_or_default())
                .sum()
        });
        timed += started.elapsed();
        assert_eq!(delivered as u64, DRAIN);
    }
    timed
}

fn workers(c: &mut Criterion) {
    let mut group = c.benchmark_group("relay_workers");
    group.throughput(Throughput::Elements(DRAIN));
    group.sample_size(20);
    let db = BenchDb::new("workers");
    drop(open(&db));
    let mut next = 0u64;
    for count in [1, 2, 4] {
        let mut stores: Vec<SqliteStore> = (0..count).map(|_| open(&db)).collect();
        group.bench_function(format!("sqlite_{count}"), |b| {
            b.iter_custom(|iterations| drain_with_workers(&mut stores, &mut next, iterations))
        });
    }
    #[cfg(feature = "postgres")]
    match postgres_schema() {
        Some(connection) => {
            for count in [1, 2, 4] {
                let mut stores: Vec<PostgresStore> = (0..count)
                    .map(|_| PostgresStore::connect(&connection, StoreOptions::default()))
                    .collect::<Result<_, _>>()
                    .unwrap_or_else(|error| panic!("{error}"));
                group.bench_function(format!("postgres_{count}"), |b| {
                    b.iter_custom(|iterations| {
                        drain_with_workers(&mut stores, &mut next, iterations)
                    })
                });
            }
        }
        None => eprintln!("relay_workers: set IAP_POSTGRES_URL to measure PostgreSQL too"),
    }
    group.finish();
}

/// A fresh schema for the benchmark on the server named by `IAP_POSTGRES_URL`.
#[cfg(feature = "postgres")]
fn postgres_schema() -> Option<String> {
    let url = std::env::var("IAP_POSTGRES_URL").ok()?;
    let schema = format!("iap_bench_{}", std::process::id());
    let mut admin =
        postgres::Client::connect(&url, postgres::NoTls).unwrap_or_else(|error| panic!("{error}"));
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
        ))
        .unwrap_or_else(|error| panic!("{error}"));
    let connection = format!("{url} options='-c search_path={schema}'");
    PostgresStore::connect(&connection, StoreOptions::default())
        .and_then(|mut store| store.migrate())
        .unwrap_or_else(|error| panic!("{error}"));
    Some(connection)
}

const RELAY_BATCH: u64 = 100;

fn outbox(c: &mut Criterion) {
    let db = BenchDb::new("outbox");
    let mut store = open(&db);
    let mut next = 0u64;
    let mut group = c.benchmark_group("outbox");
    group.throughput(Throughput::Elements(RELAY_BATCH));
    // Each iteration enqueues a batch (not timed), then claims, sends and
    // records it: one claim transaction and one transaction per outcome.
    group.bench_function("claim_send_record_durable", |b| {
        b.iter_custom(|iterations| {
            let mut timed = Duration::ZERO;
            for _ in 0..iterations {
                for _ in 0..RELAY_BATCH {
                    next += 1;
                    let event = order(next);
                    store
                        .write(|tx| SqliteStore::enqueue(tx, &event, Utc::now()))
                        .unwrap_or_else(|error| panic!("{error}"));
                }
                let started = Instant::now();
                let report = store
                    .run_once(
                        Utc::now(),
                        RELAY_BATCH as usize,
                        |envelope: &Envelope<_, Value>| {
                            black_box(envelope.event_id());
                            Ok::<_, SendError>(Delivery::Processed)
                        },
                    )
                    .unwrap_or_else(|error| panic!("{error}"));
                timed += started.elapsed();
                assert_eq!(report.delivered as u64, RELAY_BATCH);
            }
            timed
        })
    });
    group.finish();
}

criterion_group!(benches, inbox, outbox, workers);
criterion_main!(benches);
