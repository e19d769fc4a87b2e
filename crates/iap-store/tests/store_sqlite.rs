//! What only the SQLite store does: refusing files that are not stores, its
//! durability setting, its write lock (busy writers, opening without it) and
//! a full disk. Everything else is in `store_conformance.rs` and
//! `store_faults.rs`.
#![cfg(feature = "sqlite")]

use iap_test_support::temp_db;

use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::Utc;
use iap_store::sqlite::{SCHEMA_VERSION, SqliteStore};
use iap_store::{
    Admission, Delivery, DeliveryStore, Durability, SendError, StoreError, StoreOptions,
};
use integration_automation_patterns::{DeliveryStatus, Envelope};
use rusqlite::params;
use serde_json::{Value, json};
use temp_db::TempDb;

/// Another connection holds the file's write lock until the returned
/// sender is dropped or sent to.
fn hold_write_lock(path: &Path) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (locked, is_locked) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let path = path.to_owned();
    let holder = std::thread::spawn(move || {
        let connection = rusqlite::Connection::open(path).unwrap();
        connection.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked.send(()).unwrap();
        let _ = released.recv();
        connection.execute_batch("COMMIT").unwrap();
    });
    is_locked.recv().unwrap();
    (release, holder)
}

fn quick_to_give_up() -> StoreOptions {
    StoreOptions::default().busy_timeout(Duration::from_millis(100))
}

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
        "UPDATE iap_meta SET value = ?1 WHERE name = 'schema_version'",
        [SCHEMA_VERSION + 1],
    )
    .unwrap();
    drop(raw);
    assert_eq!(
        SqliteStore::open(newer.path()).unwrap_err().to_string(),
        format!(
            "the store schema is version {}, newer than version {SCHEMA_VERSION} that this crate reads; upgrade the crate",
            SCHEMA_VERSION + 1
        )
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
fn opening_an_existing_store_creates_nothing_and_migrates_nothing() {
    let missing = TempDb::new("typo");
    let error = SqliteStore::open_existing(missing.path(), StoreOptions::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "no store at {}: there is no such file",
            missing.path().display()
        )
    );
    assert!(!missing.path().exists(), "no file was made");

    // An SQLite file of another program: refused, its content untouched.
    let foreign = TempDb::new("foreign-sqlite");
    let raw = rusqlite::Connection::open(foreign.path()).unwrap();
    raw.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
        .unwrap();
    drop(raw);
    let before = std::fs::read(foreign.path()).unwrap();
    let error = SqliteStore::open_existing(foreign.path(), StoreOptions::default()).unwrap_err();
    assert!(
        matches!(error, StoreError::NoStore { ref reason, .. } if reason == "the file holds no store tables"),
        "{error}"
    );
    assert_eq!(std::fs::read(foreign.path()).unwrap(), before);
    let not_sqlite = TempDb::new("not-sqlite");
    std::fs::write(not_sqlite.path(), b"a spreadsheet\n".repeat(100)).unwrap();
    assert!(matches!(
        SqliteStore::open_existing(not_sqlite.path(), StoreOptions::default()),
        Err(StoreError::Open { .. })
    ));

    // A store of the version before: refused as it is, then migrated by
    // the constructor that migrates.
    let older = TempDb::new("older");
    drop(store_with_orders(&older));
    let raw = rusqlite::Connection::open(older.path()).unwrap();
    raw.execute(
        "UPDATE iap_meta SET value = ?1 WHERE name = 'schema_version'",
        [SCHEMA_VERSION - 1],
    )
    .unwrap();
    let version = |raw: &rusqlite::Connection| -> i64 {
        raw.query_row(
            "SELECT value FROM iap_meta WHERE name = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .unwrap()
    };
    let error = SqliteStore::open_existing(older.path(), StoreOptions::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the store schema is version {}, older than version {SCHEMA_VERSION} that this crate \
             reads; migrate it first (nothing was changed)",
            SCHEMA_VERSION - 1
        )
    );
    assert_eq!(version(&raw), SCHEMA_VERSION - 1);
    raw.execute(
        "UPDATE iap_meta SET value = ?1 WHERE name = 'schema_version'",
        [SCHEMA_VERSION + 1],
    )
    .unwrap();
    assert!(matches!(
        SqliteStore::open_existing(older.path(), StoreOptions::default()),
        Err(StoreError::SchemaTooNew { .. })
    ));
    raw.execute(
        "UPDATE iap_meta SET value = ?1 WHERE name = 'schema_version'",
        [SCHEMA_VERSION],
    )
    .unwrap();

    // A store at this version opens, and works as ever.
    let mut store = SqliteStore::open_existing(older.path(), StoreOptions::default()).unwrap();
    assert_eq!(store.counts().unwrap().outbox[&DeliveryStatus::Pending], 2);
    let claimed = store.claim_due::<Value>(Utc::now(), 10).unwrap();
    assert_eq!(claimed.claims.len(), 2);
}

