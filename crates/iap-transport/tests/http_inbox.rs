//! The HTTP inbox, served on a local port and sent the requests the curl
//! commands in its docs send: every answer (201, 200, 409, 400, 503, 500)
//! in both content modes, and what each leaves in the database.

use iap_test_support::temp_db;
use iap_test_support::warehouse;

use std::time::Duration;

use iap_store::sqlite::AsyncSqliteStore;
use iap_store::sqlite::rusqlite;
use iap_store::sqlx::{self, Sqlite, Transaction};
use iap_store::{BoxFuture, StoreOptions};
use iap_transport::http::reqwest::{Client, RequestBuilder};
use iap_transport::http::{InboxOptions, ServeOptions, inbox_router_with, serve};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::{MAX_KEY_BYTES, ReadLimits};
use integration_automation_patterns::state::Dispatched;
use serde_json::{Value, json};
use temp_db::TempDb;

/// The effect: one shipment per order, with what it saw of the event (its
/// id, type, subject, time and `tenant` extension); an order without an id
/// fails, after writing (so that a rollback shows).
fn ship<'t>(
    tx: &'t mut Transaction<'static, Sqlite>,
    order: &'t Envelope<Dispatched, Value>,
) -> BoxFuture<'t, Result<(), String>> {
    let order_id = order.payload()["order_id"].as_i64();
    let seen = warehouse::seen(order);
    Box::pin(async move {
        sqlx::query("INSERT INTO shipments (order_id, seen) VALUES (?, ?)")
            .bind(order_id)
            .bind(seen)
            .execute(&mut **tx)
            .await
            .map_err(|error| error.to_string())?;
        match order_id {
            Some(_) => Ok(()),
            None => Err("the order has no order_id".to_owned()),
        }
    })
}

/// An inbox served on a free port, its database, and its address.
struct Inbox {
    db: TempDb,
    store: AsyncSqliteStore,
    url: String,
}

async fn serve_inbox(options: StoreOptions) -> Inbox {
    serve_inbox_with(options, InboxOptions::default(), ServeOptions::default()).await
}

async fn serve_inbox_with(
    options: StoreOptions,
    inbox: InboxOptions,
    serving: ServeOptions,
) -> Inbox {
    let db = TempDb::new("http-inbox");
    let store = AsyncSqliteStore::open(db.path(), options).await.unwrap();
    sqlx::query("CREATE TABLE shipments (order_id INTEGER, seen TEXT)")
        .execute(store.pool())
        .await
        .unwrap();
    let app = inbox_router_with("/events", store.clone(), ship, inbox);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move {
        serve(listener, app, serving, std::future::pending())
            .await
            .unwrap()
    });
    Inbox { db, store, url }
}

impl Inbox {
    async fn shipments(&self) -> Vec<Option<i64>> {
        sqlx::query_scalar("SELECT order_id FROM shipments ORDER BY rowid")
            .fetch_all(self.store.pool())
            .await
            .unwrap()
    }

    /// What the effect saw of each event it shipped.
    async fn seen(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT seen FROM shipments ORDER BY rowid")
            .fetch_all(self.store.pool())
            .await
            .unwrap()
    }
}

/// `curl -X POST URL -H 'ce-specversion: 1.0' -H 'ce-id: ID' -H 'ce-source:
/// /shop' -H 'ce-type: shop.order.placed' -H 'content-type: application/json'
/// -d DATA`
fn binary(url: &str, id: &str, data: &str) -> RequestBuilder {
    Client::new()
        .post(url)
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/shop")
        .header("ce-type", "shop.order.placed")
        .header("content-type", "application/json")
        .body(data.to_owned())
}

/// `curl -X POST URL -H 'content-type: application/cloudevents+json' -d EVENT`
fn structured(url: &str, event: &Value) -> RequestBuilder {
    Client::new()
        .post(url)
        .header("content-type", "application/cloudevents+json")
        .body(event.to_string())
}

fn structured_event(id: &str, data: Value) -> Value {
    json!({
        "specversion": "1.0", "id": id, "source": "/shop",
        "type": "shop.order.placed", "data": data
    })
}

/// The status, the content type and the body of an answer.
async fn answer(request: RequestBuilder) -> (u16, String, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    (status, content_type, body)
}

