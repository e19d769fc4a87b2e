//! The SQLite store, on real database files: outbox, relay, dead letters,
//! typed access, inbox, and the refusal of bad files and rows.
#![cfg(feature = "sqlite")]

#[path = "support/temp_db.rs"]
mod temp_db;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use integration_automation_patterns::state::{Failed, Pending, Processed, Retrying};
use integration_automation_patterns::store::sqlite::SqliteStore;
use integration_automation_patterns::store::{
    Admission, Delivery, DeliveryStore, Durability, SendError, StoreError, StoreOptions,
};
use integration_automation_patterns::{DeliveryStatus, Envelope, FailOutcome, RetryPolicy};
use rusqlite::params;
use serde_json::{Value, json};
use temp_db::TempDb;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn at(seconds: i64) -> DateTime<Utc> {
    start() + TimeDelta::seconds(seconds)
}

fn order_event(n: u32) -> Envelope<Pending> {
    Envelope::builder()
        .event_id(format!("order-{n}-placed"))
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": n, "total": "19.90" }))
        .created_at(start())
        .build()
        .unwrap()
}

/// Opens a store and enqueues `count` orders, each with its business row.
fn store_with_orders(db: &TempDb, count: u32) -> SqliteStore {
    let mut store = SqliteStore::open(db.path()).unwrap();
    store
        .write(|tx| {
            tx.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)", [])?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    for n in 0..count {
        store
            .write(|tx| {
                tx.execute("INSERT INTO orders (id) VALUES (?1)", params![n])?;
                SqliteStore::enqueue(tx, &order_event(n), start())
            })
            .unwrap();
    }
    store
}

fn status_of(store: &mut SqliteStore, n: u32) -> DeliveryStatus {
    store
        .load_any::<Value>("webshop", &format!("order-{n}-placed"))
        .unwrap()
        .status()
}

#[test]
fn an_event_commits_with_its_business_write_or_not_at_all() {
    let db = TempDb::new("atomic");
    let mut store = store_with_orders(&db, 1);
    let failed: Result<(), StoreError> = store.write(|tx| {
        tx.execute("INSERT INTO orders (id) VALUES (7)", [])?;
        SqliteStore::enqueue(tx, &order_event(7), start())?;
        Err(StoreError::NotFound {
            source_system: "webshop".into(),
            event_id: "the business rule failed".into(),
        })
    });
    assert!(failed.is_err());
    let orders: i64 = store
        .write(|tx| {
            Ok::<i64, StoreError>(
                tx.query_row("SELECT COUNT(*) FROM orders", [], |row| row.get(0))?,
            )
        })
        .unwrap();
    assert_eq!(orders, 1);
    assert!(matches!(
        store.load_any::<Value>("webshop", "order-7-placed"),
        Err(StoreError::NotFound { .. })
    ));
    // The same key twice is refused.
    let twice = store.write(|tx| SqliteStore::enqueue(tx, &order_event(0), start()));
    assert!(matches!(twice, Err(StoreError::AlreadyEnqueued { .. })));
}

#[test]
fn a_relay_pass_delivers_what_is_due_and_records_it() {
    let db = TempDb::new("relay");
    let mut store = store_with_orders(&db, 3);
    let mut sent = Vec::new();
    let report = store
        .run_once(at(1), 10, |envelope: &Envelope<_, Value>| {
            sent.push(envelope.event_id().to_owned());
            if envelope.event_id() == "order-1-placed" {
                Ok(Delivery::Acknowledged)
            } else {
                Ok(Delivery::Processed)
            }
        })
        .unwrap();
    assert_eq!((report.claimed, report.delivered), (3, 3));
    assert_eq!(sent, ["order-0-placed", "order-1-placed", "order-2-placed"]);
    assert_eq!(status_of(&mut store, 0), DeliveryStatus::Processed);
    assert_eq!(status_of(&mut store, 1), DeliveryStatus::Acknowledged);
    let processed: Envelope<Processed> = store.load("webshop", "order-2-placed").unwrap();
    assert_eq!(processed.attempt_count(), 1);
    // Nothing is due any more.
    assert_eq!(
        store.claim_due::<Value>(at(3600), 10).unwrap().claims.len(),
        0
    );
    assert_eq!(store.oldest_due_age(at(3600)).unwrap(), None);
}

