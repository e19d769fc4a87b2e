//! Crash recovery: a worker process enqueues orders with their events, relays
//! them and consumes them through the inbox, all on one SQLite file, and is
//! killed with SIGKILL at random points, over and over. Most events carry an
//! ordering key (their customer), and some fail their first send. After every
//! kill nothing enqueued is lost, no inbox effect is applied twice, and per
//! customer the effects are in the order the orders were placed; at the end a
//! final relay delivers every order exactly once.
//!
//! This file is its own test harness: run without arguments it supervises;
//! `crash_recovery worker <file>` is the worker it kills.

use iap_test_support::temp_db;

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use iap_store::sqlite::SqliteStore;
use iap_store::{Admission, Delivery, DeliveryStore, SendError, StoreError, StoreOptions};
use integration_automation_patterns::{Envelope, RetryPolicy};
use rusqlite::{Connection, params};
use serde_json::{Value, json};
use temp_db::TempDb;

const ROUNDS: u64 = 40;
/// Short, so that the claims of a killed worker, which hold their keys, are
/// taken over by the next worker.
const LEASE: Duration = Duration::from_millis(200);
/// Customers: the ordering keys.
const CUSTOMERS: i64 = 7;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, path] = &args[..]
        && role == "worker"
    {
        worker(Path::new(path));
    }
    match supervise() {
        Ok(summary) => {
            println!("{summary}");
            println!("crash_recovery: 1 passed, 0 failed");
            ExitCode::SUCCESS
        }
        Err(broken) => {
            eprintln!("invariant broken: {broken}");
            println!("crash_recovery: 0 passed, 1 failed");
            ExitCode::FAILURE
        }
    }
}

/// Starts the worker, kills it at a random point, checks the file; repeats;
/// then drains what is left.
fn supervise() -> Result<String, String> {
    let db = TempDb::new("crash");
    create_tables(db.path()).map_err(|error| error.to_string())?;
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let mut random = SplitMix(0x5eed);
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .arg("worker")
            .arg(db.path())
            .spawn()
            .map_err(|error| error.to_string())?;
        std::thread::sleep(Duration::from_millis(20 + random.next() % 80));
        // Child::kill sends SIGKILL: no destructor, no rollback, no flush runs.
        child.kill().map_err(|error| error.to_string())?;
        let _ = child.wait();
        check(db.path()).map_err(|broken| format!("after kill {round}: {broken}"))?;
    }
    let orders = drain(db.path()).map_err(|error| error.to_string())?;
    let facts = facts(db.path()).map_err(|error| error.to_string())?;
    if facts.outbox_not_processed != 0 {
        return Err(format!(
            "{} events were never delivered",
            facts.outbox_not_processed
        ));
    }
    if facts.effects != orders || facts.max_effects_per_event > 1 {
        return Err(format!(
            "{orders} orders but {} effects (at most {} for one event)",
            facts.effects, facts.max_effects_per_event
        ));
    }
    if orders < ROUNDS {
        return Err(format!(
            "the worker made too little progress to test anything: {orders} orders"
        ));
    }
    if facts.keyed_retried == 0 {
        return Err("no keyed event was retried: order across retries was not tested".into());
    }
    Ok(format!(
        "{ROUNDS} kills; {orders} orders placed ({} keyed events retried), every event \
         delivered, every effect applied once and in order per customer",
        facts.keyed_retried
    ))
}

fn create_tables(path: &Path) -> Result<(), StoreError> {
    let mut store = SqliteStore::open(path)?;
    store.write(|tx| {
        // Effects are numbered in the order they are applied.
        tx.execute_batch(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY);
             CREATE TABLE effects (
                 applied INTEGER PRIMARY KEY AUTOINCREMENT,
                 event_id TEXT NOT NULL,
                 customer TEXT,
                 order_id INTEGER NOT NULL
             );",
        )?;
        Ok(())
    })
}

/// What the file says, read with a plain connection.
struct Facts {
    orders: u64,
    outbox: u64,
    outbox_not_processed: u64,
    effects: u64,
    inbox_keys: u64,
    max_effects_per_event: u64,
    /// Effects applied before an effect of an earlier order of the same customer.
    out_of_order: u64,
    /// Keyed events sent more than once.
    keyed_retried: u64,
}

fn facts(path: &Path) -> rusqlite::Result<Facts> {
    let connection = Connection::open(path)?;
    let count = |sql: &str| {
        connection
            .query_row(sql, [], |row| row.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
    };
    Ok(Facts {
        orders: count("SELECT COUNT(*) FROM orders")?,
        outbox: count("SELECT COUNT(*) FROM iap_outbox")?,
        outbox_not_processed: count("SELECT COUNT(*) FROM iap_outbox WHERE status <> 'processed'")?,
        effects: count("SELECT COUNT(*) FROM effects")?,
        inbox_keys: count("SELECT COUNT(*) FROM iap_inbox")?,
        max_effects_per_event: count(
            "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM effects GROUP BY event_id)",
        )?,
        out_of_order: count(
            "SELECT COUNT(*) FROM (
                 SELECT order_id, LAG(order_id) OVER (PARTITION BY customer ORDER BY applied) AS earlier
                 FROM effects WHERE customer IS NOT NULL
             ) WHERE earlier > order_id",
        )?,
        keyed_retried: count(
            "SELECT COUNT(*) FROM iap_outbox WHERE ordering_key IS NOT NULL AND attempts > 1",
        )?,
    })
}

