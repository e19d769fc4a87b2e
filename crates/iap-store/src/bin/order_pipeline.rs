//! The main job: orders flow from a webshop to a warehouse through a durable
//! outbox and an idempotent inbox on one SQLite file.
//!
//! Orders are placed with their events in one transaction. A relay sends the
//! events over a seeded, flaky transport: some sends fail for a while, a few
//! fail permanently (an unknown SKU), and some events reach the warehouse twice.
//! The warehouse admits each event through its inbox and books one shipment
//! per order. A simulated clock lets retries wait their backoff without making
//! the run slow. When nothing is due any more, the unknown SKU is "fixed", the
//! dead letters are redriven, and the relay runs again.
//!
//! Prints a summary, a few audit lines and the throughput, and exits non-zero
//! if an invariant breaks: every order delivered, every shipment booked once.
//!
//! `cargo run --release --features sqlite --bin order-pipeline [-- FILE]`
//! (a temporary file by default). It is a binary of the crate, not an
//! example, so that it builds without the test-only dependencies.

use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use iap_store::sqlite::SqliteStore;
use iap_store::{Admission, Delivery, DeliveryStore, SendError, StoreError};
use integration_automation_patterns::state::Dispatched;
use integration_automation_patterns::{DeliveryStatus, Envelope, RetryPolicy};
use rusqlite::params;
use serde_json::{Value, json};

const ORDERS: u32 = 2_000;
/// Orders whose SKU the warehouse does not know until the fix.
const UNKNOWN_SKU_EVERY: u32 = 97;

fn main() -> Result<(), Box<dyn Error>> {
    let (path, temporary) = match std::env::args().nth(1) {
        Some(path) => (PathBuf::from(path), false),
        None => (
            std::env::temp_dir().join(format!("order-pipeline-{}.db", std::process::id())),
            true,
        ),
    };
    let result = run(&path);
    if temporary {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
    result
}

/// What happened, for the summary.
#[derive(Default)]
struct Tally {
    sends: u64,
    transient_failures: u64,
    redeliveries: u64,
    duplicates_skipped: u64,
    effects_applied: u64,
    dead_lettered: u64,
    redriven: u64,
}

/// A transport that fails like a real one, the same way on every run.
struct FlakyTransport {
    random: u64,
    sku_fixed: bool,
}

impl FlakyTransport {
    fn roll(&mut self) -> u64 {
        // SplitMix64.
        self.random = self.random.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.random;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % 100
    }
}

fn run(path: &std::path::Path) -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    let mut clock = Utc
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .ok_or("bad start")?;
    let mut webshop = SqliteStore::open(path)?;
    let mut warehouse = SqliteStore::open(path)?;
    webshop.write(|tx| {
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, total TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS shipments (order_id INTEGER NOT NULL);",
        )?;
        Ok::<_, StoreError>(())
    })?;

    // Place the orders: each with its event, in one transaction.
    let policy = RetryPolicy::builder()
        .max_attempts(5)
        .backoff(Duration::from_secs(30))
        .max_backoff(Duration::from_secs(900))
        .build()?;
    for id in 1..=ORDERS {
        let total = format!("{}.{:02}", 10 + id % 90, id % 100);
        let event = Envelope::builder()
            .event_id(format!("order-{id}-placed"))
            .event_type("commerce.order.placed")
            .source_system("webshop")
            .payload(json!({ "order_id": id, "total": total, "sku": sku(id) }))
            .created_at(clock)
            .retry_policy(policy.clone())
            .build()?;
        webshop.write(|tx| {
            tx.execute(
                "INSERT INTO orders (id, total) VALUES (?1, ?2)",
                params![id, total],
            )?;
            SqliteStore::enqueue(tx, &event, clock)
        })?;
    }

    let mut transport = FlakyTransport {
        random: 0x0dd5,
        sku_fixed: false,
    };
    let mut tally = Tally::default();
    relay_until_idle(
        &mut webshop,
        &mut warehouse,
        &mut transport,
        &mut tally,
        &mut clock,
    )?;

    // The SKU is added to the warehouse's catalogue; an operator redrives the dead letters.
    let dead: Vec<Envelope<integration_automation_patterns::state::Failed>> =
        webshop.dead_letters(5)?.letters;
    println!("dead letters before the fix (first {}):", dead.len());
    for letter in &dead {
        println!("  {}", letter.to_audit_line());
        println!(
            "    reason: {} (attempts: {})",
            letter.failure_reason(),
            letter.attempt_count()
        );
    }
    transport.sku_fixed = true;
    tally.redriven = webshop
        .redrive_all::<Value>("SKU added to the catalogue, ticket OPS-311", clock)?
        .redriven as u64;
    relay_until_idle(
        &mut webshop,
        &mut warehouse,
        &mut transport,
        &mut tally,
        &mut clock,
    )?;
    let elapsed = started.elapsed();

    // The invariants.
    let counts = webshop.counts()?;
    let delivered = counts
        .outbox
        .get(&DeliveryStatus::Processed)
        .copied()
        .unwrap_or_default();
    let (shipments, booked_twice): (i64, i64) = webshop.write(|tx| {
        let shipments = tx.query_row("SELECT COUNT(*) FROM shipments", [], |row| row.get(0))?;
        let twice = tx.query_row(
            "SELECT COUNT(*) FROM (SELECT order_id FROM shipments GROUP BY order_id HAVING COUNT(*) > 1)",
            [],
            |row| row.get(0),
        )?;
        Ok::<_, StoreError>((shipments, twice))
    })?;

    println!("\n{:<28}{:>8}", "orders placed", ORDERS);
    println!("{:<28}{:>8}", "events delivered", delivered);
    println!("{:<28}{:>8}", "sends", tally.sends);
    println!(
        "{:<28}{:>8}",
        "transient failures retried", tally.transient_failures
    );
    println!("{:<28}{:>8}", "dead-lettered", tally.dead_lettered);
    println!("{:<28}{:>8}", "redriven", tally.redriven);
    println!(
        "{:<28}{:>8}",
        "redelivered by the broker", tally.redeliveries
    );
    println!(
        "{:<28}{:>8}",
        "duplicates skipped", tally.duplicates_skipped
    );
    println!("{:<28}{:>8}", "effects applied", tally.effects_applied);
    println!("{:<28}{:>8}", "shipments booked", shipments);
    println!(
        "\n{} orders end to end in {:.2} s of wall time ({:.0} orders/s, every commit durable), {} of simulated time",
        ORDERS,
        elapsed.as_secs_f64(),
        f64::from(ORDERS) / elapsed.as_secs_f64(),
        humanize(
            clock
                - Utc
                    .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
                    .single()
                    .ok_or("bad start")?
        )
    );
    let last: Envelope<integration_automation_patterns::state::Processed> =
        webshop.load("webshop", &format!("order-{UNKNOWN_SKU_EVERY}-placed"))?;
    println!(
        "\na redriven order, as its audit line and history:\n  {}",
        last.to_audit_line()
    );
    for step in last.history() {
        println!(
            "    {} {:>10} -> {:<10} attempt {} {}",
            step.at().format("%H:%M:%S"),
            step.from(),
            step.to(),
            step.attempt(),
            step.reason().unwrap_or("")
        );
    }

    let mut broken = Vec::new();
    if delivered != u64::from(ORDERS) {
        broken.push(format!("{delivered} of {ORDERS} events delivered"));
    }
    if shipments != i64::from(ORDERS) || booked_twice != 0 {
        broken.push(format!(
            "{shipments} shipments for {ORDERS} orders, {booked_twice} booked twice"
        ));
    }
    if tally.effects_applied != u64::from(ORDERS) {
        broken.push(format!(
            "{} effects applied for {ORDERS} orders",
            tally.effects_applied
        ));
    }
    if broken.is_empty() {
        println!(
            "\nall invariants hold: every order delivered, every shipment booked exactly once"
        );
        Ok(())
    } else {
        Err(format!("invariants broken: {}", broken.join("; ")).into())
    }
}

