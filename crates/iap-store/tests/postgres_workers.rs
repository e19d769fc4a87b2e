//! Many workers on one PostgreSQL database: four relay worker processes drain
//! 20,000 envelopes while a consumer receives each at least once and some
//! twice. Every envelope must be delivered, no envelope claimed by two workers
//! at once, and every effect applied once. Then the same again with one worker
//! killed with SIGKILL mid-run: the others finish its claims once their lease
//! runs out.
//!
//! This file is its own test harness: run without arguments it supervises;
//! `postgres_workers worker <connection string> <id> <stall after>` is a
//! worker. A worker told to stall claims a batch after delivering that many
//! envelopes and never records it, so that it is killed holding claims.

use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use chrono::Utc;
use iap_store::postgres::PostgresStore;
use iap_store::{Admission, Delivery, DeliveryStore, SendError, StoreError, StoreOptions};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::state::{Dispatched, Pending};
use serde_json::{Value, json};

const ENVELOPES: u32 = 20_000;
const WORKERS: u32 = 4;
/// Short, so that a killed worker's claims are taken over within the test.
const LEASE: Duration = Duration::from_secs(2);
const DEADLINE: Duration = Duration::from_secs(300);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, connection, id, stall_after] = &args[..]
        && role == "worker"
    {
        let id = id.parse().unwrap_or_default();
        return match worker(connection, id, stall_after.parse().unwrap_or_default()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("worker {id}: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let Ok(url) = std::env::var("IAP_POSTGRES_URL") else {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            eprintln!(
                "IAP_POSTGRES_URL is not set: the PostgreSQL worker test cannot run under CI"
            );
            println!("postgres_workers: 0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
        println!("postgres_workers: skipped, set IAP_POSTGRES_URL to run it");
        return ExitCode::SUCCESS;
    };
    let mut failed = 0;
    for (phase, kill_one) in [("workers", false), ("workers_killed", true)] {
        match run_phase(&url, phase, kill_one) {
            Ok(summary) => println!("{phase}: {summary}"),
            Err(broken) => {
                eprintln!("{phase}: {broken}");
                failed += 1;
            }
        }
    }
    println!("postgres_workers: {} passed, {failed} failed", 2 - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Fills a fresh schema with envelopes, runs the workers (killing one if
/// asked), and checks what they did.
fn run_phase(url: &str, phase: &str, kill_one: bool) -> Result<String, String> {
    let schema = format!("iap_{phase}_{}", std::process::id());
    let mut admin = postgres::Client::connect(url, postgres::NoTls).map_err(|e| e.to_string())?;
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
        ))
        .map_err(|e| e.to_string())?;
    // The test is about who claims what, not about the disk: commits need not wait for it.
    let connection = format!("{url} options='-c search_path={schema} -c synchronous_commit=off'");
    let mut store =
        PostgresStore::connect(&connection, StoreOptions::default()).map_err(|e| e.to_string())?;
    store.migrate().map_err(|e| e.to_string())?;
    store
        .write(|tx| {
            tx.batch_execute(
                "CREATE TABLE deliveries (event_id TEXT NOT NULL, attempt BIGINT NOT NULL, worker BIGINT NOT NULL);
                 CREATE TABLE effects (event_id TEXT NOT NULL);",
            )?;
            Ok::<_, StoreError>(())
        })
        .map_err(|e| e.to_string())?;
    for chunk in 0..ENVELOPES / 1000 {
        store
            .write(|tx| {
                for n in chunk * 1000..(chunk + 1) * 1000 {
                    PostgresStore::enqueue(tx, &order(n), Utc::now())?;
                }
                Ok::<_, StoreError>(())
            })
            .map_err(|e| e.to_string())?;
    }

    let started = Instant::now();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut workers: Vec<Child> = (0..WORKERS)
        .map(|id| {
            let stall_after = if kill_one && id == 0 {
                ENVELOPES / 100
            } else {
                0
            };
            Command::new(&exe)
                .arg("worker")
                .arg(&connection)
                .arg(id.to_string())
                .arg(stall_after.to_string())
                .spawn()
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    if kill_one {
        // Kill worker 0 once the run is well under way.
        while count(&mut admin, &schema, "SELECT COUNT(*) FROM effects")? < i64::from(ENVELOPES / 5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        workers[0].kill().map_err(|e| e.to_string())?;
    }
    for (id, worker) in workers.iter_mut().enumerate() {
        loop {
            match worker.try_wait().map_err(|e| e.to_string())? {
                Some(_) if kill_one && id == 0 => break,
                Some(status) if status.success() => break,
                Some(status) => return Err(format!("worker {id} ended with {status}")),
                None if started.elapsed() > DEADLINE => {
                    let _ = worker.kill();
                    return Err(format!("worker {id} did not finish within {DEADLINE:?}"));
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    let elapsed = started.elapsed();

    let undelivered = count(
        &mut admin,
        &schema,
        "SELECT COUNT(*) FROM iap_outbox WHERE status <> 'processed'",
    )?;
    let effects = count(&mut admin, &schema, "SELECT COUNT(*) FROM effects")?;
    let distinct_effects = count(
        &mut admin,
        &schema,
        "SELECT COUNT(DISTINCT event_id) FROM effects",
    )?;
    let double_claims = count(
        &mut admin,
        &schema,
        "SELECT COUNT(*) FROM (SELECT event_id, attempt FROM deliveries
         GROUP BY event_id, attempt HAVING COUNT(DISTINCT worker) > 1) AS shared",
    )?;
    let redelivered = count(
        &mut admin,
        &schema,
        "SELECT COUNT(*) FROM (SELECT event_id FROM deliveries GROUP BY event_id HAVING COUNT(*) > 1) AS twice",
    )?;
    let taken_over = count(
        &mut admin,
        &schema,
        "SELECT COUNT(*) FROM iap_outbox WHERE attempts > 1",
    )?;
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .map_err(|e| e.to_string())?;
    let all = i64::from(ENVELOPES);
    if undelivered != 0 {
        return Err(format!("{undelivered} envelopes were never delivered"));
    }
    if effects != all || distinct_effects != all {
        return Err(format!(
            "{effects} effects for {distinct_effects} of {all} events"
        ));
    }
    if double_claims != 0 {
        return Err(format!(
            "{double_claims} attempts were claimed by two workers at once"
        ));
    }
    if redelivered == 0 {
        return Err("no event was received twice: the inbox was not exercised".into());
    }
    if kill_one && taken_over == 0 {
        return Err("no claim was taken over from the killed worker".into());
    }
    Ok(format!(
        "{all} envelopes by {WORKERS} workers in {:.1} s{}; {redelivered} received twice, every effect applied once{}",
        elapsed.as_secs_f64(),
        if kill_one { ", one killed" } else { "" },
        if kill_one {
            format!(", {taken_over} claims taken over")
        } else {
            String::new()
        }
    ))
}

fn count(admin: &mut postgres::Client, schema: &str, sql: &str) -> Result<i64, String> {
    admin
        .batch_execute(&format!("SET search_path TO {schema}"))
        .map_err(|e| e.to_string())?;
    admin
        .query_one(sql, &[])
        .map(|row| row.get(0))
        .map_err(|e| e.to_string())
}

fn order(n: u32) -> Envelope<Pending> {
    let event = Envelope::builder()
        .event_id(format!("order-{n}"))
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": n }))
        .build();
    event.unwrap_or_else(|error| panic!("{error}"))
}

/// A relay worker with its own consumer connection: runs until nothing is
/// left to deliver. With `stall_after` above zero, it claims a batch after
/// delivering that many envelopes and then waits, holding the claims, to be killed.
fn worker(connection: &str, id: i64, stall_after: usize) -> Result<(), StoreError> {
    let options = StoreOptions::default().lease(LEASE);
    let mut relay = PostgresStore::connect(connection, options)?;
    let mut consumer = PostgresStore::connect(connection, options)?;
    let mut delivered = 0;
    loop {
        if stall_after > 0 && delivered >= stall_after {
            let held = relay.claim_due::<Value>(Utc::now(), 50)?;
            eprintln!("worker {id}: stalled holding {} claims", held.claims.len());
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        let report = relay.run_once(Utc::now(), 50, |envelope| {
            deliver(&mut consumer, envelope, id)
        })?;
        delivered += report.delivered;
        if report.claimed == 0 {
            let counts = relay.counts()?;
            let left: u64 = counts
                .outbox
                .iter()
                .filter(|(status, _)| !status.is_terminal() && status.as_str() != "acknowledged")
                .map(|(_, count)| count)
                .sum();
            if left == 0 {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Delivers a claimed envelope to the consumer's inbox, noting who delivered
/// which attempt; every seventh event twice, as a broker may.
fn deliver(
    consumer: &mut PostgresStore,
    envelope: &Envelope<Dispatched, Value>,
    worker: i64,
) -> Result<Delivery, SendError> {
    let transient = |reason: String| SendError::Transient {
        reason,
        retry_after: None,
    };
    let order_id = envelope.payload()["order_id"].as_u64().unwrap_or_default();
    let times = if order_id.is_multiple_of(7) { 2 } else { 1 };
    for _ in 0..times {
        let (event_id, attempt) = (
            envelope.event_id().to_owned(),
            i64::from(envelope.attempt_count()),
        );
        consumer
            .write(|tx| {
                tx.execute(
                    "INSERT INTO deliveries (event_id, attempt, worker) VALUES ($1, $2, $3)",
                    &[&event_id, &attempt, &worker],
                )?;
                Ok::<_, StoreError>(())
            })
            .map_err(|error| transient(error.to_string()))?;
        let received = envelope.to_received();
        let admission = consumer
            .admit(received, Utc::now(), |tx, _| {
                tx.execute("INSERT INTO effects (event_id) VALUES ($1)", &[&event_id])
            })
            .map_err(|error| transient(error.to_string()))?;
        if let Admission::Failed(outcome) = admission {
            return Err(transient(format!("the effect failed: {outcome:?}")));
        }
    }
    Ok(Delivery::Processed)
}
