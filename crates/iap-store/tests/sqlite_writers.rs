//! Busy writers: eight processes admit the same 5,000 keys into one SQLite
//! file, each in its own order, with the store's default settings. Every key's
//! effect is applied exactly once, and the only error any caller sees is
//! `StoreError::Busy` (which it retries); how many there were is printed.
//!
//! This file is its own test harness: run without arguments it supervises;
//! `sqlite_writers admit <file> <seed>` is one of the writers.

use iap_test_support::temp_db;

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use chrono::{TimeZone, Utc};
use iap_store::sqlite::SqliteStore;
use iap_store::{Admission, DeliveryStore, StoreError};
use integration_automation_patterns::Envelope;
use rusqlite::params;
use serde_json::json;
use temp_db::TempDb;

const WRITERS: u64 = 8;
const KEYS: u64 = 5_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, path, seed] = &args[..]
        && role == "admit"
    {
        return match admit_all(Path::new(path), seed.parse().unwrap_or_default()) {
            Ok(tally) => {
                println!("{} {} {}", tally.processed, tally.duplicates, tally.busy);
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("writer {seed}: {error}");
                ExitCode::FAILURE
            }
        };
    }
    match supervise() {
        Ok(summary) => {
            println!("{summary}");
            println!("sqlite_writers: 1 passed, 0 failed");
            ExitCode::SUCCESS
        }
        Err(broken) => {
            eprintln!("invariant broken: {broken}");
            println!("sqlite_writers: 0 passed, 1 failed");
            ExitCode::FAILURE
        }
    }
}

#[derive(Default)]
struct Tally {
    processed: u64,
    duplicates: u64,
    busy: u64,
}

fn supervise() -> Result<String, String> {
    let db = TempDb::new("writers");
    let mut store = SqliteStore::open(db.path()).map_err(|error| error.to_string())?;
    store
        .write(|tx| {
            tx.execute("CREATE TABLE shipments (order_id INTEGER NOT NULL)", [])?;
            Ok::<_, StoreError>(())
        })
        .map_err(|error| error.to_string())?;
    drop(store);
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let writers: Vec<_> = (0..WRITERS)
        .map(|seed| {
            Command::new(&exe)
                .arg("admit")
                .arg(db.path())
                .arg(seed.to_string())
                .stdout(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()
        .map_err(|error| error.to_string())?;
    let mut total = Tally::default();
    for writer in writers {
        let output = writer
            .wait_with_output()
            .map_err(|error| error.to_string())?;
        if !output.status.success() {
            return Err(format!("a writer failed ({})", output.status));
        }
        let counts: Vec<u64> = String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .filter_map(|count| count.parse().ok())
            .collect();
        let [processed, duplicates, busy] = counts[..] else {
            return Err(format!("a writer printed {counts:?}"));
        };
        total.processed += processed;
        total.duplicates += duplicates;
        total.busy += busy;
    }
    let connection = rusqlite::Connection::open(db.path()).map_err(|error| error.to_string())?;
    let (effects, keys): (u64, u64) = connection
        .query_row(
            "SELECT COUNT(*), COUNT(DISTINCT order_id) FROM shipments",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(|error| error.to_string())?;
    if effects != KEYS || keys != KEYS || total.processed != KEYS {
        return Err(format!(
            "{effects} effects on {keys} keys ({} admissions processed) for {KEYS} keys",
            total.processed
        ));
    }
    if total.processed + total.duplicates != WRITERS * KEYS {
        return Err(format!(
            "{} processed and {} duplicates for {} admissions",
            total.processed,
            total.duplicates,
            WRITERS * KEYS
        ));
    }
    Ok(format!(
        "{WRITERS} writers, {KEYS} keys: one effect per key; {} duplicates; {} calls were busy and retried",
        total.duplicates, total.busy
    ))
}

/// Admits every key once, in an order of its own, retrying a busy database
/// as a consumer would; any other error ends the writer.
fn admit_all(path: &Path, seed: u64) -> Result<Tally, String> {
    // Opening an existing store takes no write lock: no retry here.
    let mut store = SqliteStore::open(path).map_err(|error| format!("open: {error}"))?;
    let mut tally = Tally::default();
    let received = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    for step in 0..KEYS {
        // A stride coprime with KEYS visits every key once, from a different start.
        let n = (seed * 613 + step * 7_919) % KEYS;
        let envelope = Envelope::builder()
            .event_id(format!("order-{n}-placed"))
            .event_type("commerce.order.placed")
            .source_system("webshop")
            .payload(json!({ "order_id": n }))
            .created_at(received)
            .build()
            .map_err(|error| error.to_string())?;
        loop {
            let admitted = store.admit(envelope.clone(), received, |tx, event| {
                tx.execute(
                    "INSERT INTO shipments (order_id) VALUES (?1)",
                    params![event.payload()["order_id"].as_u64()],
                )
            });
            match admitted {
                Ok(Admission::Processed(..)) => tally.processed += 1,
                Ok(Admission::Duplicate(_)) => tally.duplicates += 1,
                Ok(Admission::Failed(outcome)) => {
                    return Err(format!("the effect of key {n} failed: {outcome:?}"));
                }
                Err(StoreError::Busy { .. }) => {
                    tally.busy += 1;
                    continue;
                }
                Err(other) => return Err(format!("key {n}: {other}")),
            }
            break;
        }
    }
    Ok(tally)
}