#[tokio::test]
async fn first_delivery_is_201_and_a_duplicate_200_in_binary_mode() {
    let inbox = serve_inbox(StoreOptions::default()).await;
    let request = || binary(&inbox.url, "order-1", r#"{"order_id": 1}"#);
    let (status, content_type, body) = answer(request()).await;
    assert_eq!((status, content_type.as_str()), (201, "application/json"));
    assert_eq!(
        body,
        json!({ "id": "order-1", "source": "/shop", "admitted": "processed" })
    );
    let (status, _, body) = answer(request()).await;
    assert_eq!(status, 200);
    assert_eq!(body["admitted"], "duplicate");
    assert_eq!(inbox.shipments().await, [Some(1)]);
}

#[tokio::test]
async fn first_delivery_is_201_and_a_duplicate_200_in_structured_mode() {
    let inbox = serve_inbox(StoreOptions::default()).await;
    let event = structured_event("order-2", json!({ "order_id": 2 }));
    assert_eq!(answer(structured(&inbox.url, &event)).await.0, 201);
    assert_eq!(answer(structured(&inbox.url, &event)).await.0, 200);
    // The same event in the other mode is the same key: a duplicate too.
    assert_eq!(
        answer(binary(&inbox.url, "order-2", r#"{"order_id": 2}"#))
            .await
            .0,
        200
    );
    assert_eq!(inbox.shipments().await, [Some(2)]);
}

#[tokio::test]
async fn an_id_reused_with_another_payload_is_409_in_both_modes() {
    let inbox = serve_inbox(StoreOptions::default()).await;
    assert_eq!(
        answer(binary(&inbox.url, "order-3", r#"{"order_id": 3}"#))
            .await
            .0,
        201
    );
    let (status, content_type, body) =
        answer(binary(&inbox.url, "order-3", r#"{"order_id": 33}"#)).await;
    assert_eq!(
        (status, content_type.as_str()),
        (409, "application/problem+json")
    );
    assert_eq!(body["status"], 409);
    assert_eq!(body["title"], "Event id reused");
    let event = structured_event("order-3", json!({ "order_id": 34 }));
    assert_eq!(answer(structured(&inbox.url, &event)).await.0, 409);
    assert_eq!(inbox.shipments().await, [Some(3)]);
}

#[tokio::test]
async fn a_bad_event_is_400_naming_the_attribute() {
    let inbox = serve_inbox(StoreOptions::default()).await;
    let missing_type = Client::new()
        .post(&inbox.url)
        .header("ce-specversion", "1.0")
        .header("ce-id", "order-4")
        .header("ce-source", "/shop")
        .header("content-type", "application/json")
        .body(r#"{"order_id": 4}"#);
    let bad_json = binary(&inbox.url, "order-4", "{not json");
    let old_version = structured(
        &inbox.url,
        &json!({ "specversion": "0.3", "id": "order-4", "source": "/shop", "type": "t" }),
    );
    let empty_id = structured(&inbox.url, &structured_event("", json!({ "order_id": 4 })));
    for (request, attribute) in [
        (missing_type, "type"),
        (bad_json, "data"),
        (old_version, "specversion"),
        (empty_id, "id"),
    ] {
        let (status, content_type, body) = answer(request).await;
        assert_eq!(
            (status, content_type.as_str()),
            (400, "application/problem+json")
        );
        assert_eq!(body["title"], "Not a valid CloudEvent");
        assert_eq!(body["attribute"], attribute, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains(attribute),
            "{body}"
        );
    }
    assert!(inbox.shipments().await.is_empty());
}

#[tokio::test]
async fn a_busy_database_is_503_with_retry_after_in_both_modes() {
    let options = StoreOptions::default().busy_timeout(Duration::from_millis(100));
    let inbox = serve_inbox(options).await;
    let blocker = rusqlite::Connection::open(inbox.db.path()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let event = structured_event("order-5", json!({ "order_id": 5 }));
    for request in [
        binary(&inbox.url, "order-5", r#"{"order_id": 5}"#),
        structured(&inbox.url, &event),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body["title"], "The store is busy");
    }
    blocker.execute_batch("ROLLBACK").unwrap();
    assert_eq!(answer(structured(&inbox.url, &event)).await.0, 201);
    assert_eq!(inbox.shipments().await, [Some(5)]);
}

#[tokio::test]
async fn a_failed_effect_is_500_and_commits_nothing_in_both_modes() {
    let inbox = serve_inbox(StoreOptions::default()).await;
    let event = structured_event("order-6", json!({ "sku": "no id" }));
    for request in [
        binary(&inbox.url, "order-6", r#"{"sku": "no id"}"#),
        structured(&inbox.url, &event),
    ] {
        let (status, content_type, body) = answer(request).await;
        assert_eq!(
            (status, content_type.as_str()),
            (500, "application/problem+json")
        );
        assert_eq!(body["title"], "The event was not processed");
        assert!(
            !body["detail"].as_str().unwrap().contains("order_id"),
            "{body}"
        );
    }
    // Nothing was committed: no shipment, and no key, so the event is not
    // taken for a duplicate when it comes again.
    assert!(inbox.shipments().await.is_empty());
    assert_eq!(answer(structured(&inbox.url, &event)).await.0, 500);
}

#[tokio::test]
async fn other_methods_and_paths_are_not_the_inbox() {
    let inbox = serve_inbox(StoreOptions::default()).await;
    let client = Client::new();
    assert_eq!(
        client
            .get(&inbox.url)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        405
    );
    let elsewhere = inbox.url.replace("/events", "/other");
    let response = client.post(&elsewhere).body("{}").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test]
async fn a_body_past_the_limit_is_413_naming_the_limit() {
    let inbox = serve_inbox(StoreOptions::default()).await;
    let limit = 2 * 1024 * 1024;
    let padded = format!(r#"{{"order_id": 3, "pad": "{}"}}"#, "x".repeat(limit));
    let (status, content_type, body) = answer(binary(&inbox.url, "order-3", &padded)).await;
    assert_eq!(
        (status, content_type.as_str()),
        (413, "application/problem+json")
    );
    assert_eq!(
        body["detail"],
        format!("the body is larger than the {limit} bytes this inbox reads")
    );
    // A smaller limit, and an event just under it.
    let small = serve_inbox_with(
        StoreOptions::default(),
        InboxOptions::default().limits(ReadLimits::default().body_bytes(64)),
        ServeOptions::default(),
    )
    .await;
    assert_eq!(answer(binary(&small.url, "order-3", &padded)).await.0, 413);
    assert_eq!(
        answer(binary(&small.url, "order-3", r#"{"order_id": 3}"#))
            .await
            .0,
        201
    );
    assert!(inbox.shipments().await.is_empty());
}

#[tokio::test]
async fn an_id_longer_than_a_key_may_be_is_400_and_an_unrelated_header_is_not_judged() {
    let inbox = serve_inbox(StoreOptions::default()).await;
    let long = "k".repeat(MAX_KEY_BYTES + 1);
    let (status, _, body) = answer(binary(&inbox.url, &long, r#"{"order_id": 4}"#)).await;
    assert_eq!((status, body["attribute"].as_str()), (400, Some("id")));
    let with_latin1 = binary(&inbox.url, "order-4", r#"{"order_id": 4}"#).header(
        "x-user",
        iap_transport::http::reqwest::header::HeaderValue::from_bytes(b"Jos\xe9").unwrap(),
    );
    assert_eq!(answer(with_latin1).await.0, 201);
    assert_eq!(inbox.shipments().await, [Some(4)]);
}

/// Connects to the inbox and sends `bytes`, then nothing more.
async fn stalled_client(url: &str, bytes: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches("/events");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// What the server sent before closing the connection, waiting at most `limit`.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut answer))
        .await
        .expect("the server kept the connection open")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn clients_stuck_mid_headers_or_mid_body_are_cut_off() {
    let inbox = serve_inbox_with(
        StoreOptions::default(),
        InboxOptions::default().body_read_timeout(Duration::from_millis(300)),
        ServeOptions::default().header_read_timeout(Duration::from_millis(300)),
    )
    .await;
    let mut mid_headers = Vec::new();
    let mut mid_body = Vec::new();
    for _ in 0..50 {
        mid_headers.push(
            stalled_client(
                &inbox.url,
                b"POST /events HTTP/1.1\r\nhost: x\r\nce-id: 1\r\n",
            )
            .await,
        );
        mid_body.push(
            stalled_client(
                &inbox.url,
                b"POST /events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                  content-length: 100\r\n\r\n{\"order_id\"",
            )
            .await,
        );
    }
    for stream in &mut mid_headers {
        read_until_closed(stream, Duration::from_secs(5)).await;
    }
    for stream in &mut mid_body {
        let answer = read_until_closed(stream, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("did not arrive within 300ms"), "{answer}");
    }
    // The inbox still serves a client that sends its request whole.
    assert_eq!(
        answer(binary(&inbox.url, "order-5", r#"{"order_id": 5}"#))
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn a_stopped_server_finishes_the_request_in_progress_and_refuses_new_ones() {
    let db = TempDb::new("http-inbox-stop");
    let store = AsyncSqliteStore::open(db.path(), StoreOptions::default())
        .await
        .unwrap();
    sqlx::query("CREATE TABLE shipments (order_id INTEGER, seen TEXT)")
        .execute(store.pool())
        .await
        .unwrap();
    let app = inbox_router_with("/events", store.clone(), ship, InboxOptions::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let url = format!("http://{address}/events");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(serve(listener, app, ServeOptions::default(), async {
        let _ = stopped.await;
    }));
    // A request whose body is still on its way when the server is stopped.
    let mut slow = stalled_client(
        &url,
        b"POST /events HTTP/1.1\r\nhost: x\r\nce-specversion: 1.0\r\nce-id: order-6\r\n\
          ce-source: /shop\r\nce-type: shop.order.placed\r\ncontent-type: application/json\r\n\
          content-length: 15\r\nconnection: close\r\n\r\n{\"order_id\"",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "a stopped server accepts no new client"
    );
    {
        use tokio::io::AsyncWriteExt;
        slow.write_all(b": 6}").await.unwrap();
    }
    let answer = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("the server returned once its requests were done")
        .unwrap()
        .unwrap();
    let shipped: Vec<Option<i64>> = sqlx::query_scalar("SELECT order_id FROM shipments")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(shipped, [Some(6)]);
}

#[tokio::test]
async fn the_effect_sees_the_event_s_attributes_in_both_modes() {
    let inbox = serve_inbox(StoreOptions::default()).await;
    let request = binary(&inbox.url, "order-8", r#"{"order_id": 8}"#)
        .header("ce-subject", "order/8")
        .header("ce-time", "2026-03-01T10:00:00+02:00")
        .header("ce-tenant", "acme");
    assert_eq!(answer(request).await.0, 201);
    let mut event = structured_event("order-9", json!({ "order_id": 9 }));
    event["type"] = json!("shop.order.amended");
    event["time"] = json!("2026-03-01T09:00:00-05:00");
    assert_eq!(answer(structured(&inbox.url, &event)).await.0, 201);
    assert_eq!(
        inbox.seen().await,
        [
            r#"order-8 shop.order.placed Some("order/8") Some("2026-03-01T10:00:00+02:00") Some("acme")"#,
            "order-9 shop.order.amended None Some(\"2026-03-01T09:00:00-05:00\") None",
        ]
    );
}

#[tokio::test]
async fn the_same_event_with_typed_extensions_is_a_duplicate_in_the_other_mode() {
    let inbox = serve_inbox(StoreOptions::default()).await;
    let mut event = structured_event("order-7", json!({ "order_id": 7 }));
    event["count"] = json!(5);
    event["urgent"] = json!(true);
    assert_eq!(answer(structured(&inbox.url, &event)).await.0, 201);
    // Binary mode carries the extensions as text: the same event.
    let again = binary(&inbox.url, "order-7", r#"{"order_id": 7}"#)
        .header("ce-count", "5")
        .header("ce-urgent", "true");
    assert_eq!(answer(again).await.0, 200);
    let other = binary(&inbox.url, "order-7", r#"{"order_id": 7}"#)
        .header("ce-count", "6")
        .header("ce-urgent", "true");
    assert_eq!(answer(other).await.0, 409);
    assert_eq!(inbox.shipments().await, [Some(7)]);
}

#[tokio::test]
async fn a_refusal_quotes_no_more_than_a_kilobyte_of_what_was_sent() {
    let inbox = serve_inbox(StoreOptions::default()).await;
    let mut event = structured_event("order-8", json!({ "order_id": 8 }));
    event["subject"] = json!({ "huge": "x".repeat(100_000) });
    let (status, _, body) = answer(structured(&inbox.url, &event)).await;
    assert_eq!((status, body["attribute"].as_str()), (400, Some("subject")));
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.len() < 1_100, "{} bytes", detail.len());
    assert!(detail.ends_with("bytes in all)"), "{detail}");
}