#[test]
fn a_transient_failure_waits_for_its_retry_time_and_a_retry_after_wins_when_later() {
    let db = TempDb::new("retry");
    let mut store = store_with_orders(&db, 2);
    let report = store
        .run_once(at(0), 10, |envelope: &Envelope<_, Value>| {
            Err(SendError::Transient {
                reason: "503 from the warehouse".into(),
                retry_after: (envelope.event_id() == "order-1-placed").then(|| at(600)),
            })
        })
        .unwrap();
    assert_eq!(report.retried, 2);
    let retrying: Envelope<Retrying> = store.load("webshop", "order-0-placed").unwrap();
    assert_eq!(retrying.failure_reason(), "503 from the warehouse");
    assert_eq!(retrying.next_attempt_at(), at(30));
    // Not due before the policy's 30 s; order 1 waits for its retry-after.
    assert!(
        store
            .claim_due::<Value>(at(29), 10)
            .unwrap()
            .claims
            .is_empty()
    );
    let mut due = store.claim_due::<Value>(at(30), 10).unwrap().claims;
    assert_eq!(due.len(), 1);
    let claim = due.remove(0);
    assert_eq!(claim.envelope.event_id(), "order-0-placed");
    store.record(claim.envelope.process_at(at(31))).unwrap();
    assert!(
        store
            .claim_due::<Value>(at(599), 10)
            .unwrap()
            .claims
            .is_empty()
    );
    assert_eq!(
        store.claim_due::<Value>(at(600), 10).unwrap().claims.len(),
        1
    );
}

