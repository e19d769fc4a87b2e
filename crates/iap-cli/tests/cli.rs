//! The operator CLI `iap`, run as a binary against real stores on both
//! backends: status, dead letters with filters, one envelope, redrive with
//! and without confirmation, purge, quarantine, migrate and verify, as tables
//! and as JSON, with the exit codes scripts rely on.

use iap_test_support::backends;
use iap_test_support::temp_db;

use std::io::Write;
use std::process::{Command, Stdio};

use backends::postgres::Schema;
use chrono::Utc;
use iap_store::{AnyStore, AnyTx, Delivery, SendError, StoreError, StoreOptions};
use integration_automation_patterns::Envelope;
use serde_json::{Value, json};
use temp_db::TempDb;

/// Runs `iap --store <store> <args>` with `input` on standard input; the exit
/// code, standard output and standard error.
fn iap(store: &str, args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iap"))
        .arg("--store")
        .arg(store)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn json_of(output: &str) -> Value {
    serde_json::from_str(output.trim()).unwrap_or_else(|error| panic!("{error}: {output}"))
}

fn order(n: u32, event_type: &str) -> Envelope<integration_automation_patterns::state::Pending> {
    Envelope::builder()
        .event_id(format!("order-{n}"))
        .event_type(event_type)
        .source_system("webshop")
        .payload(json!({ "order_id": n }))
        .build()
        .unwrap()
}

/// A store with one processed order and two dead letters of two types.
fn prepare(location: &str) {
    let mut store = AnyStore::open(location, StoreOptions::default()).unwrap();
    store
        .write(|tx| {
            AnyStore::enqueue(tx, &order(0, "commerce.order.placed"), Utc::now())?;
            AnyStore::enqueue(tx, &order(1, "commerce.order.placed"), Utc::now())?;
            AnyStore::enqueue(tx, &order(2, "commerce.order.cancelled"), Utc::now())
        })
        .unwrap();
    store
        .run_once(
            Utc::now(),
            10,
            |envelope: &Envelope<_, Value>| match envelope.event_id() {
                "order-0" => Ok(Delivery::Processed),
                _ => Err(SendError::Permanent {
                    reason: "422: unknown SKU".into(),
                }),
            },
        )
        .unwrap();
}

fn tamper(location: &str, sql: &str) {
    let mut store = AnyStore::open(location, StoreOptions::default()).unwrap();
    store
        .write(|tx| {
            match tx {
                AnyTx::Sqlite(tx) => tx.execute(sql, []).map(drop)?,
                AnyTx::Postgres(tx) => tx.execute(sql, &[]).map(drop)?,
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

fn operate(store: &str) {
    prepare(store);

    let (code, out, _) = iap(store, &["status"], "");
    assert_eq!(code, 0);
    assert!(out.contains("failed        2"), "{out}");
    let status = json_of(&iap(store, &["status", "--json"], "").1);
    assert_eq!(status["outbox"]["failed"], 2);
    assert_eq!(status["outbox"]["processed"], 1);

    let (code, out, _) = iap(store, &["dead-letters"], "");
    assert_eq!(code, 0);
    assert!(out.starts_with("source   id       type"), "{out}");
    assert!(out.contains("422: unknown SKU"), "{out}");
    let placed = json_of(
        &iap(
            store,
            &["dead-letters", "--type", "commerce.order.placed", "--json"],
            "",
        )
        .1,
    );
    assert_eq!(placed.as_array().unwrap().len(), 1);
    assert_eq!(placed[0]["id"], "order-1");
    let old = json_of(
        &iap(
            store,
            &["dead-letters", "--older-than", "3600", "--json"],
            "",
        )
        .1,
    );
    assert_eq!(old, json!([]), "none failed an hour ago");

    let (code, out, _) = iap(store, &["show", "webshop", "order-1"], "");
    assert_eq!(code, 0);
    assert!(out.contains("dispatched  failed"), "{out}");
    assert!(
        out.contains("[INTEGRATION_EVENT] event_id=order-1"),
        "{out}"
    );
    let shown = json_of(&iap(store, &["show", "webshop", "order-1", "--json"], "").1);
    assert_eq!(shown["_delivery"]["status"], "failed");
    let (code, _, err) = iap(store, &["show", "webshop", "order-9"], "");
    assert_eq!(code, 3, "{err}");

    let (code, _, err) = iap(
        store,
        &["redrive", "--all", "--type", "commerce.order.placed"],
        "n\n",
    );
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("redrive 1 dead letters? [y/N]"), "{err}");
    let (code, out, _) = iap(
        store,
        &["redrive", "--all", "--type", "commerce.order.placed"],
        "y\n",
    );
    assert_eq!(code, 0);
    assert!(out.contains("redriven webshop/order-1"), "{out}");
    let (code, out, _) = iap(
        store,
        &["redrive", "webshop", "order-2", "--yes", "--json"],
        "",
    );
    assert_eq!(code, 0);
    assert_eq!(json_of(&out)["redriven"], json!(["webshop/order-2"]));
    let status = json_of(&iap(store, &["status", "--json"], "").1);
    assert_eq!(status["outbox"]["pending"], 2);

    let (code, out, _) = iap(store, &["purge", "--json"], "");
    assert_eq!(code, 0);
    assert_eq!(
        json_of(&out),
        json!({ "purged_inbox_keys": 0, "purged_envelopes": 0 }),
        "nothing has been settled for 7 days"
    );
    assert_eq!(iap(store, &["migrate"], "").0, 0);
    assert_eq!(iap(store, &["verify"], "").0, 0);

    // A row edited by hand: verify names it; reading it quarantines it; an
    // operator repairs it and releases it.
    tamper(
        store,
        "UPDATE iap_outbox SET attempts = 9 WHERE event_id = 'order-0'",
    );
    let (code, out, _) = iap(store, &["verify"], "");
    assert_eq!(code, 4);
    assert!(out.contains("webshop/order-0 is unreadable"), "{out}");
    let (code, _, err) = iap(store, &["show", "webshop", "order-0"], "");
    assert_eq!(code, 1, "{err}");
    let listed = json_of(&iap(store, &["quarantine", "list", "--json"], "").1);
    assert_eq!(listed[0]["id"], "order-0");
    tamper(
        store,
        "UPDATE iap_outbox SET attempts = 1 WHERE event_id = 'order-0'",
    );
    let (code, out, _) = iap(store, &["quarantine", "release", "webshop", "order-0"], "");
    assert_eq!(code, 0);
    assert!(
        out.contains("released webshop/order-0 (processed)"),
        "{out}"
    );
    assert_eq!(
        iap(store, &["quarantine", "delete", "webshop", "order-0"], "").0,
        3
    );
    assert_eq!(iap(store, &["verify"], "").0, 0);

    // A dead letter at the head of an ordering key holds the key back until
    // an operator skips it.
    let mut opened = AnyStore::open(store, StoreOptions::default()).unwrap();
    let keyed = |n: u32| {
        Envelope::builder()
            .event_id(format!("order-{n}"))
            .event_type("commerce.order.placed")
            .source_system("webshop")
            .payload(json!({ "order_id": n }))
            .ordering_key("customer-7")
            .build()
            .unwrap()
    };
    opened
        .write(|tx| {
            AnyStore::enqueue(tx, &keyed(10), Utc::now())?;
            AnyStore::enqueue(tx, &keyed(11), Utc::now())
        })
        .unwrap();
    let send = |envelope: &Envelope<_, Value>| match envelope.event_id() {
        "order-10" => Err(SendError::Permanent {
            reason: "422: unknown customer".into(),
        }),
        _ => Ok(Delivery::Processed),
    };
    opened.run_once(Utc::now(), 10, send).unwrap();
    let held = json_of(&iap(store, &["held", "--json"], "").1);
    assert_eq!(
        held,
        json!([{ "ordering_key": "customer-7", "source": "webshop", "id": "order-10",
                 "quarantined": false, "waiting": 1 }])
    );
    let (code, out, _) = iap(store, &["skip", "webshop", "order-10"], "");
    assert_eq!(code, 0);
    assert!(out.contains("skipped webshop/order-10"), "{out}");
    assert_eq!(json_of(&iap(store, &["held", "--json"], "").1), json!([]));
    let report = opened.run_once(Utc::now(), 10, send).unwrap();
    assert_eq!(report.delivered, 1, "order-11 goes once the key is free");
}

#[test]
fn an_operator_works_an_sqlite_store() {
    let db = TempDb::new("cli");
    operate(&format!("sqlite:{}", db.path().display()));
}

#[test]
fn an_operator_works_a_postgresql_store() {
    let Some(schema) = Schema::new("cli", "cli") else {
        return;
    };
    operate(&format!(
        "{} options='-c search_path={}'",
        schema.url, schema.name
    ));
}