/// The invariants that hold at any instant, whatever was killed when.
fn check(path: &Path) -> Result<(), String> {
    let facts = facts(path).map_err(|error| error.to_string())?;
    if facts.orders != facts.outbox {
        return Err(format!(
            "{} orders but {} outbox events",
            facts.orders, facts.outbox
        ));
    }
    if facts.effects != facts.inbox_keys {
        return Err(format!(
            "{} effects but {} inbox keys",
            facts.effects, facts.inbox_keys
        ));
    }
    if facts.max_effects_per_event > 1 {
        return Err(format!(
            "an effect was applied {} times",
            facts.max_effects_per_event
        ));
    }
    if facts.out_of_order > 0 {
        return Err(format!(
            "{} effects were applied before an earlier order of their customer",
            facts.out_of_order
        ));
    }
    Ok(())
}

/// Relays until nothing is due, a day later so that every lease has run out.
fn drain(path: &Path) -> Result<u64, StoreError> {
    let (mut producer, mut consumer) = (open(path)?, open(path)?);
    let later = Utc::now() + TimeDelta::days(1);
    for pass in 0..1000 {
        let report = producer.run_once(later + TimeDelta::hours(pass), 100, |envelope| {
            deliver(&mut consumer, envelope, false)
        })?;
        if report.claimed == 0 && report.dead_lettered == 0 {
            break;
        }
    }
    Ok(facts(path).map(|facts| facts.orders).unwrap_or_default())
}

/// The worker: place an order with its event, relay, consume; forever, until killed.
fn worker(path: &Path) -> ! {
    let (mut producer, mut consumer) = match (open(path), open(path)) {
        (Ok(producer), Ok(consumer)) => (producer, consumer),
        _ => std::process::exit(2),
    };
    loop {
        let placed = producer.write(|tx| {
            let id: i64 =
                tx.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM orders", [], |row| {
                    row.get(0)
                })?;
            tx.execute("INSERT INTO orders (id) VALUES (?1)", params![id])?;
            let event = Envelope::builder()
                .event_id(format!("order-{id}"))
                .event_type("commerce.order.placed")
                .source_system("webshop")
                .payload(json!({ "order_id": id }))
                .retry_policy(quick_retries());
            let event = match customer(id) {
                Some(customer) => event.ordering_key(customer),
                None => event,
            };
            let event = event.build().map_err(|error| StoreError::Encode {
                source_system: "webshop".into(),
                event_id: id.to_string(),
                reason: error.to_string(),
            })?;
            SqliteStore::enqueue(tx, &event, Utc::now())
        });
        let relayed = producer.run_once(Utc::now(), 5, |envelope| {
            deliver(&mut consumer, envelope, true)
        });
        if placed.is_err() || relayed.is_err() {
            std::process::exit(3);
        }
    }
}

fn open(path: &Path) -> Result<SqliteStore, StoreError> {
    let options = StoreOptions::default().lease(LEASE);
    SqliteStore::open_with(path, options)
}

/// The ordering key of an order's event: its customer, for four orders in five.
fn customer(order_id: i64) -> Option<String> {
    (order_id % 5 != 0).then(|| format!("customer-{}", order_id % CUSTOMERS))
}

/// Retries soon after a failure, so that a retrying event holds its
/// customer's later orders back for a few rounds, not for the whole run.
fn quick_retries() -> RetryPolicy {
    let policy = RetryPolicy::builder()
        .max_attempts(20)
        .backoff(Duration::from_millis(20))
        .exponential(false)
        .build();
    policy.unwrap_or_else(|error| panic!("{error}"))
}

/// Delivers a dispatched event to the consumer's inbox as the consumer would
/// receive it (a plain CloudEvent); with `redeliver`, some events twice, as a
/// broker with at-least-once delivery does. The first send of every fourth
/// order fails.
fn deliver(
    consumer: &mut SqliteStore,
    envelope: &Envelope<integration_automation_patterns::state::Dispatched, Value>,
    redeliver: bool,
) -> Result<Delivery, SendError> {
    let transient = |reason: String| SendError::Transient {
        reason,
        retry_after: None,
    };
    let order_id = envelope.payload()["order_id"].as_i64().unwrap_or_default();
    if order_id % 4 == 1 && envelope.attempt_count() == 1 {
        return Err(transient("the receiver is busy".into()));
    }
    let received = envelope.to_received();
    let times = if redeliver && envelope.event_id().ends_with('3') {
        2
    } else {
        1
    };
    for _ in 0..times {
        let admission = consumer
            .admit(received.clone(), Utc::now(), |tx, event| {
                tx.execute(
                    "INSERT INTO effects (event_id, customer, order_id) VALUES (?1, ?2, ?3)",
                    params![event.event_id(), customer(order_id), order_id],
                )
            })
            .map_err(|error| transient(error.to_string()))?;
        if let Admission::Failed(outcome) = admission {
            return Err(transient(format!("the effect failed: {outcome:?}")));
        }
    }
    Ok(Delivery::Processed)
}

/// A deterministic stream of numbers (SplitMix64), so every run kills at the same points.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
