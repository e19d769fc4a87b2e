//! The async relay beside the blocking one, on the same workload in one run:
//! 5,000 trivial envelopes drained from an SQLite file (every commit durable)
//! and, with `IAP_POSTGRES_URL` set, from PostgreSQL. The blocking side is
//! `run_once` in a loop on one connection; the async side is `Relay` on a
//! pool, with 1 and with 16 sends at once. Prints envelopes per second and
//! the async-to-blocking ratio, median of 3 rounds.
//!
//! `cargo bench --all-features --bench async_relay`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use integration_automation_patterns::Envelope;
use integration_automation_patterns::relay::{Relay, RelayConfig};
use integration_automation_patterns::state::{Dispatched, Pending};
use integration_automation_patterns::store::postgres::{AsyncPostgresStore, PostgresStore};
use integration_automation_patterns::store::sqlite::{AsyncSqliteStore, SqliteStore};
use integration_automation_patterns::store::{
    AsyncDeliveryStore, Delivery, DeliveryStore, SendError, StoreOptions,
};
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
                Ok::<_, integration_automation_patterns::store::StoreError>(())
            })
            .unwrap();
    }
}

/// Drains with the blocking `run_once`, batches of 50; envelopes a second.
fn drain_blocking<S: DeliveryStore>(store: &mut S) -> f64 {
    let started = Instant::now();
    let mut delivered = 0;
    while delivered < ENVELOPES as usize {
        delivered += store
            .run_once(Utc::now(), 50, |_: &Envelope<_, Value>| {
                Ok::<_, SendError>(Delivery::Processed)
            })
            .unwrap()
            .delivered;
    }
    ENVELOPES as f64 / started.elapsed().as_secs_f64()
}

/// Drains with the async `Relay`; envelopes a second. The relay is told to
/// stop once the sender has seen every envelope, and stops after recording
/// the sends in flight.
async fn drain_async<S: AsyncDeliveryStore>(store: S, concurrency: usize) -> f64 {
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
    .with_config(RelayConfig {
        batch: 50,
        concurrency,
        idle_poll: Duration::from_millis(5),
        ..RelayConfig::default()
    });
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
/// `Relay` with this many sends at once.
#[derive(Clone, Copy)]
enum Side {
    Blocking,
    Async(usize),
}

/// The table's three columns.
const SIDES: [Side; 3] = [Side::Blocking, Side::Async(1), Side::Async(16)];

/// Envelopes a second on each side, the median of `ROUNDS` rounds, each
/// round on a fresh store that `round` fills and drains.
fn measure(mut round: impl FnMut(usize, Side) -> f64) -> [f64; 3] {
    let mut rates: [Vec<f64>; 3] = Default::default();
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
                if matches!(side, Side::Blocking) {
                    "blocking"
                } else {
                    "async"
                },
            );
            remove(&path);
            let mut store = SqliteStore::open(&path).unwrap();
            fill(&mut store);
            let rate = match side {
                Side::Blocking => drain_blocking(&mut store),
                Side::Async(concurrency) => {
                    drop(store);
                    runtime.block_on(async {
                        let store = AsyncSqliteStore::open(&path, StoreOptions::default())
                            .await
                            .unwrap();
                        drain_async(store, concurrency).await
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
                    Side::Blocking => drain_blocking(&mut store),
                    Side::Async(concurrency) => {
                        drop(store);
                        runtime.block_on(async {
                            let store = AsyncPostgresStore::connect_with(
                                pg_options(&url, &schema),
                                StoreOptions::default(),
                            )
                            .await
                            .unwrap();
                            drain_async(store, concurrency).await
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

    println!(
        "backend     blocking run_once   async relay (1 send)   async relay (16 sends)   ratio 16/blocking"
    );
    for (backend, [blocking, one, sixteen]) in table {
        println!(
            "{backend:<11} {blocking:>12.0}/s {one:>18.0}/s {sixteen:>20.0}/s {:>19.2}",
            sixteen / blocking
        );
    }
}
