//! Ordered delivery per key with relay worker processes on one PostgreSQL
//! database: the model of `ordering_model` (random enqueues over few and many
//! keys, random transient and permanent failures, claims abandoned until
//! their lease runs out), drained by 4 worker processes while the envelopes
//! are being enqueued. The workers share a simulated clock, a row of the
//! database, and log every claim and send in one sequence; replayed, the log
//! shows no two envelopes of a key ever in flight together, and per key the
//! sends in enqueue order. What the store holds once the workers are done is
//! checked as with threads, and so is a redrive.
//!
//! This file is its own test harness: run without arguments it supervises;
//! `ordering_workers worker <connection string> <hold|release>` is a worker.

use iap_test_support::backends;
use iap_test_support::ordering;

use std::process::{Child, Command, ExitCode};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use backends::Backend;
use backends::postgres::Schema;
use iap_store::postgres::PostgresStore;
use iap_store::{DeadLetterKeys, StoreError};
use ordering::{
    CHUNK, Fate, HORIZON, IDLE_STEP, InFlight, Planned, Sent, WORKERS, at, check_drained,
    check_redriven, event, fate_of, number, only_held_wait, options, record, scenarios, seconds_at,
};
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

/// How long one drain by the workers may take, in real time.
const DEADLINE: Duration = Duration::from_secs(120);

/// The model's tables, beside the store's. The clock's row is also the lock
/// that orders the log: every line and every tick takes it, so the log's
/// order is the order in which things happened.
const MODEL_TABLES: &str = "
    CREATE TABLE model_clock (
        seconds BIGINT NOT NULL,
        enqueued BOOLEAN NOT NULL,
        until_seconds BIGINT NOT NULL,
        redriven BOOLEAN NOT NULL
    );
    INSERT INTO model_clock VALUES (0, false, 0, false);
    CREATE TABLE model_log (
        line BIGSERIAL PRIMARY KEY,
        event BIGINT NOT NULL,
        what TEXT NOT NULL,
        at_seconds BIGINT NOT NULL,
        lease_until BIGINT NOT NULL
    );";

