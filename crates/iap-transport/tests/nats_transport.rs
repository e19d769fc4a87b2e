//! The NATS JetStream transport against a real nats-server: what a publish
//! carries, the stream's de-duplication by the event's key, the outcomes of
//! a publish, and the consumer's admissions (first delivery, redelivery
//! after a commit, a message that is no event, an effect that keeps
//! failing), each settled with the server as its table says.

use iap_test_support::nats_server;
use iap_test_support::temp_db;
use iap_test_support::warehouse;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::{Context, stream};
use chrono::{DateTime, FixedOffset, Utc};
use iap_store::sqlite::AsyncSqliteStore;
use iap_store::sqlx::{self, Sqlite, Transaction};
use iap_store::{Admission, AsyncDeliveryStore, BoxFuture, Delivery, SendError, StoreOptions};
use iap_transport::nats::{ConsumerReport, NatsConsumer, NatsSender, Rejected, async_nats};
use integration_automation_patterns::state::{Dispatched, Pending};
use integration_automation_patterns::{Envelope, RetryPolicy};
use nats_server::{jetstream, nats_url, unique_name};
use serde_json::{Value, json};
use temp_db::TempDb;
use tokio::sync::oneshot;

fn order_event(n: u32) -> Envelope<Pending> {
    Envelope::builder()
        .event_id(format!("order-{n}-placed"))
        .event_type("shop.order.placed")
        .source_system("shop")
        .payload(json!({ "order_id": n }))
        // A fixed time: the event built again is the same event.
        .created_at(chrono::DateTime::UNIX_EPOCH)
        .build()
        .unwrap()
}