/// Runs the relay until nothing is due, moving the simulated clock to the
/// next due time whenever a pass finds nothing to do.
fn relay_until_idle(
    webshop: &mut SqliteStore,
    warehouse: &mut SqliteStore,
    transport: &mut FlakyTransport,
    tally: &mut Tally,
    clock: &mut DateTime<Utc>,
) -> Result<(), Box<dyn Error>> {
    loop {
        let now = *clock;
        let report = webshop.run_once(now, 200, |envelope| {
            send(warehouse, transport, tally, envelope, now)
        })?;
        tally.dead_lettered += report.dead_lettered as u64;
        if report.claimed > 0 {
            continue;
        }
        match webshop.next_due_at()? {
            Some(next) => *clock = next.max(now + TimeDelta::milliseconds(1)),
            None => return Ok(()),
        }
    }
}

/// One send over the flaky transport to the warehouse's inbox.
fn send(
    warehouse: &mut SqliteStore,
    transport: &mut FlakyTransport,
    tally: &mut Tally,
    envelope: &Envelope<Dispatched, Value>,
    now: DateTime<Utc>,
) -> Result<Delivery, SendError> {
    tally.sends += 1;
    let roll = transport.roll();
    if roll < 15 {
        tally.transient_failures += 1;
        return Err(SendError::Transient {
            reason: "connection reset by the warehouse gateway".into(),
            retry_after: None,
        });
    }
    if roll < 20 {
        tally.transient_failures += 1;
        return Err(SendError::Transient {
            reason: "503: warehouse busy".into(),
            retry_after: Some(now + TimeDelta::minutes(2)),
        });
    }
    let order_id = envelope.payload()["order_id"].as_u64().unwrap_or_default();
    if !transport.sku_fixed && order_id.is_multiple_of(u64::from(UNKNOWN_SKU_EVERY)) {
        return Err(SendError::Permanent {
            reason: format!("422: unknown SKU {}", envelope.payload()["sku"]),
        });
    }
    // The broker delivers at least once: now and then twice.
    let deliveries = if roll >= 92 { 2 } else { 1 };
    tally.redeliveries += deliveries - 1;
    for _ in 0..deliveries {
        let received = envelope.to_received();
        let admission = warehouse
            .admit(received, now, |tx, event| {
                tx.execute(
                    "INSERT INTO shipments (order_id) VALUES (?1)",
                    params![event.payload()["order_id"].as_u64()],
                )
            })
            .map_err(|error| SendError::Transient {
                reason: error.to_string(),
                retry_after: None,
            })?;
        match admission {
            Admission::Processed(..) => tally.effects_applied += 1,
            Admission::Duplicate(_) => tally.duplicates_skipped += 1,
            Admission::Failed(outcome) => {
                return Err(SendError::Transient {
                    reason: format!("the warehouse could not book it: {outcome:?}"),
                    retry_after: None,
                });
            }
        }
    }
    Ok(Delivery::Processed)
}

fn sku(order_id: u32) -> String {
    format!("SKU-{:04}", order_id % 500)
}

fn humanize(span: TimeDelta) -> String {
    let minutes = span.num_minutes();
    format!("{}h{:02}m", minutes / 60, minutes % 60)
}