/// A line of the log, if the claim it is about (leased until `$3`) has not
/// run out on the clock: a worker acts only within its lease, as a relay
/// that extends the lease of a long send does.
const LOG_WITHIN_LEASE: &str = "
    INSERT INTO model_log (event, what, at_seconds, lease_until)
    SELECT $1, $2, seconds, $3 FROM model_clock WHERE seconds < $3 FOR UPDATE";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, connection, mode] = &args[..]
        && role == "worker"
    {
        return match worker(connection, dead_letter_keys(mode)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("worker: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let mut failed = 0;
    for mode in [DeadLetterKeys::Hold, DeadLetterKeys::Release] {
        let name = format!("worker processes, dead letters {}", mode_name(mode));
        match check(mode) {
            Ok(true) => println!("{name}: ok"),
            Ok(false) => {
                println!("ordering_workers: skipped, set IAP_POSTGRES_URL to run it");
                return ExitCode::SUCCESS;
            }
            Err(failure) => {
                eprintln!("{name}: {failure}");
                failed += 1;
            }
        }
    }
    println!("ordering_workers: {} passed, {failed} failed", 2 - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn mode_name(mode: DeadLetterKeys) -> &'static str {
    match mode {
        DeadLetterKeys::Hold => "hold",
        DeadLetterKeys::Release => "release",
    }
}

fn dead_letter_keys(name: &str) -> DeadLetterKeys {
    if name == mode_name(DeadLetterKeys::Release) {
        DeadLetterKeys::Release
    } else {
        DeadLetterKeys::Hold
    }
}

/// Runs random scenarios; `Ok(false)` when there is no server to run them on.
fn check(mode: DeadLetterKeys) -> Result<bool, String> {
    if std::env::var("IAP_POSTGRES_URL").is_err() {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            return Err("IAP_POSTGRES_URL is not set: the test cannot run under CI".into());
        }
        return Ok(false);
    }
    let mut runner = TestRunner::new(Config {
        cases: 6,
        failure_persistence: None,
        max_shrink_iters: 16,
        ..Config::default()
    });
    let cases = AtomicU32::new(0);
    runner
        .run(&scenarios(), |plan| {
            let case = cases.fetch_add(1, Ordering::SeqCst);
            drain_in_order(&plan, mode, case);
            Ok(())
        })
        .map(|()| true)
        .map_err(|failure| failure.to_string())
}

/// One scenario: workers drain while it is enqueued; with dead letters
/// holding their keys, the operator then redrives them and the workers drain
/// again. Panics on a broken rule (the runner reports the scenario).
fn drain_in_order(plan: &[Planned], mode: DeadLetterKeys, case: u32) {
    let schema = Schema::new(&format!("{}_{case}", mode_name(mode)), "p").unwrap();
    let connection = format!(
        "{} application_name={} options='-c search_path={} -c synchronous_commit=off'",
        schema.url, schema.name, schema.name
    );
    let mut store = PostgresStore::open_with(&schema, options(mode));
    let mut model = postgres::Client::connect(&connection, postgres::NoTls).unwrap();
    model.batch_execute(MODEL_TABLES).unwrap();

    let workers = start_workers(&connection, mode);
    for chunk in plan.iter().enumerate().collect::<Vec<_>>().chunks(CHUNK) {
        let now = at(model
            .query_one("SELECT seconds FROM model_clock", &[])
            .unwrap()
            .get(0));
        store
            .write(|tx| {
                for (n, planned) in chunk {
                    PostgresStore::enqueue(tx, &event(*n, planned, now), now)?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    model
        .execute(
            "UPDATE model_clock SET enqueued = true, until_seconds = seconds + $1",
            &[&HORIZON],
        )
        .unwrap();
    wait_for(workers);
    check_drained(&mut store, plan, &replay(&mut model, plan), mode);

    if mode == DeadLetterKeys::Hold {
        // Redriven, every dead letter is sent first, then what waited.
        let seconds: i64 = model
            .query_one(
                "UPDATE model_clock SET redriven = true, until_seconds = seconds + $1
                 RETURNING seconds",
                &[&HORIZON],
            )
            .unwrap()
            .get(0);
        store.redrive_all::<Value>("operator", at(seconds)).unwrap();
        wait_for(start_workers(&connection, mode));
        check_redriven(&mut store, plan, &replay(&mut model, plan));
    }
    model
        .batch_execute(&format!("DROP SCHEMA {} CASCADE", schema.name))
        .unwrap();
}

fn start_workers(connection: &str, mode: DeadLetterKeys) -> Vec<Child> {
    let exe = std::env::current_exe().unwrap();
    (0..WORKERS)
        .map(|_| {
            Command::new(&exe)
                .args(["worker", connection, mode_name(mode)])
                .spawn()
                .unwrap()
        })
        .collect()
}

fn wait_for(mut workers: Vec<Child>) {
    let started = Instant::now();
    for worker in &mut workers {
        loop {
            match worker.try_wait().unwrap() {
                Some(status) => {
                    assert!(status.success(), "a worker ended with {status}");
                    break;
                }
                None if started.elapsed() > DEADLINE => {
                    for worker in &mut workers {
                        let _ = worker.kill();
                    }
                    panic!("the workers did not finish within {DEADLINE:?}");
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

/// Replays the log: every claim against what is in flight (panicking on
/// an overlap), and what was delivered, per key, in order.
fn replay(model: &mut postgres::Client, plan: &[Planned]) -> Sent {
    let mut in_flight = InFlight::default();
    let mut sent = Sent::new();
    let lines = model
        .query(
            "SELECT event, what, at_seconds, lease_until FROM model_log ORDER BY line",
            &[],
        )
        .unwrap();
    for line in lines {
        let n = usize::try_from(line.get::<_, i64>(0)).unwrap();
        let what: String = line.get(1);
        let key = plan[n].key;
        match (what.as_str(), key) {
            ("claim", Some(k)) => in_flight.claimed(k, n, at(line.get(3)), at(line.get(2))),
            ("claim", None) => {}
            (sent_as, _) => {
                if let Some(k) = key {
                    in_flight.sent(k, n);
                }
                if sent_as == Fate::Deliver.name() {
                    sent.entry(key).or_default().push(n);
                }
            }
        }
    }
    sent
}

/// A relay worker: claims what is due on the shared clock, logs each claim
/// and each send, and records what the send did, until everything is
/// enqueued and the drain is over.
fn worker(connection: &str, mode: DeadLetterKeys) -> Result<(), StoreError> {
    let mut store = PostgresStore::connect(connection, options(mode))?;
    let mut model = postgres::Client::connect(connection, postgres::NoTls)?;
    loop {
        let clock = model.query_one(
            "SELECT seconds, enqueued, until_seconds, redriven FROM model_clock",
            &[],
        )?;
        let (seconds, enqueued, until, redriven): (i64, bool, i64, bool) =
            (clock.get(0), clock.get(1), clock.get(2), clock.get(3));
        if enqueued && seconds > until {
            return Ok(());
        }
        let claims = store.claim_due::<Value>(at(seconds), 5)?.claims;
        if claims.is_empty() {
            if enqueued && only_held_wait(&mut store) {
                return Ok(());
            }
            model.execute(
                "UPDATE model_clock SET seconds = seconds + $1",
                &[&IDLE_STEP],
            )?;
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        for claim in claims {
            let n = i64::try_from(number(claim.envelope.event_id())).unwrap_or(i64::MAX);
            let lease = seconds_at(claim.lease_until);
            // A claim that ran out while the worker sent the ones before it
            // is given up unseen, as a worker that died would.
            if model.execute(LOG_WITHIN_LEASE, &[&n, &"claim", &lease])? == 0 {
                continue;
            }
            let fate = fate_of(&claim.envelope, redriven);
            if fate == Fate::Abandon
                || model.execute(LOG_WITHIN_LEASE, &[&n, &fate.name(), &lease])? == 0
            {
                continue;
            }
            record(&mut store, claim.envelope, fate, at(seconds + 1));
        }
    }
}
