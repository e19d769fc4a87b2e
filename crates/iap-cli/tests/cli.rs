//! The operator CLI `iap`, run as a binary against real stores on both
//! backends: status, dead letters with filters, one envelope, redrive with
//! and without confirmation, purge, quarantine, migrate and verify, as tables
//! and as JSON, with the exit codes scripts rely on; large redrives in
//! batches, stores that are not there or of another schema version, and
//! values that would disguise themselves in a table.

use iap_test_support::backends;
use iap_test_support::temp_db;

use std::io::Write;
use std::process::{Command, Stdio};

use backends::postgres::Schema;
use chrono::{TimeDelta, Utc};
use iap_store::{AnyStore, AnyTx, Delivery, DeliveryStore, SendError, StoreError, StoreOptions};
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
    assert!(out.contains("\ninbox keys    0\n"), "{out}");
    assert!(
        out.ends_with("\n2 dead letters wait for an operator (`iap dead-letters`)\n"),
        "{out}"
    );
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
    assert!(err.contains("redrive 1 dead letter? [y/N]"), "{err}");
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

/// A single redrive or skip checks the envelope first: one that is not
/// there or not a dead letter is refused with its own exit code, naming its
/// state, before anything is asked, and nothing changes; a dead letter is
/// asked about in the singular.
fn only_dead_letters_are_redriven_or_skipped(store: &str) {
    prepare(store);
    let (code, _, err) = iap(store, &["redrive", "webshop", "order-0"], "y\n");
    assert_eq!(code, 6, "{err}");
    assert_eq!(
        err,
        "iap: webshop/order-0 is not a dead letter (it is processed): nothing was redriven\n"
    );
    let (code, _, err) = iap(store, &["skip", "webshop", "order-0"], "");
    assert_eq!(code, 6, "{err}");
    assert_eq!(
        err,
        "iap: webshop/order-0 is not a dead letter (it is processed): nothing was skipped\n"
    );
    let (code, _, err) = iap(store, &["redrive", "webshop", "order-9"], "y\n");
    assert_eq!(code, 3, "{err}");
    assert_eq!(err, "iap: no stored envelope webshop/order-9\n");
    let (code, _, err) = iap(store, &["skip", "webshop", "order-9"], "");
    assert_eq!(code, 3, "{err}");
    let status = json_of(&iap(store, &["status", "--json"], "").1);
    assert_eq!(status["outbox"]["processed"], 1, "nothing changed");
    assert_eq!(status["outbox"]["failed"], 2);

    let (code, _, err) = iap(store, &["redrive", "webshop", "order-1"], "n\n");
    assert_eq!(code, 5, "{err}");
    assert!(
        err.starts_with("redrive 1 dead letter, webshop/order-1? [y/N] "),
        "{err}"
    );
    let (code, out, _) = iap(store, &["redrive", "webshop", "order-1"], "y\n");
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "redriven webshop/order-1\n1 dead letter sent back for delivery\n"
    );
    let (code, _, err) = iap(store, &["redrive", "webshop", "order-1", "--yes"], "");
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("(it is pending)"), "{err}");
    let (_, out, _) = iap(store, &["status"], "");
    assert!(
        out.ends_with("\n1 dead letter waits for an operator (`iap dead-letters`)\n"),
        "{out}"
    );
}

/// Dead letters `n` of `ns`, enqueued in that order and failed for good at
/// `failed` seconds (by position) after they were made.
fn dead_letters_failed_at(location: &str, ns: &[u32], failed: &[i64]) {
    let mut store = AnyStore::open(location, StoreOptions::default()).unwrap();
    let envelopes: Vec<_> = ns
        .iter()
        .map(|&n| order(n, "commerce.order.placed"))
        .collect();
    // No step of an envelope's history comes before the envelope was made.
    let start = Utc::now();
    store
        .write(|tx| {
            envelopes
                .iter()
                .try_for_each(|envelope| AnyStore::enqueue(tx, envelope, start))
        })
        .unwrap();
    let claims = store.claim_due::<Value>(start, ns.len()).unwrap().claims;
    for claim in claims {
        let position = ns
            .iter()
            .position(|&n| claim.envelope.event_id() == format!("order-{n}"))
            .unwrap();
        let at = start + TimeDelta::seconds(failed[position]);
        store
            .record(claim.envelope.fail_permanently_at("422", at))
            .unwrap();
    }
}

