//! What only the SQLite store does: refusing files that are not stores, and
//! its durability setting. Everything else is in `store_conformance.rs`.
#![cfg(feature = "sqlite")]

#[path = "support/temp_db.rs"]
mod temp_db;

use chrono::Utc;
use integration_automation_patterns::store::sqlite::SqliteStore;
use integration_automation_patterns::store::{DeliveryStore, Durability, StoreError, StoreOptions};
use integration_automation_patterns::{DeliveryStatus, Envelope};
use rusqlite::params;
use serde_json::json;
use temp_db::TempDb;

/// A store file holding two pending orders beside a business table.
fn store_with_orders(db: &TempDb) -> SqliteStore {
    let mut store = SqliteStore::open(db.path()).unwrap();
    store
        .write(|tx| {
            tx.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)", [])?;
            for n in 0..2 {
                tx.execute("INSERT INTO orders (id) VALUES (?1)", params![n])?;
                let event = Envelope::builder()
                    .event_id(format!("order-{n}-placed"))
                    .event_type("commerce.order.placed")
                    .source_system("webshop")
                    .payload(json!({ "order_id": n }))
                    .build()
                    .unwrap();
                SqliteStore::enqueue(tx, &event, Utc::now())?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    store
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
        "UPDATE iap_meta SET value = 3 WHERE name = 'schema_version'",
        [],
    )
    .unwrap();
    drop(raw);
    assert_eq!(
        SqliteStore::open(newer.path()).unwrap_err().to_string(),
        "the store schema is version 3, newer than version 2 that this crate reads; upgrade the crate"
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
    drop(store_with_orders(&own));
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
