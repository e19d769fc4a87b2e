//! The async relay beside the blocking one, on the same workload in one run:
//! 5,000 trivial envelopes drained from an SQLite file (every commit durable)
//! and, with `IAP_POSTGRES_URL` set, from PostgreSQL. The blocking side is
//! `run_once` in a loop on one connection; the async side is `Relay` on a
//! pool, with 1 and with 16 sends at once; each recording one outcome per
//! commit, and (`run_once_batched`, `Recording::Batched`) a pass's outcomes
//! in one commit. Prints envelopes per second and the ratios, median of 3
//! rounds.
//!
//! `cargo bench --all-features --bench async_relay`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use iap_relay::{Recording, Relay, RelayConfig};
use iap_store::postgres::{AsyncPostgresStore, PostgresStore};
use iap_store::sqlite::{AsyncSqliteStore, SqliteStore};
use iap_store::{AsyncDeliveryStore, Delivery, DeliveryStore, SendError, StoreOptions};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::state::{Dispatched, Pending};
use serde_json::{Value, json};
use tokio::sync::Notify;

const ENVELOPES: u64 = 5_000;
const ROUNDS: usize = 3;

fn order(n: u64) -> Envelope<Pending> {
    Envelope::builder()
        .event_id(format!("order-{n}"))
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": n }))
        .build()
        .unwrap()
}

/// Fills a blocking store with `ENVELOPES` pending envelopes, 500 a commit.
fn fill<S: DeliveryStore>(store: &mut S) {
    for chunk in 0..ENVELOPES / 500 {
        store
            .write(|tx| {
                for n in chunk * 500..(chunk + 1) * 500 {
                    S::enqueue(tx, &order(n), Utc::now())?;
                }
                Ok::<_, iap_store::StoreError>(())
            })
            .unwrap();
    }
}

/// Drains with the blocking `run_once` (or `run_once_batched`), batches of
/// 50; envelopes a second.
fn drain_blocking<S: DeliveryStore>(store: &mut S, recording: Recording) -> f64 {
    let started = Instant::now();
    let mut delivered = 0;
    let send = |_: &Envelope<_, Value>| Ok::<_, SendError>(Delivery::Processed);
    while delivered < ENVELOPES as usize {
        let pass = match recording {
            Recording::EachOutcome => store.run_once(Utc::now(), 50, send),
            Recording::Batched => store.run_once_batched(Utc::now(), 50, send),
        };
        delivered += pass.unwrap().delivered;
    }
    ENVELOPES as f64 / started.elapsed().as_secs_f64()
}

/// Drains with the async `Relay`; envelopes a second. The relay is told to
/// stop once the sender has seen every envelope, and stops after recording
/// the sends in flight.
async fn drain_async<S: AsyncDeliveryStore>(
    store: S,
    concurrency: usize,
    recording: Recording,
) -> f64 {
    let started = Instant::now();
    let sent = Arc::new(AtomicU64::new(0));
    let all_sent = Arc::new(Notify::new());
    let relay = Relay::new(store, {
        let (sent, all_sent) = (Arc::clone(&sent), Arc::clone(&all_sent));
        move |_: &Envelope<Dispatched, Value>| {
            if sent.fetch_add(1, Ordering::Relaxed) + 1 == ENVELOPES {
                all_sent.notify_one();
            }
            async { Ok::<_, SendError>(Delivery::Processed) }
        }
    })
    .with_config(
        RelayConfig::default()
            .batch(50)
            .concurrency(concurrency)
            .idle_poll(Duration::from_millis(5))
            .recording(recording),
    );
    let report = relay
        .run(async move { all_sent.notified().await })
        .await
        .unwrap();
    assert_eq!(report.sent.delivered as u64, ENVELOPES);
    ENVELOPES as f64 / started.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn temp_file(round: usize, side: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "iap-bench-async-{side}-{round}-{}.db",
        std::process::id()
    ))
}

