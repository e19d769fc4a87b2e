//! What only the PostgreSQL store does: explicit, versioned migration,
//! connection errors that name the server, the server's time, and
//! reconnection after the server drops the connection. Everything else is
//! in `store_conformance.rs`.
#![cfg(feature = "postgres")]

use iap_test_support::backends;

use backends::Backend;
use chrono::Utc;
use iap_store::postgres::{PostgresStore, SCHEMA_VERSION};
use iap_store::{StoreError, StoreOptions};
use integration_automation_patterns::Envelope;
use serde_json::{Value, json};

fn event(n: u32) -> Envelope<integration_automation_patterns::state::Pending> {
    Envelope::builder()
        .event_id(format!("order-{n}"))
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": n }))
        .build()
        .unwrap()
}

#[test]
fn migration_is_explicit_versioned_and_safe_to_run_twice() {
    let Some(place) = PostgresStore::place("migrate") else {
        return;
    };
    let mut store = PostgresStore::open(&place);
    assert_eq!(store.schema_version().unwrap(), Some(SCHEMA_VERSION));
    store
        .write(|tx| PostgresStore::enqueue(tx, &event(1), Utc::now()))
        .unwrap();
    // Again, and from several connections at once: nothing changes, nothing is lost.
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| PostgresStore::open(&place).migrate().unwrap());
        }
    });
    store.migrate().unwrap();
    assert_eq!(store.number("SELECT COUNT(*) FROM iap_outbox"), 1);

    store
        .write(|tx| {
            PostgresStore::exec(
                tx,
                &format!(
                    "UPDATE iap_meta SET value = {} WHERE name = 'schema_version'",
                    SCHEMA_VERSION + 1
                ),
            )
        })
        .unwrap();
    assert_eq!(
        store.migrate().unwrap_err().to_string(),
        format!(
            "the store schema is version {}, newer than version {SCHEMA_VERSION} that this crate reads; upgrade the crate",
            SCHEMA_VERSION + 1
        )
    );
}

#[test]
fn connecting_to_an_existing_store_creates_nothing_and_migrates_nothing() {
    let Some(place) = PostgresStore::place("existing") else {
        return;
    };
    let in_schema = |schema: &str| format!("{} options='-c search_path={schema}'", place.url);
    let mut admin = postgres::Client::connect(&place.url, postgres::NoTls).unwrap();
    let database: String = admin
        .query_one("SELECT current_database()::text", &[])
        .unwrap()
        .get(0);
    let mut tables = |schema: &str| -> i64 {
        admin
            .query_one(
                "SELECT COUNT(*) FROM pg_tables WHERE schemaname = $1",
                &[&schema],
            )
            .unwrap()
            .get(0)
    };
    // The place's schema is empty: a database that is not a store.
    let error = PostgresStore::connect_existing(&in_schema(&place.name), StoreOptions::default())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "no store at PostgreSQL database {database:?}, schema {:?}: it has no iap store tables",
            place.name
        )
    );
    assert_eq!(tables(&place.name), 0, "no table was made");
    let error =
        PostgresStore::connect_existing(&in_schema("iap_no_such_schema"), StoreOptions::default())
            .unwrap_err();
    assert!(
        matches!(error, StoreError::NoStore { ref reason, .. }
            if reason == "no schema of the connection's search path exists"),
        "{error}"
    );

    let mut store = PostgresStore::open(&place);
    store
        .write(|tx| PostgresStore::enqueue(tx, &event(1), Utc::now()))
        .unwrap();
    let set_version = |store: &mut PostgresStore, version: i64| {
        store
            .write(|tx| {
                PostgresStore::exec(
                    tx,
                    &format!("UPDATE iap_meta SET value = {version} WHERE name = 'schema_version'"),
                )
            })
            .unwrap();
    };
    set_version(&mut store, SCHEMA_VERSION - 1);
    let error = PostgresStore::connect_existing(&in_schema(&place.name), StoreOptions::default())
        .unwrap_err();
    assert!(
        matches!(error, StoreError::SchemaTooOld { found, current }
            if found == SCHEMA_VERSION - 1 && current == SCHEMA_VERSION),
        "{error}"
    );
    assert_eq!(store.schema_version().unwrap(), Some(SCHEMA_VERSION - 1));
    set_version(&mut store, SCHEMA_VERSION + 1);
    assert!(matches!(
        PostgresStore::connect_existing(&in_schema(&place.name), StoreOptions::default()),
        Err(StoreError::SchemaTooNew { .. })
    ));
    set_version(&mut store, SCHEMA_VERSION);
    let mut existing =
        PostgresStore::connect_existing(&in_schema(&place.name), StoreOptions::default()).unwrap();
    assert_eq!(existing.number("SELECT COUNT(*) FROM iap_outbox"), 1);
}

