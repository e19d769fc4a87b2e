//! A relay on PostgreSQL goes by the server's clock, not its own: with this
//! machine's clock ten minutes ahead of the server's (the schema's
//! `iap_clock()` set back to make it so), the leases and due times it
//! writes are the server's, a worker on the server's time finds no lease run
//! out to take over, and the relay says how far off its clock is.

use iap_test_support::backends;

use std::time::Duration;

use backends::postgres::Schema;
use chrono::{DateTime, TimeDelta, Utc};
use iap_relay::{Relay, RelayConfig};
use iap_store::postgres::AsyncPostgresStore;
use iap_store::{AsyncDeliveryStore, Delivery, StoreOptions};
use integration_automation_patterns::state::{Dispatched, Pending};
use integration_automation_patterns::{DeliveryStatus, Envelope};
use serde_json::{Value, json};

fn order(n: u32) -> Envelope<Pending> {
    Envelope::builder()
        .event_id(format!("order-{n}"))
        .event_type("shop.order.placed")
        .source_system("shop")
        .payload(json!({ "order_id": n }))
        .ordering_key("customer-1")
        .build()
        .unwrap()
}

/// The server's clock, read in SQL.
async fn server_now(store: &AsyncPostgresStore) -> DateTime<Utc> {
    let micros: i64 = sqlx::query_scalar("SELECT iap_micros(iap_clock())")
        .fetch_one(store.pool())
        .await
        .unwrap();
    DateTime::from_timestamp_micros(micros).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_goes_by_the_servers_clock_and_says_how_far_off_its_own_is() {
    let Some(schema) = tokio::task::spawn_blocking(|| Schema::new("clock", "c"))
        .await
        .unwrap()
    else {
        return;
    };
    let store = AsyncPostgresStore::connect_with(schema.connect_options(), StoreOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    // This machine's clock is ten minutes ahead of the server's.
    sqlx::query(
        "CREATE OR REPLACE FUNCTION iap_clock() RETURNS TIMESTAMPTZ LANGUAGE sql AS
         $$ SELECT clock_timestamp() - interval '10 minutes' $$",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let offset = store.sync_clock().await.unwrap();
    assert!(
        (offset + TimeDelta::minutes(10)).abs() < TimeDelta::seconds(1),
        "{offset}"
    );
    assert!((store.now() - server_now(&store).await).abs() < TimeDelta::seconds(1));

    // Two envelopes of one key, enqueued at the server's time; the first
    // send hangs until told.
    let mut tx = store.begin().await.unwrap();
    for n in 1..=2 {
        AsyncPostgresStore::enqueue(&mut tx, &order(n), store.now())
            .await
            .unwrap();
    }
    AsyncPostgresStore::commit(tx).await.unwrap();
    let (gate, closed) = tokio::sync::watch::channel(false);
    let (started, mut sending) = tokio::sync::mpsc::unbounded_channel::<()>();
    let relay = Relay::new(store.clone(), move |_: &Envelope<Dispatched, Value>| {
        let _ = started.send(());
        let mut closed = closed.clone();
        async move {
            let _ = closed.wait_for(|open| *open).await;
            Ok(Delivery::Processed)
        }
    })
    .with_config(RelayConfig::default().idle_poll(Duration::from_millis(50)));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(relay.run::<Value>(async {
        let _ = stopped.await;
    }));
    sending.recv().await.unwrap();

    // The lease it wrote is the server's time plus a lease, not this
    // machine's.
    let lease: i64 = sqlx::query_scalar(
        "SELECT iap_micros(due_at) - iap_micros(iap_clock()) FROM iap_outbox WHERE event_id = 'order-1'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    let lease = TimeDelta::microseconds(lease);
    let expected = TimeDelta::from_std(StoreOptions::default().lease).unwrap();
    assert!(
        lease <= expected && lease > expected - TimeDelta::seconds(5),
        "the lease runs {lease} past the server's now, not {expected}"
    );
    // A worker on the server's time finds nothing to take over, and the next
    // envelope of the key waits behind the one in flight.
    let peer = store
        .claim_due::<Value>(server_now(&store).await, 10)
        .await
        .unwrap();
    assert!(peer.claims.is_empty(), "{:?}", peer.claims.len());

    gate.send(true).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let second = store.load_any::<Value>("shop", "order-2").await.unwrap();
        if second.status() == DeliveryStatus::Processed {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "order 2 was not sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    let report = running.await.unwrap().unwrap();
    assert_eq!(report.sent.delivered, 2);
    assert!(
        (report.clock_offset + TimeDelta::minutes(10)).abs() < TimeDelta::seconds(1),
        "the relay says how far off this machine's clock is: {}",
        report.clock_offset
    );
    let first = store.load_any::<Value>("shop", "order-1").await.unwrap();
    assert_eq!(first.attempt_count(), 1, "sent once, never taken over");
}