/// A stream of its own for one test, on subjects `<name>.>`.
async fn new_stream(js: &Context, name: &str) -> stream::Stream {
    js.create_stream(stream::Config {
        name: name.to_owned(),
        subjects: vec![format!("{name}.>")],
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn durable_consumer(stream: &stream::Stream) -> PullConsumer {
    stream
        .create_consumer(pull::Config {
            durable_name: Some("shipping".into()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: Duration::from_secs(2),
            ..Default::default()
        })
        .await
        .unwrap()
}

/// The effect: one shipment per order, with what it saw of the event (its
/// id, type, subject, time and `tenant` extension); `fail` makes every
/// effect fail.
fn effect(
    fail: bool,
) -> impl for<'t> Fn(
    &'t mut Transaction<'static, Sqlite>,
    &'t Envelope<Dispatched, Value>,
) -> BoxFuture<'t, Result<(), String>>
+ Send
+ Sync {
    move |tx, order| {
        let order_id = order.payload()["order_id"].as_i64();
        let seen = warehouse::seen(order);
        Box::pin(async move {
            if fail {
                return Err("the warehouse is closed".to_owned());
            }
            sqlx::query("INSERT INTO shipments (order_id, seen) VALUES (?, ?)")
                .bind(order_id)
                .bind(seen)
                .execute(&mut **tx)
                .await
                .map(|_| ())
                .map_err(|error| error.to_string())
        })
    }
}

async fn inbox(db: &TempDb) -> AsyncSqliteStore {
    let store = AsyncSqliteStore::open(db.path(), StoreOptions::default())
        .await
        .unwrap();
    sqlx::query("CREATE TABLE IF NOT EXISTS shipments (order_id INTEGER, seen TEXT)")
        .execute(store.pool())
        .await
        .unwrap();
    store
}

async fn shipments(store: &AsyncSqliteStore) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM shipments")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Runs a consumer until `done` says the run is over (checked every 50 ms,
/// for at most 20 s); returns its report and what it rejected.
async fn consume_until<F, Fut>(
    consumer: NatsConsumer<AsyncSqliteStore>,
    fail: bool,
    done: F,
) -> (ConsumerReport, Vec<Rejected>)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let rejected = Arc::new(Mutex::new(Vec::new()));
    let (stop, stopped) = oneshot::channel::<()>();
    let collected = Arc::clone(&rejected);
    let running = tokio::spawn(consumer.run(
        effect(fail),
        move |message| collected.lock().unwrap().push(message),
        async {
            let _ = stopped.await;
        },
    ));
    for _ in 0..400 {
        if done().await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    let report = running.await.unwrap().unwrap();
    let rejected = rejected.lock().unwrap().clone();
    (report, rejected)
}

/// Whether the server has the stream's first message settled: acknowledged
/// or terminated, so never to be delivered again.
fn first_message_settled(pull: &PullConsumer) -> impl Fn() -> BoxFuture<'static, bool> {
    let pull = pull.clone();
    move || {
        let mut pull = pull.clone();
        Box::pin(async move { pull.info().await.unwrap().ack_floor.stream_sequence == 1 })
    }
}

#[tokio::test]
async fn a_publish_carries_the_event_in_the_nats_binding_with_its_key_as_message_id() {
    let Some(url) = nats_url() else { return };
    let js = jetstream(&url).await;
    let name = unique_name("carry");
    let stream = new_stream(&js, &name).await;
    let sender = NatsSender::new(js, &format!("{name}.orders")).unwrap();
    assert_eq!(
        sender.publish(&order_event(1)).await,
        Ok(Delivery::Acknowledged)
    );
    let message = stream.get_raw_message(1).await.unwrap();
    assert_eq!(message.subject.as_str(), format!("{name}.orders"));
    let header = |name: &str| {
        message
            .headers
            .get(name)
            .map(|value| value.as_str().to_owned())
    };
    assert_eq!(
        header("Nats-Msg-Id").as_deref(),
        Some("shop/order-1-placed")
    );
    assert_eq!(header("ce-id").as_deref(), Some("order-1-placed"));
    assert_eq!(header("ce-type").as_deref(), Some("shop.order.placed"));
    assert_eq!(header("ce-specversion").as_deref(), Some("1.0"));
    let data: Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(data, json!({ "order_id": 1 }));
}

#[tokio::test]
async fn a_resend_within_the_duplicate_window_is_dropped_by_the_stream() {
    let Some(url) = nats_url() else { return };
    let js = jetstream(&url).await;
    let name = unique_name("dedup");
    let mut stream = new_stream(&js, &name).await;
    let sender = NatsSender::new(js, &format!("{name}.orders")).unwrap();
    for _ in 0..3 {
        assert_eq!(
            sender.publish(&order_event(2)).await,
            Ok(Delivery::Acknowledged)
        );
    }
    assert_eq!(
        sender.publish(&order_event(3)).await,
        Ok(Delivery::Acknowledged)
    );
    assert_eq!(stream.info().await.unwrap().state.messages, 2);
}

#[tokio::test]
async fn by_event_type_routes_each_type_and_refuses_a_type_that_is_no_token() {
    let Some(url) = nats_url() else { return };
    let js = jetstream(&url).await;
    let name = unique_name("bytype");
    let stream = new_stream(&js, &name).await;
    let sender = NatsSender::by_event_type(js, &name).unwrap();
    assert_eq!(
        sender.publish(&order_event(4)).await,
        Ok(Delivery::Acknowledged)
    );
    let message = stream.get_raw_message(1).await.unwrap();
    assert_eq!(
        message.subject.as_str(),
        format!("{name}.shop.order.placed")
    );
    let odd = Envelope::builder()
        .event_id("odd-1")
        .event_type("order placed")
        .source_system("shop")
        .payload(json!({}))
        .build()
        .unwrap();
    match sender.publish(&odd).await {
        Err(SendError::Permanent { reason }) => {
            assert!(reason.contains("holds whitespace"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_subject_no_stream_listens_on_is_transient() {
    let Some(url) = nats_url() else { return };
    let js = jetstream(&url).await;
    let sender = NatsSender::new(js, &format!("{}.orders", unique_name("nostream"))).unwrap();
    match sender.publish(&order_event(5)).await {
        Err(SendError::Transient {
            retry_after: None, ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_consumer_admits_each_message_once_and_acknowledges_it() {
    let Some(url) = nats_url() else { return };
    let js = jetstream(&url).await;
    let name = unique_name("consume");
    let stream = new_stream(&js, &name).await;
    let sender = NatsSender::new(js, &format!("{name}.orders")).unwrap();
    for n in 0..50 {
        sender.publish(&order_event(n)).await.unwrap();
    }
    let db = TempDb::new("nats-consume");
    let store = inbox(&db).await;
    let mut pull = durable_consumer(&stream).await;
    let consumer = NatsConsumer::new(pull.clone(), store.clone()).batch(20);
    let (report, rejected) =
        consume_until(consumer, false, || async { shipments(&store).await == 50 }).await;
    assert_eq!(shipments(&store).await, 50);
    assert_eq!(report.admitted, 50);
    assert_eq!(
        (report.duplicates, report.rejected, report.redelivered),
        (0, 0, 0)
    );
    assert!(rejected.is_empty());
    // Every message was acknowledged: none pending, none awaiting its ack.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let info = pull.info().await.unwrap();
    assert_eq!((info.num_pending, info.num_ack_pending), (0, 0));
}

#[tokio::test]
async fn the_effect_sees_the_event_s_attributes() {
    let Some(url) = nats_url() else { return };
    let js = jetstream(&url).await;
    let name = unique_name("attributes");
    let stream = new_stream(&js, &name).await;
    let event = Envelope::builder()
        .event_id("order-4-amended")
        .event_type("shop.order.amended")
        .source_system("shop")
        .payload(json!({ "order_id": 4 }))
        .created_at(
            "2026-03-01T10:00:00+02:00"
                .parse::<DateTime<FixedOffset>>()
                .unwrap(),
        )
        .subject("order/4")
        .extension("tenant", "acme")
        .build()
        .unwrap();
    NatsSender::new(js, &format!("{name}.orders"))
        .unwrap()
        .publish(&event)
        .await
        .unwrap();
    let db = TempDb::new("nats-attributes");
    let store = inbox(&db).await;
    let pull = durable_consumer(&stream).await;
    let consumer = NatsConsumer::new(pull.clone(), store.clone());
    let (report, _) = consume_until(consumer, false, first_message_settled(&pull)).await;
    assert_eq!(report.admitted, 1);
    let seen: String = sqlx::query_scalar("SELECT seen FROM shipments")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(
        seen,
        r#"order-4-amended shop.order.amended Some("order/4") Some("2026-03-01T10:00:00+02:00") Some("acme")"#
    );
}

#[tokio::test]
async fn a_message_redelivered_after_its_commit_is_a_duplicate_and_acknowledged() {
    let Some(url) = nats_url() else { return };
    let js = jetstream(&url).await;
    let name = unique_name("redeliver");
    let stream = new_stream(&js, &name).await;
    let db = TempDb::new("nats-redeliver");
    let store = inbox(&db).await;
    // A consumer committed order 6 and died before its ack: the inbox has
    // the key, and the server still has the message to deliver.
    let admitted = store
        .admit(order_event(6), Utc::now(), effect(false))
        .await
        .unwrap();
    assert!(matches!(admitted, Admission::Processed(..)));
    NatsSender::new(js, &format!("{name}.orders"))
        .unwrap()
        .publish(&order_event(6))
        .await
        .unwrap();
    let mut pull = durable_consumer(&stream).await;
    let consumer = NatsConsumer::new(pull.clone(), store.clone());
    let (report, _) = consume_until(consumer, false, first_message_settled(&pull)).await;
    assert_eq!((report.admitted, report.duplicates), (0, 1));
    assert_eq!(shipments(&store).await, 1);
    assert_eq!(pull.info().await.unwrap().num_ack_pending, 0);
}

#[tokio::test]
async fn a_message_that_is_no_cloudevent_is_terminated_and_named() {
    let Some(url) = nats_url() else { return };
    let js = jetstream(&url).await;
    let name = unique_name("garbage");
    let stream = new_stream(&js, &name).await;
    js.publish(format!("{name}.orders"), "{not json".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let db = TempDb::new("nats-garbage");
    let store = inbox(&db).await;
    let mut pull = durable_consumer(&stream).await;
    let consumer = NatsConsumer::new(pull.clone(), store.clone());
    let (report, rejected) = consume_until(consumer, false, first_message_settled(&pull)).await;
    assert_eq!(report.rejected, 1);
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].stream_sequence, 1);
    assert_eq!(rejected[0].subject, format!("{name}.orders"));
    assert!(
        rejected[0]
            .reason
            .starts_with("not a CloudEvent: the event is not a JSON object"),
        "{}",
        rejected[0].reason
    );
    assert_eq!(pull.info().await.unwrap().num_redelivered, 0);
}

#[tokio::test]
async fn a_failing_effect_is_redelivered_until_its_budget_is_spent_then_rejected() {
    let Some(url) = nats_url() else { return };
    let js = jetstream(&url).await;
    let name = unique_name("failing");
    let stream = new_stream(&js, &name).await;
    NatsSender::new(js, &format!("{name}.orders"))
        .unwrap()
        .publish(&order_event(7))
        .await
        .unwrap();
    let db = TempDb::new("nats-failing");
    let store = inbox(&db).await;
    let pull = durable_consumer(&stream).await;
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Duration::from_millis(20))
        .build()
        .unwrap();
    let consumer = NatsConsumer::new(pull.clone(), store.clone()).retry_policy(policy);
    let (report, rejected) = consume_until(consumer, true, first_message_settled(&pull)).await;
    assert_eq!((report.redelivered, report.rejected), (2, 1));
    assert_eq!(
        rejected[0].reason,
        "the effect failed on each of 3 deliveries, last: the warehouse is closed"
    );
    assert_eq!(shipments(&store).await, 0);
}