/// `dead-letters` lists in the order the envelopes failed, not the order
/// they were enqueued in, and says when more match than it shows.
fn dead_letters_come_in_the_order_they_failed(store: &str) {
    dead_letters_failed_at(store, &[1, 2, 3], &[30, 10, 20]);
    let ids = |listed: &Value| -> Vec<String> {
        listed
            .as_array()
            .unwrap()
            .iter()
            .map(|letter| letter["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let listed = json_of(&iap(store, &["dead-letters", "--json"], "").1);
    assert_eq!(ids(&listed), ["order-2", "order-3", "order-1"]);
    let (code, out, err) = iap(store, &["dead-letters", "--limit", "1"], "");
    assert_eq!(code, 0);
    assert!(out.contains("order-2") && !out.contains("order-3"), "{out}");
    assert_eq!(
        err,
        "iap: more dead letters match than the 1 shown (--limit)\n"
    );
    let (_, _, err) = iap(store, &["dead-letters", "--limit", "3"], "");
    assert_eq!(err, "", "no more match");
}

/// `status` tells envelopes waiting for a retry apart from nothing to do,
/// and says when the next is due.
fn status_tells_retries_apart_from_nothing_to_do(store: &str) {
    let mut opened = AnyStore::open(store, StoreOptions::default()).unwrap();
    let (code, out, _) = iap(store, &["status"], "");
    assert_eq!(code, 0);
    assert!(out.ends_with("\nnothing waits to be sent\n"), "{out}");
    let status = json_of(&iap(store, &["status", "--json"], "").1);
    assert_eq!(status["next_due_at"], Value::Null);

    opened
        .write(|tx| AnyStore::enqueue(tx, &order(1, "commerce.order.placed"), Utc::now()))
        .unwrap();
    let in_an_hour = Utc::now() + TimeDelta::hours(1);
    opened
        .run_once(Utc::now(), 10, |_: &Envelope<_, Value>| {
            Err(SendError::Transient {
                reason: "503".into(),
                retry_after: Some(in_an_hour),
            })
        })
        .unwrap();
    let (code, out, _) = iap(store, &["status"], "");
    assert_eq!(code, 0);
    assert!(out.contains("retrying      1"), "{out}");
    assert!(
        out.contains("\nnothing is due now (1 retrying); the next falls due at "),
        "{out}"
    );
    assert!(out.contains(" min)\n"), "{out}");
    let status = json_of(&iap(store, &["status", "--json"], "").1);
    let next: chrono::DateTime<Utc> = status["next_due_at"].as_str().unwrap().parse().unwrap();
    assert!((next - in_an_hour).num_seconds().abs() <= 1, "{status}");
}

/// `redrive --all` takes every match, in batches, however many there are,
/// with a count before and progress on standard error; `--limit` takes the
/// oldest failures; JSON is one document.
fn a_large_redrive_takes_every_match_in_batches(store: &str) {
    let mut opened = AnyStore::open(store, StoreOptions::default()).unwrap();
    opened
        .write(|tx| {
            (0..1203).try_for_each(|n| {
                AnyStore::enqueue(tx, &order(n, "commerce.order.placed"), Utc::now())
            })
        })
        .unwrap();
    opened
        .run_once(Utc::now(), 2000, |_: &Envelope<_, Value>| {
            Err(SendError::Permanent {
                reason: "422".into(),
            })
        })
        .unwrap();

    let (code, _, err) = iap(store, &["redrive", "--all"], "n\n");
    assert_eq!(code, 5, "{err}");
    assert!(
        err.starts_with("redrive 1203 dead letters? [y/N] "),
        "{err}"
    );
    let (code, out, err) = iap(store, &["redrive", "--all", "--limit", "3"], "y\n");
    assert_eq!(code, 0, "{err}");
    assert!(
        err.starts_with("redrive the 3 that failed first of 1203 dead letters that match? [y/N] "),
        "{err}"
    );
    assert!(
        out.ends_with("\n3 dead letters sent back for delivery\n"),
        "{out}"
    );

    let (code, out, err) = iap(store, &["redrive", "--all", "--yes", "--batch", "500"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err,
        "iap: redriven 500 of 1200\niap: redriven 1000 of 1200\niap: redriven 1200 of 1200\n"
    );
    assert_eq!(
        out.lines()
            .filter(|line| line.starts_with("redriven "))
            .count(),
        1200
    );
    assert!(
        out.ends_with("\n1200 dead letters sent back for delivery\n"),
        "{out}"
    );
    let status = json_of(&iap(store, &["status", "--json"], "").1);
    assert_eq!(status["outbox"]["failed"], Value::Null, "{status}");
    assert_eq!(status["outbox"]["pending"], 1203);

    opened
        .run_once(Utc::now(), 2000, |_: &Envelope<_, Value>| {
            Err(SendError::Permanent {
                reason: "422".into(),
            })
        })
        .unwrap();
    let (code, out, err) = iap(
        store,
        &["redrive", "--all", "--yes", "--json", "--batch", "100"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "", "no progress beside a JSON document");
    let done = json_of(&out);
    assert_eq!(done["redriven"].as_array().unwrap().len(), 1203);
    assert_eq!(done["quarantined"], json!([]));
    let (code, out, _) = iap(store, &["redrive", "--all", "--yes"], "");
    assert_eq!((code, out.as_str()), (0, "no dead letter matches\n"));
}

/// Table cells write what could disguise a value as the audit line does:
/// escaped, quoted; JSON keeps the value exact.
fn values_cannot_disguise_themselves_in_a_table(store: &str) {
    let mut opened = AnyStore::open(store, StoreOptions::default()).unwrap();
    let sly = Envelope::builder()
        .event_id("invoice\u{202e}fdp.exe")
        .event_type("commerce.\u{200b}order.placed")
        .source_system("webshop")
        .payload(json!({}))
        .build()
        .unwrap();
    opened
        .write(|tx| AnyStore::enqueue(tx, &sly, Utc::now()))
        .unwrap();
    opened
        .run_once(Utc::now(), 10, |_: &Envelope<_, Value>| {
            Err(SendError::Permanent {
                reason: "rejected\u{202e}\nfake line".into(),
            })
        })
        .unwrap();
    let (code, out, _) = iap(store, &["dead-letters"], "");
    assert_eq!(code, 0);
    assert!(!out.contains(['\u{202e}', '\u{200b}']), "{out}");
    assert!(out.contains("\"invoice\\u{202e}fdp.exe\""), "{out}");
    assert!(out.contains("\"commerce.\\u{200b}order.placed\""), "{out}");
    assert!(out.contains("\"rejected\\u{202e}\\nfake line\""), "{out}");
    assert_eq!(out.lines().count(), 3, "one line per dead letter: {out}");
    let listed = json_of(&iap(store, &["dead-letters", "--json"], "").1);
    assert_eq!(listed[0]["id"], "invoice\u{202e}fdp.exe");
    let (code, out, _) = iap(store, &["show", "webshop", "invoice\u{202e}fdp.exe"], "");
    assert_eq!(code, 0);
    assert!(!out.contains('\u{202e}'), "{out}");
    let (code, out, _) = iap(store, &["redrive", "--all", "--yes"], "");
    assert_eq!(code, 0);
    assert!(
        out.starts_with("redriven webshop/\"invoice\\u{202e}fdp.exe\"\n"),
        "{out}"
    );
}

/// Every command but `migrate` refuses a store that is not there, with its
/// exit code, and creates nothing; `migrate` creates it, and migrates an
/// older one, which the others refuse too.
fn no_command_but_migrate_creates_or_migrates_a_store(
    absent: &str,
    nothing_there: impl Fn() -> bool,
    message: &str,
) {
    let commands: &[&[&str]] = &[
        &["status"],
        &["dead-letters"],
        &["show", "webshop", "order-1"],
        &["held"],
        &["quarantine", "list"],
        &["verify"],
        &["redrive", "--all", "--yes"],
        &["redrive", "webshop", "order-1", "--yes"],
        &["skip", "webshop", "order-1"],
        &["purge"],
        &["quarantine", "release", "webshop", "order-1"],
        &["quarantine", "delete", "webshop", "order-1"],
    ];
    for command in commands {
        let (code, out, err) = iap(absent, command, "");
        assert_eq!(code, 7, "{command:?}: {err}");
        assert_eq!(out, "", "{command:?}");
        assert_eq!(
            err,
            format!("iap: no store at {message} (`iap migrate` creates one)\n"),
            "{command:?}"
        );
        assert!(nothing_there(), "{command:?} created nothing");
    }
    let (code, out, _) = iap(absent, &["migrate"], "");
    assert_eq!((code, out.as_str()), (0, "created the store\n"));
    assert_eq!(iap(absent, &["status"], "").0, 0);
    let (code, out, _) = iap(absent, &["migrate", "--json"], "");
    assert_eq!(code, 0);
    assert_eq!(
        json_of(&out),
        json!({ "created": false, "migrated_from": null })
    );
}

/// A store taken back to the schema version before this one, as that
/// version left it.
fn downgrade<B: backends::Backend>(location: &str) {
    let mut store = AnyStore::open(location, StoreOptions::default()).unwrap();
    store
        .write(|tx| {
            for statement in B::DOWNGRADES[0] {
                match tx {
                    AnyTx::Sqlite(tx) => tx.execute(statement, []).map(drop)?,
                    AnyTx::Postgres(tx) => tx.execute(*statement, &[]).map(drop)?,
                }
            }
            let version = format!(
                "UPDATE iap_meta SET value = {} WHERE name = 'schema_version'",
                B::SCHEMA_VERSION - 1
            );
            match tx {
                AnyTx::Sqlite(tx) => tx.execute(&version, []).map(drop)?,
                AnyTx::Postgres(tx) => tx.execute(&version, &[]).map(drop)?,
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

/// A store of the schema version before this one is refused by every
/// command but `migrate`, which migrates it.
fn an_older_store_is_migrated_by_migrate_alone<B: backends::Backend>(store: &str) {
    prepare(store);
    downgrade::<B>(store);
    let older = B::SCHEMA_VERSION - 1;
    for command in [
        &["status"][..],
        &["dead-letters"],
        &["redrive", "--all", "--yes"],
    ] {
        let (code, _, err) = iap(store, command, "");
        assert_eq!(code, 8, "{command:?}: {err}");
        assert_eq!(
            err,
            format!(
                "iap: the store schema is version {older}, older than version {} that this \
                 crate reads; migrate it first (nothing was changed): run `iap migrate`\n",
                B::SCHEMA_VERSION
            )
        );
    }
    let (code, out, _) = iap(store, &["migrate"], "");
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!("migrated the store from schema version {older}\n")
    );
    let listed = json_of(&iap(store, &["dead-letters", "--json"], "").1);
    assert_eq!(listed.as_array().unwrap().len(), 2);
}

fn postgres_store(name: &str) -> Option<(Schema, String)> {
    let schema = Schema::new(name, "cli")?;
    let location = format!("{} options='-c search_path={}'", schema.url, schema.name);
    Some((schema, location))
}

#[test]
fn an_operator_works_an_sqlite_store() {
    let db = TempDb::new("cli");
    operate(&format!("sqlite:{}", db.path().display()));
}

#[test]
fn an_operator_works_a_postgresql_store() {
    let Some((_schema, location)) = postgres_store("cli") else {
        return;
    };
    operate(&location);
}

#[test]
fn only_dead_letters_are_redriven_or_skipped_on_sqlite() {
    let db = TempDb::new("cli-state");
    only_dead_letters_are_redriven_or_skipped(&format!("sqlite:{}", db.path().display()));
}

#[test]
fn only_dead_letters_are_redriven_or_skipped_on_postgresql() {
    let Some((_schema, location)) = postgres_store("state") else {
        return;
    };
    only_dead_letters_are_redriven_or_skipped(&location);
}

#[test]
fn dead_letters_come_in_the_order_they_failed_on_sqlite() {
    let db = TempDb::new("cli-order");
    dead_letters_come_in_the_order_they_failed(&format!("sqlite:{}", db.path().display()));
}

#[test]
fn dead_letters_come_in_the_order_they_failed_on_postgresql() {
    let Some((_schema, location)) = postgres_store("order") else {
        return;
    };
    dead_letters_come_in_the_order_they_failed(&location);
}

#[test]
fn status_tells_retries_apart_from_nothing_to_do_on_sqlite() {
    let db = TempDb::new("cli-status");
    status_tells_retries_apart_from_nothing_to_do(&format!("sqlite:{}", db.path().display()));
}

#[test]
fn status_tells_retries_apart_from_nothing_to_do_on_postgresql() {
    let Some((_schema, location)) = postgres_store("status") else {
        return;
    };
    status_tells_retries_apart_from_nothing_to_do(&location);
}

#[test]
fn a_large_redrive_takes_every_match_in_batches_on_sqlite() {
    let db = TempDb::new("cli-batches");
    a_large_redrive_takes_every_match_in_batches(&format!("sqlite:{}", db.path().display()));
}

#[test]
fn a_large_redrive_takes_every_match_in_batches_on_postgresql() {
    let Some((_schema, location)) = postgres_store("batches") else {
        return;
    };
    a_large_redrive_takes_every_match_in_batches(&location);
}

#[test]
fn values_cannot_disguise_themselves_in_a_table_on_sqlite() {
    let db = TempDb::new("cli-escape");
    values_cannot_disguise_themselves_in_a_table(&format!("sqlite:{}", db.path().display()));
}

#[test]
fn values_cannot_disguise_themselves_in_a_table_on_postgresql() {
    let Some((_schema, location)) = postgres_store("escape") else {
        return;
    };
    values_cannot_disguise_themselves_in_a_table(&location);
}

#[test]
fn a_mistyped_sqlite_path_is_no_store_and_no_new_file() {
    let typo = TempDb::new("cli-typo");
    let location = format!("sqlite:{}", typo.path().display());
    let path = typo.path().to_owned();
    no_command_but_migrate_creates_or_migrates_a_store(
        &location,
        || !path.exists(),
        &format!("{location}: there is no such file"),
    );
}

#[test]
fn a_postgresql_schema_without_a_store_gets_no_tables() {
    let Some((schema, location)) = postgres_store("absent") else {
        return;
    };
    let tables = || -> i64 {
        let mut admin = iap_store::postgres::postgres::Client::connect(
            &schema.url,
            iap_store::postgres::postgres::NoTls,
        )
        .unwrap();
        admin
            .query_one(
                "SELECT COUNT(*) FROM pg_tables WHERE schemaname = $1",
                &[&schema.name],
            )
            .unwrap()
            .get(0)
    };
    let mut admin = iap_store::postgres::postgres::Client::connect(
        &schema.url,
        iap_store::postgres::postgres::NoTls,
    )
    .unwrap();
    let database: String = admin
        .query_one("SELECT current_database()::text", &[])
        .unwrap()
        .get(0);
    no_command_but_migrate_creates_or_migrates_a_store(
        &location,
        || tables() == 0,
        &format!(
            "PostgreSQL database {database:?}, schema {:?}: it has no iap store tables",
            schema.name
        ),
    );
}

#[test]
fn an_older_sqlite_store_is_migrated_by_migrate_alone() {
    let db = TempDb::new("cli-older");
    an_older_store_is_migrated_by_migrate_alone::<iap_store::sqlite::SqliteStore>(&format!(
        "sqlite:{}",
        db.path().display()
    ));
}

#[test]
fn an_older_postgresql_store_is_migrated_by_migrate_alone() {
    let Some((_schema, location)) = postgres_store("older") else {
        return;
    };
    an_older_store_is_migrated_by_migrate_alone::<iap_store::postgres::PostgresStore>(&location);
}

#[test]
fn the_help_lists_the_exit_codes() {
    let output = Command::new(env!("CARGO_BIN_EXE_iap"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for code in 0..=8 {
        assert!(help.contains(&format!("\n  {code}  ")), "{help}");
    }
}

#[test]
fn a_store_named_without_its_kind_is_a_usage_error_that_says_how_to_name_it() {
    let dir = std::env::temp_dir().join(format!("iap-cli-unnamed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shop.db");
    let (code, _, stderr) = iap(path.to_str().unwrap(), &["status"], "");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("write sqlite:PATH"), "{stderr}");
    assert!(!path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
