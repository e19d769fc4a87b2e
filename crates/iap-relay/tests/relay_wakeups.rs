//! A waiting relay is woken by an enqueue's commit, not by its next poll: on
//! SQLite by the commits of the store's own connections, on PostgreSQL by a
//! notification from any connection. With wakeups set to
//! [`WakeupMode::Poll`] (for PgBouncer) it waits for its poll instead.

use iap_test_support::backends;
use iap_test_support::temp_db;

use std::time::{Duration, Instant};

use chrono::Utc;
use iap_relay::{Relay, RelayConfig};
use iap_store::sqlite::AsyncSqliteStore;
use iap_store::{AsyncDeliveryStore, Delivery, StoreOptions, WakeupMode};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::state::{Dispatched, Pending};
use serde_json::{Value, json};
use temp_db::TempDb;

/// Far longer than any test waits: a send before it is a wakeup's doing.
const POLL: Duration = Duration::from_secs(60);

fn order_event(n: u32) -> Envelope<Pending> {
    Envelope::builder()
        .event_id(format!("order-{n}-placed"))
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": n }))
        .build()
        .unwrap()
}

fn polling_only() -> StoreOptions {
    StoreOptions::default().wakeups(WakeupMode::Poll)
}

/// Starts a relay on `store` that polls every minute, lets it find nothing
/// and wait, enqueues one event through `producer`, and returns how long
/// after the commit the relay sent it, if it did within `patience`.
async fn send_after_enqueue<S: AsyncDeliveryStore>(
    store: S,
    producer: S,
    patience: Duration,
) -> Option<Duration> {
    let (sent, mut sends) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let relay = Relay::new(store, move |_: &Envelope<Dispatched, Value>| {
        let _ = sent.send(Instant::now());
        async { Ok(Delivery::Processed) }
    })
    .with_config(RelayConfig::default().idle_poll(POLL));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));
    // The relay's first claim finds nothing; it waits.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut tx = producer.begin().await.unwrap();
    S::enqueue(&mut tx, &order_event(1), Utc::now())
        .await
        .unwrap();
    S::commit(tx).await.unwrap();
    let committed = Instant::now();
    let latency = tokio::time::timeout(patience, sends.recv())
        .await
        .ok()
        .map(|sent| sent.unwrap() - committed);

    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    latency
}

#[tokio::test(flavor = "multi_thread")]
async fn an_enqueue_on_sqlite_wakes_a_waiting_relay_of_the_same_process() {
    let db = TempDb::new("wakeup-sqlite");
    let store = AsyncSqliteStore::open(db.path(), StoreOptions::default())
        .await
        .unwrap();
    let latency = send_after_enqueue(store.clone(), store, Duration::from_secs(10)).await;
    assert!(
        latency.is_some(),
        "the enqueue's commit woke the relay long before its {POLL:?} poll"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_wakeups_a_sqlite_relay_waits_for_its_poll() {
    let db = TempDb::new("wakeup-sqlite-poll");
    let store = AsyncSqliteStore::open(db.path(), polling_only())
        .await
        .unwrap();
    let latency = send_after_enqueue(store.clone(), store, Duration::from_secs(1)).await;
    assert_eq!(latency, None, "nothing woke the relay");
}

mod postgres {
    use iap_store::postgres::AsyncPostgresStore;

    use super::backends::postgres::Schema;
    use super::*;

    async fn store(schema: &Schema, options: StoreOptions) -> AsyncPostgresStore {
        let store = AsyncPostgresStore::connect_with(schema.connect_options(), options)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }

    async fn fresh_schema(name: &'static str) -> Option<Schema> {
        tokio::task::spawn_blocking(move || Schema::new(name, "w"))
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_enqueue_from_another_connection_pool_wakes_a_listening_relay() {
        let Some(schema) = fresh_schema("wakeup").await else {
            return;
        };
        let relay_store = store(&schema, StoreOptions::default()).await;
        // Another pool, as another process would have.
        let producer = store(&schema, StoreOptions::default()).await;
        let latency = send_after_enqueue(relay_store, producer, Duration::from_secs(10)).await;
        assert!(
            latency.is_some(),
            "the notification woke the relay long before its {POLL:?} poll"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_relay_set_to_poll_does_not_listen() {
        let Some(schema) = fresh_schema("wakeup_poll").await else {
            return;
        };
        let relay_store = store(&schema, polling_only()).await;
        let producer = store(&schema, StoreOptions::default()).await;
        let latency = send_after_enqueue(relay_store, producer, Duration::from_secs(1)).await;
        assert_eq!(latency, None, "nothing woke the relay");
    }
}
