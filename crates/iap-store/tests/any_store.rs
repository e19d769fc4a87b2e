//! A store chosen at run time: `AnyStore::open` takes `sqlite:PATH` or a
//! PostgreSQL connection string, and the same program runs on either.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

use iap_test_support::backends;
use iap_test_support::temp_db;

use backends::postgres::Schema;
use chrono::Utc;
use iap_store::{
    Admission, AnyStore, AnyTx, Delivery, DeliveryStore, SendError, StoreError, StoreOptions,
};
use integration_automation_patterns::Envelope;
use serde_json::{Value, json};
use temp_db::TempDb;

fn event(n: u32) -> Envelope<integration_automation_patterns::state::Pending> {
    Envelope::builder()
        .event_id(format!("order-{n}-placed"))
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": n }))
        // A fixed time: the event built again is the same event.
        .created_at(chrono::DateTime::UNIX_EPOCH)
        .build()
        .unwrap()
}

/// Runs one SQL statement in the backend's transaction.
fn exec(tx: &mut AnyTx<'_>, sql: &str) -> Result<(), StoreError> {
    match tx {
        AnyTx::Sqlite(tx) => tx.execute(sql, []).map(drop)?,
        AnyTx::Postgres(tx) => tx.execute(sql, &[]).map(drop)?,
    }
    Ok(())
}

/// The same program on whichever store `location` names.
fn outbox_and_inbox(location: &str) {
    let mut store = AnyStore::open(location, StoreOptions::default()).unwrap();
    store
        .write(|tx| {
            exec(tx, "CREATE TABLE shipments (order_id BIGINT NOT NULL)")?;
            for n in 0..3 {
                AnyStore::enqueue(tx, &event(n), Utc::now())?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let report = store
        .run_once(
            Utc::now(),
            10,
            |envelope: &Envelope<_, Value>| match envelope.event_id() {
                "order-2-placed" => Err(SendError::Permanent {
                    reason: "422".into(),
                }),
                _ => Ok(Delivery::Processed),
            },
        )
        .unwrap();
    assert_eq!((report.delivered, report.dead_lettered), (2, 1));
    assert_eq!(store.dead_letters::<Value>(10).unwrap().letters.len(), 1);
    let redriven = store
        .redrive::<Value>("webshop", "order-2-placed", "SKU added", Utc::now())
        .unwrap();
    assert_eq!(redriven.attempt_count(), 0);
    for _ in 0..2 {
        let admitted = store
            .admit(event(7).to_received(), Utc::now(), |tx, _| {
                exec(tx, "INSERT INTO shipments (order_id) VALUES (7)")
            })
            .unwrap();
        drop(admitted);
    }
    let counts = store.counts().unwrap();
    assert_eq!(counts.inbox_keys, 1);
    let shipped = store
        .admit(event(8).to_received(), Utc::now(), |tx, _| {
            exec(tx, "INSERT INTO shipments (order_id) VALUES (8)")
        })
        .unwrap();
    assert!(matches!(shipped, Admission::Processed(..)));
    assert!(store.verify().unwrap().is_empty());
}

/// Opening an existing store finds it where the program left it, and where
/// there is none (`absent`), it says so and creates nothing.
fn only_an_existing_store_opens(location: &str, absent: &str) {
    let error = AnyStore::open_existing(absent, StoreOptions::default()).unwrap_err();
    assert!(matches!(error, StoreError::NoStore { .. }), "{error}");
    let error = AnyStore::open_existing(absent, StoreOptions::default()).unwrap_err();
    assert!(
        matches!(error, StoreError::NoStore { .. }),
        "still none after a first look: {error}"
    );
    let mut store = AnyStore::open_existing(location, StoreOptions::default()).unwrap();
    assert_eq!(store.dead_letters::<Value>(10).unwrap().letters.len(), 0);
    assert!(store.counts().unwrap().inbox_keys > 0);
}

#[test]
fn the_same_program_runs_on_an_sqlite_file() {
    let db = TempDb::new("any-store");
    let location = format!("sqlite:{}", db.path().display());
    outbox_and_inbox(&location);
    let typo = TempDb::new("any-store-typo");
    let absent = format!("sqlite:{}", typo.path().display());
    only_an_existing_store_opens(&location, &absent);
    assert_eq!(
        AnyStore::open_existing(&absent, StoreOptions::default())
            .unwrap_err()
            .to_string(),
        format!("no store at {absent}: there is no such file")
    );
    assert!(!typo.path().exists());
}

#[test]
fn the_same_program_runs_on_postgresql() {
    let Some(schema) = Schema::new("any_store", "any") else {
        return;
    };
    let location = format!("{} options='-c search_path={}'", schema.url, schema.name);
    outbox_and_inbox(&location);
    let Some(empty) = Schema::new("any_store_empty", "any") else {
        return;
    };
    let absent = format!("{} options='-c search_path={}'", empty.url, empty.name);
    only_an_existing_store_opens(&location, &absent);
}