#[test]
fn the_durability_setting_reaches_the_file() {
    for (durability, expected) in [(Durability::Full, 2), (Durability::Normal, 1)] {
        let db = TempDb::new("durability");
        let mut store =
            SqliteStore::open_with(db.path(), StoreOptions::default().durability(durability))
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
fn opening_a_store_takes_no_write_lock_and_a_held_lock_is_a_busy_error() {
    let db = TempDb::new("busy");
    drop(store_with_orders(&db));
    let (release, holder) = hold_write_lock(db.path());
    let opened = Instant::now();
    let mut store = SqliteStore::open_with(db.path(), quick_to_give_up()).unwrap();
    assert!(opened.elapsed() < Duration::from_secs(1));
    assert_eq!(store.counts().unwrap().outbox[&DeliveryStatus::Pending], 2);
    let busy = store.claim_due::<Value>(Utc::now(), 10).unwrap_err();
    assert!(matches!(busy, StoreError::Busy { .. }), "{busy}");
    assert!(busy.is_retryable());
    assert_eq!(
        busy.to_string(),
        "the database is busy (database is locked); nothing was written, and the operation can be retried"
    );
    drop(release);
    holder.join().unwrap();
    assert_eq!(
        store
            .claim_due::<Value>(Utc::now(), 10)
            .unwrap()
            .claims
            .len(),
        2
    );
}

#[test]
fn unsent_claims_that_cannot_be_released_are_named_in_the_error() {
    let db = TempDb::new("unreleased");
    drop(store_with_orders(&db));
    let mut store = SqliteStore::open_with(db.path(), quick_to_give_up()).unwrap();
    let mut lock = None;
    let error = store
        .run_once(Utc::now(), 10, |_: &Envelope<_, Value>| {
            lock = Some(hold_write_lock(db.path()));
            Ok::<_, SendError>(Delivery::Processed)
        })
        .unwrap_err();
    let (release, holder) = lock.unwrap();
    drop(release);
    holder.join().unwrap();
    match &error {
        StoreError::ClaimsNotReleased {
            recording,
            releasing,
            unsent: 1,
        } => {
            assert!(matches!(**recording, StoreError::Busy { .. }));
            assert!(matches!(**releasing, StoreError::Busy { .. }));
        }
        other => panic!("{other}"),
    }
    assert!(error.to_string().ends_with(
        "besides, 1 claims that were never sent could not be released (the database is busy (database is locked); nothing was written, and the operation can be retried)"
    ), "{error}");
}

/// Where the test may mount a file system of its own (as root), a store on a
/// small one fills it: the write that does not fit fails with a clear error,
/// everything committed before is kept, and work goes on once there is room.
#[test]
fn a_full_disk_is_a_clear_error_that_loses_nothing_committed() {
    let dir = std::env::temp_dir().join(format!("iap-full-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&dir)
        .output()
        .is_ok_and(|output| output.status.success());
    if !mounted {
        eprintln!("skipping the full-disk test: mounting a small tmpfs needs root");
        let _ = std::fs::remove_dir(&dir);
        return;
    }
    let result = std::panic::catch_unwind(|| fill_the_disk(&dir));
    let unmounted = Command::new("umount").arg(&dir).status();
    let _ = std::fs::remove_dir(&dir);
    assert!(unmounted.is_ok_and(|status| status.success()));
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn fill_the_disk(dir: &Path) {
    let path = dir.join("orders.db");
    let filler = dir.join("filler");
    let mut store = SqliteStore::open(&path).unwrap();
    std::fs::write(&filler, vec![0u8; 1024 * 1024]).unwrap();
    let big = "x".repeat(4000);
    let mut enqueued = 0;
    let full = loop {
        let event = Envelope::builder()
            .event_id(format!("order-{enqueued}-placed"))
            .event_type("commerce.order.placed")
            .source_system("webshop")
            .payload(json!({ "order_id": enqueued, "note": big }))
            .build()
            .unwrap();
        match store.write(|tx| SqliteStore::enqueue(tx, &event, Utc::now())) {
            Ok(()) => enqueued += 1,
            Err(error) => break error,
        }
        assert!(enqueued < 10_000, "the disk never filled");
    };
    assert!(matches!(full, StoreError::StorageFull { .. }), "{full}");
    assert!(full.is_retryable());
    assert!(
        full.to_string()
            .starts_with("the database's storage is full"),
        "{full}"
    );
    assert!(enqueued > 10, "{enqueued}");
    // Everything committed is kept, read by a new connection.
    let mut reader = SqliteStore::open(&path).unwrap();
    assert_eq!(
        reader.counts().unwrap().outbox[&DeliveryStatus::Pending],
        enqueued
    );
    std::fs::remove_file(&filler).unwrap();
    let event = Envelope::builder()
        .event_id("order-after-placed")
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "note": big }))
        .build()
        .unwrap();
    store
        .write(|tx| SqliteStore::enqueue(tx, &event, Utc::now()))
        .unwrap();
    let claimed = store.claim_due::<Value>(Utc::now(), 10_000).unwrap();
    assert_eq!(claimed.claims.len() as u64, enqueued + 1);
}

#[test]
fn an_inbox_key_that_does_not_read_back_refuses_its_event_alone() {
    let db = TempDb::new("inbox_blob");
    let mut store = SqliteStore::open(db.path()).unwrap();
    let now = Utc::now();
    let received = |n: u32| {
        Envelope::builder()
            .event_id(format!("order-{n}-placed"))
            .event_type("commerce.order.placed")
            .source_system("webshop")
            .payload(json!({ "order_id": n }))
            .created_at(now)
            .build()
            .unwrap()
    };
    for n in 0..2 {
        let admitted = store.admit(received(n), now, |_, _| Ok::<_, StoreError>(()));
        assert!(matches!(admitted, Ok(Admission::Processed(..))));
    }
    store
        .write(|tx| {
            tx.execute(
                "UPDATE iap_inbox SET event = CAST(event AS BLOB) WHERE event_id = 'order-0-placed'",
                [],
            )?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let refused = store
        .admit(received(0), now, |_, _| Ok::<_, StoreError>(()))
        .unwrap_err();
    // The key holds the whole event.
    let held = serde_json::to_string(&received(0).to_cloudevent()).unwrap();
    assert_eq!(
        refused.to_string(),
        format!(
            "stored envelope webshop/order-0-placed is unreadable: the inbox key's event column holds a BLOB of {} bytes, not JSON text",
            held.len()
        )
    );
    let batch = store
        .admit_batch(vec![received(0), received(1), received(2)], now, |_, _| {
            Ok::<_, StoreError>(())
        })
        .unwrap();
    assert!(matches!(batch[0], Err(StoreError::CorruptRow { .. })));
    assert!(matches!(batch[1], Ok(Admission::Duplicate(_))));
    assert!(matches!(batch[2], Ok(Admission::Processed(..))));
}

#[test]
fn the_inbox_compares_numbers_as_written_and_admits_what_a_value_cannot_hold() {
    use integration_automation_patterns::envelope::RawJson;
    use integration_automation_patterns::state::Pending;
    let db = TempDb::new("inbox_raw_json");
    let mut store = SqliteStore::open(db.path()).unwrap();
    let now = Utc::now();
    let received = |id: &str, data: &str| {
        let event = format!(
            r#"{{"specversion":"1.0","id":"{id}","source":"/erp","type":"t","data":{data}}}"#
        );
        Envelope::<Pending, RawJson>::from_json(event.as_bytes()).unwrap()
    };
    let admit = |store: &mut SqliteStore, envelope: Envelope<Pending, RawJson>| {
        store.admit(envelope, now, |_, _| Ok::<_, StoreError>(()))
    };
    let first = admit(
        &mut store,
        received("e-1", r#"{"amount":12345678901234567890123}"#),
    );
    assert!(matches!(first, Ok(Admission::Processed(..))));
    // The same event again, spaced otherwise: a duplicate.
    let again = admit(
        &mut store,
        received("e-1", r#"{ "amount": 12345678901234567890123 }"#),
    );
    assert!(matches!(again, Ok(Admission::Duplicate(_))));
    // One digit apart, which an f64 cannot tell: another event under a
    // reused id, refused.
    let other = admit(
        &mut store,
        received("e-1", r#"{"amount":12345678901234567890124}"#),
    );
    assert!(
        matches!(other, Err(StoreError::KeyReused { .. })),
        "{other:?}"
    );
    // A number past f64 is admitted, and its duplicate found.
    let huge = admit(&mut store, received("e-2", "2e400"));
    assert!(matches!(huge, Ok(Admission::Processed(..))), "{huge:?}");
    let huge_again = admit(&mut store, received("e-2", "2e400"));
    assert!(matches!(huge_again, Ok(Admission::Duplicate(_))));
}