#[test]
fn a_spent_budget_or_a_permanent_failure_makes_a_dead_letter_that_can_be_redriven() {
    let db = TempDb::new("dead");
    let mut store = store_with_orders(&db, 2);
    let fail = |envelope: &Envelope<_, Value>| match envelope.event_id() {
        "order-0-placed" => Err(SendError::Permanent {
            reason: "422: unknown SKU".into(),
        }),
        _ => Err(SendError::Transient {
            reason: "timeout".into(),
            retry_after: None,
        }),
    };
    let mut dead = 0;
    for hour in 0..3 {
        dead += store
            .run_once(at(hour * 3600), 10, fail)
            .unwrap()
            .dead_lettered;
    }
    assert_eq!(dead, 2);
    let letters: Vec<Envelope<Failed>> = store.dead_letters(10).unwrap();
    let summary: Vec<(&str, u32, &str, usize)> = letters
        .iter()
        .map(|letter| {
            (
                letter.event_id(),
                letter.attempt_count(),
                letter.failure_reason(),
                letter.history().len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("order-0-placed", 1, "422: unknown SKU", 2),
            ("order-1-placed", 3, "timeout", 6)
        ]
    );

    let redriven: Envelope<Pending> = store
        .redrive(
            "webshop",
            "order-0-placed",
            "SKU added, ticket OPS-9",
            at(9000),
        )
        .unwrap();
    assert_eq!(redriven.attempt_count(), 0);
    assert_eq!(
        store
            .redrive_all::<Value>("timeouts fixed", at(9000))
            .unwrap(),
        1
    );
    assert!(store.dead_letters::<Value>(10).unwrap().is_empty());
    let report = store
        .run_once(at(9001), 10, |_: &Envelope<_, Value>| {
            Ok(Delivery::Processed)
        })
        .unwrap();
    assert_eq!(report.delivered, 2);
    let processed: Envelope<Processed> = store.load("webshop", "order-1-placed").unwrap();
    assert_eq!(
        processed.history().len(),
        9,
        "the history keeps every attempt"
    );
}

#[test]
fn a_claim_whose_worker_died_is_taken_over_when_its_lease_runs_out() {
    let db = TempDb::new("lease");
    let mut store = store_with_orders(&db, 1);
    let lease = store.options().lease;
    let first = store
        .claim_due::<Value>(at(0), 10)
        .unwrap()
        .claims
        .remove(0);
    assert_eq!(
        first.lease_until,
        at(0) + TimeDelta::from_std(lease).unwrap()
    );
    // While the lease holds, nobody else gets it.
    assert!(
        store
            .claim_due::<Value>(at(10), 10)
            .unwrap()
            .claims
            .is_empty()
    );
    let second = store
        .claim_due::<Value>(at(31), 10)
        .unwrap()
        .claims
        .remove(0);
    assert_eq!(second.envelope.attempt_count(), 2);
    // The first worker comes back too late: its outcome is refused.
    let late = store.record(first.envelope.process_at(at(40)));
    assert!(
        matches!(late, Err(StoreError::ClaimLost { attempt: 1, .. })),
        "{late:?}"
    );
    store.record(second.envelope.process_at(at(41))).unwrap();
    assert_eq!(status_of(&mut store, 0), DeliveryStatus::Processed);
}

#[test]
fn a_lost_claim_that_spends_the_budget_becomes_a_dead_letter() {
    let db = TempDb::new("lease-dead");
    let mut store = store_with_orders(&db, 1);
    for round in 0..3 {
        let claimed = store.claim_due::<Value>(at(round * 100), 10).unwrap();
        assert_eq!(claimed.claims.len(), 1);
    }
    let claimed = store.claim_due::<Value>(at(400), 10).unwrap();
    assert_eq!((claimed.claims.len(), claimed.dead_lettered), (0, 1));
    let letter: Envelope<Failed> = store.load("webshop", "order-0-placed").unwrap();
    assert!(letter.failure_reason().starts_with("lease expired"));
}

#[test]
fn typed_loads_name_the_state_that_was_found() {
    let db = TempDb::new("typed");
    let mut store = store_with_orders(&db, 1);
    let pending: Envelope<Pending> = store.load("webshop", "order-0-placed").unwrap();
    assert_eq!(pending, order_event(0));
    let error = store
        .load::<Retrying, Value>("webshop", "order-0-placed")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "stored envelope webshop/order-0-placed is `pending`, not `retrying`"
    );
    let missing = store.load::<Pending, Value>("webshop", "order-9-placed");
    assert_eq!(
        missing.unwrap_err().to_string(),
        "no stored envelope webshop/order-9-placed"
    );
    // Only the outcome of an attempt can be recorded.
    let not_outcome = store.record(order_event(0));
    assert!(matches!(
        not_outcome,
        Err(StoreError::NotAnOutcome {
            status: DeliveryStatus::Pending,
            ..
        })
    ));
}

#[test]
fn counts_and_the_oldest_due_age_are_there_for_monitoring() {
    let db = TempDb::new("counts");
    let mut store = store_with_orders(&db, 3);
    let claim = store.claim_due::<Value>(at(0), 1).unwrap().claims.remove(0);
    store.record(claim.envelope.process_at(at(1))).unwrap();
    let counts = store.counts().unwrap();
    assert_eq!(counts.outbox[&DeliveryStatus::Pending], 2);
    assert_eq!(counts.outbox[&DeliveryStatus::Processed], 1);
    assert_eq!(counts.quarantined, 0);
    assert_eq!(
        store.oldest_due_age(at(90)).unwrap(),
        Some(Duration::from_secs(90))
    );
}

fn received(n: u32, total: &str) -> Envelope<Pending> {
    Envelope::builder()
        .event_id(format!("order-{n}-placed"))
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": n, "total": total }))
        .created_at(start())
        .build()
        .unwrap()
}

