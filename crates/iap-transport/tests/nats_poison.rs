//! A poison message on the NATS consumer into a PostgreSQL inbox: an event
//! whose id is longer than a store can index, once in every position of a
//! batch. Each is terminated and handed to `on_rejected` alone; every good
//! event around it is admitted, and the consumer goes on.

use iap_test_support::backends;
use iap_test_support::nats_server;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::stream;
use backends::postgres::Schema;
use iap_store::postgres::AsyncPostgresStore;
use iap_store::sqlx::{self, Postgres, Transaction};
use iap_store::{BoxFuture, StoreOptions};
use iap_transport::nats::{NatsConsumer, Rejected, async_nats};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::MAX_KEY_BYTES;
use integration_automation_patterns::state::Dispatched;
use nats_server::{jetstream, nats_url, unique_name};
use serde_json::Value;

/// The messages: five batches of five, the poison one at position `b` of
/// batch `b`.
const BATCH: usize = 5;

fn ship<'t>(
    tx: &'t mut Transaction<'static, Postgres>,
    order: &'t Envelope<Dispatched, Value>,
) -> BoxFuture<'t, Result<(), String>> {
    let order_id = order.payload()["order_id"].as_i64();
    Box::pin(async move {
        sqlx::query("INSERT INTO shipments (order_id) VALUES ($1)")
            .bind(order_id)
            .execute(&mut **tx)
            .await
            .map(|_| ())
            .map_err(|error| error.to_string())
    })
}

/// A binary-mode message, written by hand as another producer would.
fn message(id: &str, order_id: usize) -> (HeaderMap, Vec<u8>) {
    let mut headers = HeaderMap::new();
    headers.insert("ce-specversion", "1.0");
    headers.insert("ce-id", id);
    headers.insert("ce-source", "/shop");
    headers.insert("ce-type", "shop.order.placed");
    headers.insert("ce-datacontenttype", "application/json");
    (
        headers,
        format!(r#"{{"order_id": {order_id}}}"#).into_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_in_any_position_is_rejected_alone_and_the_batch_admitted() {
    let Some(url) = nats_url() else { return };
    let Some(schema) = tokio::task::spawn_blocking(|| Schema::new("poison", "n"))
        .await
        .unwrap()
    else {
        return;
    };
    let store = AsyncPostgresStore::connect_with(schema.connect_options(), StoreOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    sqlx::query("CREATE TABLE shipments (order_id BIGINT)")
        .execute(store.pool())
        .await
        .unwrap();

    let js = jetstream(&url).await;
    let name = unique_name("poison");
    let stream = js
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("{name}.>")],
            ..Default::default()
        })
        .await
        .unwrap();
    let poison_id = "p".repeat(3 * MAX_KEY_BYTES);
    let mut good = 0;
    for batch in 0..BATCH {
        for position in 0..BATCH {
            let (headers, body) = if position == batch {
                message(&poison_id, 0)
            } else {
                good += 1;
                message(&format!("order-{good}"), good)
            };
            js.publish_with_headers(format!("{name}.orders"), headers, body.into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    }
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("shipping".into()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: Duration::from_secs(2),
            ..Default::default()
        })
        .await
        .unwrap();

    let rejected = Arc::new(Mutex::new(Vec::<Rejected>::new()));
    let collected = Arc::clone(&rejected);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(NatsConsumer::new(consumer, store.clone()).batch(BATCH).run(
        ship,
        move |message| collected.lock().unwrap().push(message),
        async {
            let _ = stopped.await;
        },
    ));
    let shipped = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM shipments")
            .fetch_one(store.pool())
            .await
            .unwrap()
    };
    for _ in 0..400 {
        if shipped().await == good as i64 && rejected.lock().unwrap().len() == BATCH {
            break;
        }
        assert!(!running.is_finished(), "the consumer stopped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    let report = running.await.unwrap().expect("the consumer ran on");
    assert_eq!(shipped().await, good as i64);
    assert_eq!(
        (report.admitted, report.rejected),
        (good as u64, BATCH as u64)
    );
    let rejected = rejected.lock().unwrap().clone();
    let mut positions: Vec<u64> = rejected.iter().map(|r| r.stream_sequence).collect();
    positions.sort_unstable();
    let expected: Vec<u64> = (0..BATCH as u64)
        .map(|b| b * BATCH as u64 + b + 1)
        .collect();
    assert_eq!(positions, expected, "each poison message, at its own place");
    for rejection in &rejected {
        assert!(
            rejection.reason.ends_with(
                "event_id is 3072 bytes long, longer than the 1024 bytes a key may have"
            ),
            "{}",
            rejection.reason
        );
    }
}