fn remove(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

/// How a round drains the outbox: the blocking `run_once`, or the async
/// `Relay` with this many sends at once; each recording every outcome in its
/// own commit or a pass's outcomes in one.
#[derive(Clone, Copy)]
enum Side {
    Blocking(Recording),
    Async(usize, Recording),
}

/// The table's columns.
const SIDES: [Side; 5] = [
    Side::Blocking(Recording::EachOutcome),
    Side::Async(1, Recording::EachOutcome),
    Side::Async(16, Recording::EachOutcome),
    Side::Blocking(Recording::Batched),
    Side::Async(16, Recording::Batched),
];

/// Envelopes a second on each side, the median of `ROUNDS` rounds, each
/// round on a fresh store that `round` fills and drains.
fn measure(mut round: impl FnMut(usize, Side) -> f64) -> [f64; 5] {
    let mut rates: [Vec<f64>; 5] = Default::default();
    for number in 0..ROUNDS {
        for (column, side) in SIDES.into_iter().enumerate() {
            rates[column].push(round(number, side));
        }
    }
    rates.map(median)
}

/// sqlx's options for the schema `schema` on the server `url` names
/// (`host=... port=... user=... dbname=...`).
fn pg_options(url: &str, schema: &str) -> sqlx::postgres::PgConnectOptions {
    let mut options = sqlx::postgres::PgConnectOptions::new().options([("search_path", schema)]);
    for (key, value) in url
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
    {
        options = match key {
            "host" => options.host(value),
            "port" => options.port(value.parse().unwrap()),
            "user" => options.username(value),
            "dbname" => options.database(value),
            _ => options,
        };
    }
    options
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut table = vec![(
        "SQLite",
        measure(|round, side| {
            let path = temp_file(
                round,
                if matches!(side, Side::Blocking(_)) {
                    "blocking"
                } else {
                    "async"
                },
            );
            remove(&path);
            let mut store = SqliteStore::open(&path).unwrap();
            fill(&mut store);
            let rate = match side {
                Side::Blocking(recording) => drain_blocking(&mut store, recording),
                Side::Async(concurrency, recording) => {
                    drop(store);
                    runtime.block_on(async {
                        let store = AsyncSqliteStore::open(&path, StoreOptions::default())
                            .await
                            .unwrap();
                        drain_async(store, concurrency, recording).await
                    })
                }
            };
            remove(&path);
            rate
        }),
    )];

    if let Ok(url) = std::env::var("IAP_POSTGRES_URL") {
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        table.push((
            "PostgreSQL",
            measure(|round, side| {
                let schema = format!("iap_bench_async_{round}_{}", std::process::id());
                admin
                    .batch_execute(&format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
                    ))
                    .unwrap();
                let connection = format!("{url} options='-c search_path={schema}'");
                let mut store =
                    PostgresStore::connect(&connection, StoreOptions::default()).unwrap();
                store.migrate().unwrap();
                fill(&mut store);
                let rate = match side {
                    Side::Blocking(recording) => drain_blocking(&mut store, recording),
                    Side::Async(concurrency, recording) => {
                        drop(store);
                        runtime.block_on(async {
                            let store = AsyncPostgresStore::connect_with(
                                pg_options(&url, &schema),
                                StoreOptions::default(),
                            )
                            .await
                            .unwrap();
                            drain_async(store, concurrency, recording).await
                        })
                    }
                };
                admin
                    .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                    .unwrap();
                rate
            }),
        ));
    }

    println!("one commit per outcome:");
    println!(
        "backend     blocking run_once   async relay (1 send)   async relay (16 sends)   ratio 16/blocking"
    );
    for (backend, [blocking, one, sixteen, ..]) in &table {
        println!(
            "{backend:<11} {blocking:>12.0}/s {one:>18.0}/s {sixteen:>20.0}/s {:>19.2}",
            sixteen / blocking
        );
    }
    println!("one commit per pass of 50 (batched outcomes):");
    println!(
        "backend     blocking run_once_batched   ratio to run_once   async relay (16 sends)   ratio to one by one"
    );
    for (backend, [blocking, _, sixteen, blocking_batched, async_batched]) in &table {
        println!(
            "{backend:<11} {blocking_batched:>20.0}/s {:>19.2} {async_batched:>22.0}/s {:>21.2}",
            blocking_batched / blocking,
            async_batched / sixteen
        );
    }
}