#[test]
fn tables_without_a_version_are_refused_not_guessed() {
    let Some(place) = PostgresStore::place("unknown") else {
        return;
    };
    let mut store = PostgresStore::open(&place);
    store
        .write(|tx| {
            tx.batch_execute("DROP TABLE iap_meta")?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    assert_eq!(store.schema_version().unwrap(), None);
    assert_eq!(
        store.migrate().unwrap_err().to_string(),
        "the store schema is not recognised: store tables exist without a schema version"
    );
}

#[test]
fn a_server_that_cannot_be_reached_is_named_in_the_error() {
    let error = PostgresStore::connect(
        "host=127.0.0.1 port=1 user=relay dbname=orders connect_timeout=2",
        StoreOptions::default(),
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, StoreError::Connect { .. }), "{message}");
    assert!(
        message.contains("127.0.0.1") && message.contains("relay"),
        "{message}"
    );
    let unparsable = PostgresStore::connect("host=", StoreOptions::default()).unwrap_err();
    assert!(
        unparsable.to_string().contains("does not parse"),
        "{unparsable}"
    );
}

/// A server restart, as the store sees it: its connection is cut. The
/// operations that meet the cut fail and change nothing; once the client knows
/// the connection is closed, the next operation reconnects, and no envelope is
/// lost. A relay simply tries again on its next pass.
#[test]
fn a_dropped_connection_turns_into_retries_not_a_lost_envelope() {
    let Some(place) = PostgresStore::place("reconnect") else {
        return;
    };
    let mut store = PostgresStore::open(&place);
    store
        .write(|tx| PostgresStore::enqueue(tx, &event(1), Utc::now()))
        .unwrap();
    let pid: i32 = store
        .write(|tx| Ok::<_, StoreError>(tx.query_one("SELECT pg_backend_pid()", &[])?.get(0)))
        .unwrap();
    let mut admin = PostgresStore::open(&place);
    admin
        .write(|tx| {
            tx.execute("SELECT pg_terminate_backend($1)", &[&pid])?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let mut failures = 0;
    let claims = loop {
        match store.claim_due::<Value>(Utc::now(), 10) {
            Ok(claimed) => break claimed.claims,
            Err(error) => {
                failures += 1;
                assert!(
                    failures <= 3,
                    "still failing after {failures} tries: {error}"
                );
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    };
    assert!(failures >= 1, "the cut connection must be reported");
    assert_eq!(
        claims.len(),
        1,
        "the envelope is still there, and claimed on a new connection"
    );
}

/// A connection lent by the caller (checked out of a pool, say) serves as a
/// store for as long as the loan lasts, and is the caller's again afterwards.
#[test]
fn a_lent_connection_serves_as_a_store() {
    let Some(place) = PostgresStore::place("lent") else {
        return;
    };
    drop(PostgresStore::open(&place));
    let mut pooled = PostgresStore::open(&place).into_client().unwrap();
    {
        // A lent store is no test backend: its operations by their trait.
        let mut lent = PostgresStore::with_client(&mut pooled, StoreOptions::default());
        iap_store::DeliveryStore::write(&mut lent, |tx| {
            PostgresStore::enqueue(tx, &event(1), Utc::now())
        })
        .unwrap();
        let claimed =
            iap_store::DeliveryStore::claim_due::<Value>(&mut lent, Utc::now(), 10).unwrap();
        assert_eq!(claimed.claims.len(), 1);
    }
    let dispatched: i64 = pooled
        .query_one(
            "SELECT COUNT(*) FROM iap_outbox WHERE status = 'dispatched'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(dispatched, 1);
}

/// Inside a tokio service the blocking store works on a multi-threaded
/// runtime's workers (it runs in `block_in_place`) and is dropped without a
/// panic; on a current-thread runtime, where nothing may block, every call
/// is a clear error and dropping it is still safe.
#[test]
fn the_blocking_store_inside_a_runtime_works_or_says_why_and_drops_safely() {
    let Some(place) = PostgresStore::place("in_runtime") else {
        return;
    };
    drop(PostgresStore::open(&place));
    let connection = format!("{} options='-c search_path={}'", place.url, place.name);
    let multi_thread = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    multi_thread.block_on(async {
        let worker = tokio::spawn({
            let connection = connection.clone();
            async move {
                let mut store = PostgresStore::connect(&connection, StoreOptions::default())?;
                store.write(|tx| PostgresStore::enqueue(tx, &event(1), Utc::now()))?;
                let claimed = store.claim_due::<Value>(Utc::now(), 10)?.claims.len();
                drop(store);
                Ok::<_, StoreError>(claimed)
            }
        });
        assert_eq!(worker.await.unwrap().unwrap(), 1);
    });

    let current_thread = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut store = PostgresStore::connect(&connection, StoreOptions::default()).unwrap();
    current_thread.block_on(async move {
        let refused = store.counts().unwrap_err();
        assert!(
            matches!(refused, StoreError::InsideAsyncRuntime),
            "{refused}"
        );
        assert!(refused.to_string().contains("use AsyncPostgresStore"));
        drop(store);
    });
}

#[test]
fn a_text_jsonb_cannot_hold_is_refused_at_enqueue_with_the_reason_and_nothing_is_written() {
    let Some(place) = PostgresStore::place("nul") else {
        return;
    };
    let mut store = PostgresStore::open(&place);
    let event = Envelope::builder()
        .event_id("note-1")
        .event_type("crm.note.added")
        .source_system("crm")
        .payload(json!({ "text": "a\u{0}b" }))
        .build()
        .unwrap();
    let error = store
        .write(|tx| PostgresStore::enqueue(tx, &event, Utc::now()))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "database error: unsupported Unicode escape sequence (\\u0000 cannot be converted to text.)"
    );
    assert_eq!(store.number("SELECT COUNT(*) FROM iap_outbox"), 0);
}

#[test]
fn the_server_time_is_the_schemas_clock_whatever_this_machines_says() {
    let Some(place) = PostgresStore::place("server_time") else {
        return;
    };
    let mut store = PostgresStore::open(&place);
    let now = store.server_time().unwrap();
    assert!(
        (now - Utc::now()).abs() < chrono::TimeDelta::seconds(5),
        "{now}"
    );
    // This machine's clock ten minutes ahead of the server's.
    store
        .write(|tx| {
            PostgresStore::exec(
                tx,
                "CREATE OR REPLACE FUNCTION iap_clock() RETURNS TIMESTAMPTZ LANGUAGE sql AS
                 $$ SELECT clock_timestamp() - interval '10 minutes' $$",
            )
        })
        .unwrap();
    let behind = Utc::now() - store.server_time().unwrap();
    assert!(
        (behind - chrono::TimeDelta::minutes(10)).abs() < chrono::TimeDelta::seconds(5),
        "{behind}"
    );
}
