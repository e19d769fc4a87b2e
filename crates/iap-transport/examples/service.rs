//! A whole service on one SQLite file:
//!
//! - `POST /orders` takes an order as JSON and writes the order row and its
//!   `commerce.order.placed` event in one transaction: both or neither;
//! - the relay delivers the outbox's events with `HttpSender`, retrying
//!   what fails, to `IAP_DOWNSTREAM` (by default the service's own inbox, so
//!   that it runs alone);
//! - `POST /events` is a CloudEvents inbox whose effect routes on the event
//!   type: an order placed books a shipment, a CRM contact created or
//!   updated is written to `contacts` (its data as sent), each once however
//!   often it arrives;
//! - ctrl-c (SIGINT) stops the relay (sends in flight finish, claims not
//!   yet sent are given back), then the server (requests in progress finish).
//!
//! ```sh
//! cargo run -p iap-transport --features http-receive,http-send --example service
//! curl -X POST localhost:3000/orders -H 'content-type: application/json' \
//!     -d '{"customer": "acme", "total_cents": 1990}'
//! curl -X POST localhost:3000/events -H 'ce-specversion: 1.0' -H 'ce-id: c-1' \
//!     -H 'ce-source: /crm' -H 'ce-type: crm.contact.created' \
//!     -H 'content-type: application/json' -d '{"contact_id": 7, "name": "Ada"}'
//! cargo install --path crates/iap-cli --locked && iap --store sqlite:service.db status
//! ```
//!
//! Set with `IAP_SERVICE_ADDR` (default `127.0.0.1:3000`), `IAP_SERVICE_DB`
//! (default `service.db`) and `IAP_DOWNSTREAM`. It prints the address it
//! listens on, and on stopping what the relay did.

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use iap_relay::Relay;
use iap_store::sqlite::AsyncSqliteStore;
use iap_store::sqlx::{self, Sqlite, Transaction};
use iap_store::{AsyncDeliveryStore, BoxFuture, StoreError, StoreOptions};
use iap_transport::http::axum::extract::State;
use iap_transport::http::axum::http::StatusCode;
use iap_transport::http::axum::routing::post;
use iap_transport::http::axum::{Json, Router};
use iap_transport::http::{HttpSender, Problem, ServeOptions, inbox_router, serve};
use integration_automation_patterns::state::Dispatched;
use integration_automation_patterns::{Envelope, chrono::Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The business tables, beside the store's own.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS orders (
        id INTEGER PRIMARY KEY AUTOINCREMENT, customer TEXT NOT NULL, total_cents INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS shipments (
        order_id INTEGER NOT NULL, event_id TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS contacts (
        id INTEGER PRIMARY KEY, data TEXT NOT NULL, last_event TEXT NOT NULL);";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let address = env_or("IAP_SERVICE_ADDR", "127.0.0.1:3000");
    let store = AsyncSqliteStore::open(
        env_or("IAP_SERVICE_DB", "service.db"),
        StoreOptions::default(),
    )
    .await?;
    sqlx::raw_sql(SCHEMA).execute(store.pool()).await?;

    let listener = tokio::net::TcpListener::bind(&address).await?;
    let own_inbox = format!("http://{}/events", listener.local_addr()?);
    let downstream = env_or("IAP_DOWNSTREAM", &own_inbox);
    // ctrl-c is heard from its first poll on: polled here, before the
    // service says it listens, a ctrl-c sent at once stops it like any other.
    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    if let Poll::Ready(signal) = poll_once(interrupted.as_mut()).await {
        signal?;
        return Ok(());
    }
    println!("listening on http://{}", listener.local_addr()?);

    let app = Router::new()
        .route("/orders", post(place_order))
        .with_state(store.clone())
        .merge(inbox_router("/events", store.clone(), apply));
    let (stop_serving, serving_stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, app, ServeOptions::default(), async {
        let _ = serving_stopped.await;
    }));
    let (stop_relaying, relaying_stopped) = oneshot::channel::<()>();
    let relay = Relay::new(store, HttpSender::new(&downstream)?);
    let mut relay = tokio::spawn(relay.run::<Value>(async {
        let _ = relaying_stopped.await;
    }));

    // Until ctrl-c, or until the relay stops on an error of its store: a
    // service whose events no longer leave must not go on taking orders.
    let report = tokio::select! {
        stopped = &mut relay => stopped??,
        signal = &mut interrupted => {
            signal?;
            println!("stopping");
            let _ = stop_relaying.send(());
            relay.await??
        }
    };
    let _ = stop_serving.send(());
    server.await??;
    let sent = report.sent;
    println!(
        "stopped: {} delivered, {} to retry, {} dead letters, {} given back unsent",
        sent.delivered, sent.retried, sent.dead_lettered, report.released
    );
    Ok(())
}

/// Polls `future` once, without waiting for it.
async fn poll_once<F: Future + Unpin>(mut future: F) -> Poll<F::Output> {
    std::future::poll_fn(|context| Poll::Ready(Pin::new(&mut future).poll(context))).await
}

/// An order as the client sends it.
#[derive(Deserialize)]
struct NewOrder {
    customer: String,
    total_cents: i64,
}

/// Writes the order and its event in one transaction, and answers `201`
/// with the order's id; a store error is answered as a problem (`503` with
/// `Retry-After` for a busy database, say).
async fn place_order(
    State(store): State<AsyncSqliteStore>,
    Json(order): Json<NewOrder>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let mut tx = store.begin().await?;
    let (id,): (i64,) =
        sqlx::query_as("INSERT INTO orders (customer, total_cents) VALUES (?, ?) RETURNING id")
            .bind(&order.customer)
            .bind(order.total_cents)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
    let event = Envelope::builder()
        .event_id(format!("order-{id}-placed"))
        .event_type("commerce.order.placed")
        .source_system("/shop")
        .payload(
            json!({ "order_id": id, "customer": order.customer, "total_cents": order.total_cents }),
        )
        .build()?;
    AsyncSqliteStore::enqueue(&mut tx, &event, Utc::now()).await?;
    AsyncSqliteStore::commit(tx).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// The inbox's effect, in the admitting transaction: routed on the event's
/// type, with the event's id kept beside what it writes. A type it does not
/// know, or a contact event without its id, fails (the sender is told `500`
/// and may send it again later).
fn apply<'t>(
    tx: &'t mut Transaction<'static, Sqlite>,
    event: &'t Envelope<Dispatched, Value>,
) -> BoxFuture<'t, Result<(), String>> {
    let data = event.payload();
    let event_id = event.event_id().to_owned();
    let contact_id = data["contact_id"].as_i64();
    let statement = match (event.event_type(), contact_id) {
        ("commerce.order.placed", _) => {
            sqlx::query("INSERT INTO shipments (order_id, event_id) VALUES (?, ?)")
                .bind(data["order_id"].as_i64())
                .bind(event_id)
        }
        ("crm.contact.created" | "crm.contact.updated", Some(contact_id)) => sqlx::query(
            "INSERT INTO contacts (id, data, last_event) VALUES (?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, last_event = excluded.last_event",
        )
        .bind(contact_id)
        .bind(data.to_string())
        .bind(event_id),
        ("crm.contact.created" | "crm.contact.updated", None) => {
            return Box::pin(async { Err("the contact event has no contact_id".to_owned()) });
        }
        (other, _) => {
            let error = format!("no handler for events of type {other}");
            return Box::pin(async move { Err(error) });
        }
    };
    Box::pin(async move {
        statement
            .execute(&mut **tx)
            .await
            .map(|_| ())
            .map_err(|error| error.to_string())
    })
}

/// The environment variable `name`, or `default`.
fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}
