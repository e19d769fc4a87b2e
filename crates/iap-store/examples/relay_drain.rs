//! Drains trivial envelopes with blocking relay workers and prints the rate:
//! the crate's side of `scripts/bench-relay.sh`.
//!
//! `cargo run --release --features sqlite,postgres --example relay_drain --
//! BACKEND MODE WORKERS ENVELOPES ROUNDS [KEYS]`, where BACKEND is `sqlite`
//! or `postgres` (the server named by `IAP_POSTGRES_URL`, in a schema of its
//! own) and MODE is `each` (`run_once`, one commit per outcome, claims of
//! 50) or `batched` (`run_once_batched`, one commit per claim of 500); with
//! KEYS, envelope `n` has the ordering key `n % KEYS`. Each worker is a
//! thread with its own connection. Every commit is durable. The envelopes of
//! a round are enqueued first, untimed; the round is timed from the first
//! claim until every envelope is delivered. Prints the median envelopes a
//! second over the rounds.

use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::Utc;
use iap_store::postgres::PostgresStore;
use iap_store::sqlite::SqliteStore;
use iap_store::{Delivery, DeliveryStore, RunReport, SendError, StoreError, StoreOptions};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::state::Pending;
use serde_json::{Value, json};

/// Envelopes enqueued per transaction before a round.
const ENQUEUE_CHUNK: u64 = 5_000;

#[derive(Clone, Copy)]
enum Mode {
    /// `run_once`: each outcome in its own commit.
    Each,
    /// `run_once_batched`: a claim's outcomes in one commit.
    Batched,
}

impl Mode {
    fn claim_size(self) -> usize {
        match self {
            Mode::Each => 50,
            Mode::Batched => 500,
        }
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (backend, mode, workers, envelopes, rounds, keys) = match args.as_slice() {
        [backend, mode, workers, envelopes, rounds] => {
            (backend, mode, workers, envelopes, rounds, None)
        }
        [backend, mode, workers, envelopes, rounds, keys] => (
            backend,
            mode,
            workers,
            envelopes,
            rounds,
            Some(keys.parse::<u64>()?),
        ),
        _ => {
            return Err(
                "usage: relay_drain sqlite|postgres each|batched WORKERS ENVELOPES ROUNDS [KEYS]"
                    .into(),
            );
        }
    };
    let mode = match mode.as_str() {
        "each" => Mode::Each,
        "batched" => Mode::Batched,
        other => return Err(format!("unknown mode {other:?}: each or batched").into()),
    };
    let (workers, envelopes, rounds): (usize, u64, usize) =
        (workers.parse()?, envelopes.parse()?, rounds.parse()?);
    let mut rates = match backend.as_str() {
        "sqlite" => {
            let path = std::env::temp_dir().join(format!("iap-drain-{}.db", std::process::id()));
            let open = || SqliteStore::open(&path);
            let rates = drain_rounds(open, mode, workers, envelopes, rounds, keys);
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
            rates?
        }
        "postgres" => {
            let connection = fresh_schema()?;
            let open = || PostgresStore::connect(&connection, StoreOptions::default());
            drain_rounds(open, mode, workers, envelopes, rounds, keys)?
        }
        other => return Err(format!("unknown backend {other:?}: sqlite or postgres").into()),
    };
    rates.sort_by(f64::total_cmp);
    println!("{:.0}", rates[rates.len() / 2]);
    Ok(())
}

/// The rate of each round, every round on a store emptied of the last.
fn drain_rounds<S: DeliveryStore + Send>(
    open: impl Fn() -> Result<S, StoreError>,
    mode: Mode,
    workers: usize,
    envelopes: u64,
    rounds: usize,
    keys: Option<u64>,
) -> Result<Vec<f64>, Box<dyn Error>> {
    let mut stores: Vec<S> = (0..workers.max(1))
        .map(|_| open())
        .collect::<Result<_, _>>()?;
    let mut rates = Vec::with_capacity(rounds);
    for round in 0..rounds.max(1) {
        let first = round as u64 * envelopes;
        enqueue(&mut stores[0], first, envelopes, keys)?;
        let started = Instant::now();
        let delivered = drain(&mut stores, mode, envelopes as usize)?;
        let seconds = started.elapsed().as_secs_f64();
        if delivered != envelopes as usize {
            return Err(format!("delivered {delivered} of {envelopes}").into());
        }
        rates.push(envelopes as f64 / seconds);
    }
    Ok(rates)
}

fn enqueue<S: DeliveryStore>(
    store: &mut S,
    first: u64,
    count: u64,
    keys: Option<u64>,
) -> Result<(), StoreError> {
    let mut next = first;
    while next < first + count {
        let end = (next + ENQUEUE_CHUNK).min(first + count);
        store.write(|tx| {
            for n in next..end {
                S::enqueue(tx, &order(n, keys), Utc::now())?;
            }
            Ok::<_, StoreError>(())
        })?;
        next = end;
    }
    Ok(())
}

/// Every worker claims and sends until `envelopes` are delivered in all (a
/// pass may find nothing while other workers hold every free key); the
/// envelopes delivered.
fn drain<S: DeliveryStore + Send>(
    stores: &mut [S],
    mode: Mode,
    envelopes: usize,
) -> Result<usize, Box<dyn Error>> {
    let delivered = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = stores
            .iter_mut()
            .map(|store| {
                let delivered = &delivered;
                scope.spawn(move || worker(store, mode, delivered, envelopes))
            })
            .collect();
        for worker in workers {
            worker.join().map_err(|_| "a worker thread panicked")??;
        }
        Ok(delivered.load(Ordering::SeqCst))
    })
}

fn worker<S: DeliveryStore>(
    store: &mut S,
    mode: Mode,
    delivered: &AtomicUsize,
    envelopes: usize,
) -> Result<(), StoreError> {
    let send = |_: &Envelope<_, Value>| Ok::<_, SendError>(Delivery::Processed);
    while delivered.load(Ordering::SeqCst) < envelopes {
        let report: RunReport = match mode {
            Mode::Each => store.run_once(Utc::now(), mode.claim_size(), send)?,
            Mode::Batched => store.run_once_batched(Utc::now(), mode.claim_size(), send)?,
        };
        delivered.fetch_add(report.delivered, Ordering::SeqCst);
    }
    Ok(())
}

fn order(n: u64, keys: Option<u64>) -> Envelope<Pending> {
    let builder = Envelope::builder()
        .event_id(format!("order-{n}"))
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": n }));
    match keys {
        Some(keys) => builder.ordering_key(format!("customer-{}", n % keys)),
        None => builder,
    }
    .build()
    .expect("every attribute of a benchmark envelope is valid")
}

/// A fresh schema on the server named by `IAP_POSTGRES_URL`, migrated; the
/// connection string that selects it.
fn fresh_schema() -> Result<String, Box<dyn Error>> {
    let url = std::env::var("IAP_POSTGRES_URL")
        .map_err(|_| "set IAP_POSTGRES_URL to the server to measure")?;
    let schema = "iap_relay_drain";
    let mut admin = postgres::Client::connect(&url, postgres::NoTls)?;
    admin.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
    ))?;
    let connection = format!("{url} options='-c search_path={schema}'");
    PostgresStore::connect(&connection, StoreOptions::default())?.migrate()?;
    Ok(connection)
}