fn consumer(db: &TempDb, options: StoreOptions) -> SqliteStore {
    let mut store = SqliteStore::open_with(db.path(), options).unwrap();
    store
        .write(|tx| {
            tx.execute(
                "CREATE TABLE IF NOT EXISTS shipments (order_id INTEGER NOT NULL)",
                [],
            )?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    store
}

fn ship(
    store: &mut SqliteStore,
    envelope: Envelope<Pending>,
    now: DateTime<Utc>,
) -> Result<Admission<i64>, StoreError> {
    store.admit(envelope, now, |tx, payload: &Value| {
        let order_id = payload["order_id"].as_i64().unwrap_or_default();
        tx.execute(
            "INSERT INTO shipments (order_id) VALUES (?1)",
            params![order_id],
        )?;
        Ok::<_, rusqlite::Error>(order_id)
    })
}

fn shipments(store: &mut SqliteStore) -> i64 {
    store
        .write(|tx| {
            Ok::<i64, StoreError>(
                tx.query_row("SELECT COUNT(*) FROM shipments", [], |row| row.get(0))?,
            )
        })
        .unwrap()
}

#[test]
fn the_inbox_applies_an_effect_once_however_often_the_event_arrives() {
    let db = TempDb::new("inbox");
    let mut store = consumer(&db, StoreOptions::default());
    let Admission::Processed(processed, order_id) =
        ship(&mut store, received(5, "19.90"), at(0)).unwrap()
    else {
        panic!("the first delivery must be processed")
    };
    assert_eq!(
        (processed.status(), order_id),
        (DeliveryStatus::Processed, 5)
    );
    for second in 1..4 {
        let again = ship(&mut store, received(5, "19.90"), at(second)).unwrap();
        let Admission::Duplicate(skipped) = again else {
            panic!("a redelivery must be a duplicate")
        };
        assert!(skipped.skip_reason().starts_with("duplicate"));
    }
    assert_eq!(shipments(&mut store), 1);

    let reused = ship(&mut store, received(5, "99.00"), at(5)).unwrap_err();
    assert_eq!(
        reused.to_string(),
        "event webshop/order-5-placed was received before with a different payload; an event id must not be reused"
    );
    assert_eq!(shipments(&mut store), 1);
    assert_eq!(store.counts().unwrap().inbox_keys, 1);
}

#[test]
fn a_failed_effect_rolls_back_and_fails_through_the_retry_policy() {
    let db = TempDb::new("inbox-fail");
    let mut store = consumer(&db, StoreOptions::default());
    let one_attempt = RetryPolicy::builder().max_attempts(1).build().unwrap();
    for (envelope, exhausted) in [
        (received(6, "1.00"), false),
        (
            Envelope::builder()
                .event_id("order-7-placed")
                .event_type("commerce.order.placed")
                .source_system("webshop")
                .payload(json!({ "order_id": 7 }))
                .retry_policy(one_attempt.clone())
                .build()
                .unwrap(),
            true,
        ),
    ] {
        let admission = store
            .admit(envelope, at(0), |tx, payload: &Value| {
                tx.execute(
                    "INSERT INTO shipments (order_id) VALUES (?1)",
                    params![payload["order_id"].as_i64()],
                )
                .map_err(|error| error.to_string())?;
                Err::<(), _>("the warehouse is closed".to_owned())
            })
            .unwrap();
        let Admission::Failed(outcome) = admission else {
            panic!("a failed effect must fail the envelope")
        };
        assert_eq!(outcome.is_exhausted(), exhausted);
        if let FailOutcome::Retry(retrying) = outcome {
            assert_eq!(retrying.failure_reason(), "the warehouse is closed");
        }
    }
    assert_eq!(
        shipments(&mut store),
        0,
        "the effect's writes were rolled back"
    );
    assert_eq!(store.counts().unwrap().inbox_keys, 0, "no key was recorded");
    // Once the warehouse opens, the same event is processed.
    assert!(matches!(
        ship(&mut store, received(6, "1.00"), at(60)).unwrap(),
        Admission::Processed(..)
    ));
}

#[test]
fn inbox_keys_are_forgotten_after_the_retention_window() {
    let db = TempDb::new("retention");
    let options = StoreOptions {
        inbox_retention: Duration::from_secs(3600),
        ..StoreOptions::default()
    };
    let mut store = consumer(&db, options);
    assert!(matches!(
        ship(&mut store, received(1, "1"), at(0)).unwrap(),
        Admission::Processed(..)
    ));
    assert!(matches!(
        ship(&mut store, received(1, "1"), at(3599)).unwrap(),
        Admission::Duplicate(..)
    ));
    assert_eq!(store.purge_inbox(at(3599)).unwrap(), 0);
    assert_eq!(store.purge_inbox(at(3601)).unwrap(), 1);
    assert!(matches!(
        ship(&mut store, received(1, "1"), at(3602)).unwrap(),
        Admission::Processed(..)
    ));
}

#[test]
fn an_unreadable_row_is_quarantined_and_named_and_no_other_row_is_touched() {
    let db = TempDb::new("corrupt");
    let mut store = store_with_orders(&db, 3);
    store
        .write(|tx| {
            tx.execute(
                "UPDATE iap_outbox SET envelope = '{\"specversion\": \"1.0\", truncated' WHERE event_id = 'order-1-placed'",
                [],
            )?;
            tx.execute(
                "UPDATE iap_outbox SET status = 'dispatched' WHERE event_id = 'order-2-placed'",
                [],
            )?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let claimed = store.claim_due::<Value>(at(0), 10).unwrap();
    let claimed_ids: Vec<&str> = claimed
        .claims
        .iter()
        .map(|c| c.envelope.event_id())
        .collect();
    assert_eq!(claimed_ids, ["order-0-placed"]);
    let problems: Vec<String> = claimed
        .quarantined
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(problems.len(), 2);
    assert!(
        problems[0].starts_with("stored envelope webshop/order-1-placed is unreadable: "),
        "{}",
        problems[0]
    );
    assert_eq!(
        problems[1],
        "stored envelope webshop/order-2-placed is unreadable: the row is marked `dispatched` but holds a `pending` envelope"
    );
    assert_eq!(store.counts().unwrap().quarantined, 2);
    // Quarantined rows are not claimed again; loading one names it.
    assert!(
        store
            .claim_due::<Value>(at(3600), 10)
            .unwrap()
            .quarantined
            .is_empty()
    );
    let error = store
        .load_any::<Value>("webshop", "order-1-placed")
        .unwrap_err();
    assert!(
        matches!(error, StoreError::CorruptRow { ref event_id, .. } if event_id == "order-1-placed")
    );
}

#[test]
fn a_file_that_is_not_a_store_is_refused() {
    let db = TempDb::new("foreign");
    std::fs::write(
        db.path(),
        b"this is a spreadsheet, not a database\n".repeat(200),
    )
    .unwrap();
    let error = SqliteStore::open(db.path()).unwrap_err();
    assert!(matches!(error, StoreError::Open { .. }), "{error}");
    assert!(error.to_string().contains("not a database"), "{error}");
}

#[test]
fn a_newer_or_unknown_schema_is_refused_not_guessed() {
    let newer = TempDb::new("newer");
    drop(SqliteStore::open(newer.path()).unwrap());
    let raw = rusqlite::Connection::open(newer.path()).unwrap();
    raw.execute(
        "UPDATE iap_meta SET value = 2 WHERE name = 'schema_version'",
        [],
    )
    .unwrap();
    drop(raw);
    assert_eq!(
        SqliteStore::open(newer.path()).unwrap_err().to_string(),
        "the store schema is version 2, newer than version 1 that this crate reads; upgrade the crate"
    );

    let unknown = TempDb::new("unknown");
    let raw = rusqlite::Connection::open(unknown.path()).unwrap();
    raw.execute("CREATE TABLE iap_outbox (id TEXT)", [])
        .unwrap();
    drop(raw);
    assert_eq!(
        SqliteStore::open(unknown.path()).unwrap_err().to_string(),
        "the store schema is not recognised: store tables exist without a schema version"
    );

    // The store's own file opens again, and the business tables beside it are kept.
    let own = TempDb::new("reopen");
    drop(store_with_orders(&own, 2));
    let mut store = SqliteStore::open(own.path()).unwrap();
    assert_eq!(store.counts().unwrap().outbox[&DeliveryStatus::Pending], 2);
}

#[test]
fn the_durability_setting_reaches_the_file() {
    for (durability, expected) in [(Durability::Full, 2), (Durability::Normal, 1)] {
        let db = TempDb::new("durability");
        let mut store = SqliteStore::open_with(
            db.path(),
            StoreOptions {
                durability,
                ..StoreOptions::default()
            },
        )
        .unwrap();
        let (journal, synchronous): (String, i64) = store
            .write(|tx| {
                let journal = tx.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
                let synchronous = tx.query_row("PRAGMA synchronous", [], |row| row.get(0))?;
                Ok::<_, StoreError>((journal, synchronous))
            })
            .unwrap();
        assert_eq!((journal.as_str(), synchronous), ("wal", expected));
    }
}

#[test]
fn threads_admitting_the_same_keys_apply_each_effect_once() {
    let db = TempDb::new("threads");
    drop(consumer(&db, StoreOptions::default()));
    let keys = 50;
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let mut store = SqliteStore::open(db.path()).unwrap();
                for n in 0..keys {
                    let admission = ship(&mut store, received(n, "5.00"), at(0)).unwrap();
                    assert!(!matches!(admission, Admission::Failed(_)));
                }
            });
        }
    });
    let mut store = SqliteStore::open(db.path()).unwrap();
    let per_order: Vec<(i64, i64)> = store
        .write(|tx| {
            let mut statement = tx.prepare(
                "SELECT order_id, COUNT(*) FROM shipments GROUP BY order_id ORDER BY order_id",
            )?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok::<_, StoreError>(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap();
    assert_eq!(per_order.len(), keys as usize);
    assert!(
        per_order.iter().all(|(_, count)| *count == 1),
        "{per_order:?}"
    );
}

#[test]
fn a_batch_admits_each_envelope_by_the_same_rules_in_one_commit() {
    let db = TempDb::new("batch");
    let mut store = consumer(&db, StoreOptions::default());
    assert!(matches!(
        ship(&mut store, received(3, "1.00"), at(0)).unwrap(),
        Admission::Processed(..)
    ));
    let batch = vec![
        received(1, "1.00"),
        received(1, "1.00"),
        received(2, "1.00"),
        received(3, "2.00"),
        received(4, "1.00"),
    ];
    let results = store
        .admit_batch(batch, at(1), |tx, payload: &Value| {
            let order_id = payload["order_id"].as_i64().unwrap_or_default();
            tx.execute(
                "INSERT INTO shipments (order_id) VALUES (?1)",
                params![order_id],
            )
            .map_err(|error| error.to_string())?;
            if order_id == 2 {
                return Err("the warehouse is closed for order 2".to_owned());
            }
            Ok(order_id)
        })
        .unwrap();
    let kinds: Vec<&str> = results
        .iter()
        .map(|result| match result {
            Ok(Admission::Processed(..)) => "processed",
            Ok(Admission::Duplicate(_)) => "duplicate",
            Ok(Admission::Failed(_)) => "failed",
            Err(StoreError::KeyReused { .. }) => "key reused",
            Err(_) => "other error",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "processed",
            "duplicate",
            "failed",
            "key reused",
            "processed"
        ]
    );
    let booked: Vec<i64> = store
        .write(|tx| {
            let mut statement = tx.prepare("SELECT order_id FROM shipments ORDER BY order_id")?;
            let rows = statement.query_map([], |row| row.get(0))?;
            Ok::<_, StoreError>(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap();
    assert_eq!(booked, [1, 3, 4], "order 2's write was rolled back alone");
    assert_eq!(store.counts().unwrap().inbox_keys, 3);
}
