//! Orders from a shop to a warehouse, end to end through real transports:
//! each order is placed with its event in one transaction of the shop's
//! outbox, an async relay sends the events, and the warehouse admits each
//! through its inbox into one shipment. Twice: through NATS JetStream (the
//! relay publishes, a durable consumer admits), and through HTTP (the relay
//! POSTs, an axum inbox admits).
//!
//! It prints a tally and the throughput of each leg, and exits non-zero if an
//! order is not shipped exactly once or an event is not delivered.
//!
//! ```sh
//! bash scripts/nats.sh cargo run --release --features async-sqlite,nats,axum --example broker_pipeline
//! ```
//!
//! `scripts/nats.sh` starts a throw-away nats-server with JetStream and sets
//! `NATS_URL`; with a server of your own, set `NATS_URL` yourself. An argument
//! sets the number of orders (default 10,000).

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::Utc;
use iap_relay::{Relay, RelayWaker, Sender};
use iap_store::sqlite::AsyncSqliteStore;
use iap_store::sqlx::{self, Sqlite, Transaction};
use iap_store::{AsyncDeliveryStore, BoxFuture, StoreOptions};
use iap_transport::http::{HttpSender, ServeOptions, inbox_router, serve};
use iap_transport::nats::{NatsConsumer, NatsSender, async_nats};
use integration_automation_patterns::state::Dispatched;
use integration_automation_patterns::{DeliveryStatus, Envelope};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// How long a leg may take before the run counts as broken.
const LEG_DEADLINE: Duration = Duration::from_secs(300);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("an invariant is broken: see the tally above");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("broker_pipeline: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool, Box<dyn Error>> {
    let orders: u32 = match std::env::args().nth(1) {
        Some(count) => count.parse()?,
        None => 10_000,
    };
    let nats_url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let dir = ScratchDir::new()?;
    println!("{orders} orders from the shop to the warehouse");

    let client = async_nats::connect(&nats_url).await.map_err(|error| {
        format!("cannot connect to NATS at {nats_url} ({error}); start one with scripts/nats.sh")
    })?;
    let jetstream = async_nats::jetstream::new(client);
    let name = format!("broker_pipeline_{}", std::process::id());
    let stream = jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![format!("{name}.>")],
            ..Default::default()
        })
        .await?;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("warehouse".into()),
            ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await?;
    let sender = NatsSender::new(jetstream.clone(), &format!("{name}.orders"))?;
    let nats = {
        let warehouse = Warehouse::open(&dir.path().join("warehouse-nats.db")).await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let consuming = tokio::spawn(NatsConsumer::new(consumer, warehouse.store.clone()).run(
            ship,
            |rejected| eprintln!("rejected: {rejected:?}"),
            async {
                let _ = stopped.await;
            },
        ));
        let tally = leg(&dir.path().join("shop-nats.db"), orders, sender, &warehouse).await?;
        let _ = stop.send(());
        let report = consuming.await??;
        println!(
            "  the consumer admitted {}, answered {} redeliveries as duplicates",
            report.admitted, report.duplicates
        );
        tally
    };
    jetstream.delete_stream(&name).await?;
    let nats_ok = nats.report("NATS JetStream", orders);

    let http = {
        let warehouse = Warehouse::open(&dir.path().join("warehouse-http.db")).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/events", listener.local_addr()?);
        let app = inbox_router("/events", warehouse.store.clone(), ship);
        let serving = tokio::spawn(serve(
            listener,
            app,
            ServeOptions::default(),
            std::future::pending(),
        ));
        let tally = leg(
            &dir.path().join("shop-http.db"),
            orders,
            HttpSender::new(&url)?,
            &warehouse,
        )
        .await?;
        serving.abort();
        tally
    };
    let http_ok = http.report("HTTP", orders);
    Ok(nats_ok && http_ok)
}

/// What one leg did.
struct Tally {
    delivered: u64,
    dead_letters: u64,
    shipments: i64,
    orders_shipped: i64,
    elapsed: Duration,
}

impl Tally {
    /// Prints the tally; whether every order was delivered and shipped once.
    fn report(&self, transport: &str, orders: u32) -> bool {
        let rate = f64::from(orders) / self.elapsed.as_secs_f64();
        println!(
            "{transport}: {orders} placed, {} delivered, {} dead letters, {} shipments for {} orders in {:.2} s ({rate:.0} orders/s end to end)",
            self.delivered,
            self.dead_letters,
            self.shipments,
            self.orders_shipped,
            self.elapsed.as_secs_f64(),
        );
        let orders = i64::from(orders);
        self.delivered == orders as u64
            && self.dead_letters == 0
            && self.shipments == orders
            && self.orders_shipped == orders
    }
}

/// Places `orders` orders in the shop's outbox while a relay sends them
/// with `sender`, until the warehouse has shipped them all (or the deadline
/// passes); then stops the relay and counts.
async fn leg<D: Sender<Value>>(
    shop_path: &Path,
    orders: u32,
    sender: D,
    warehouse: &Warehouse,
) -> Result<Tally, Box<dyn Error>> {
    let shop = AsyncSqliteStore::open(shop_path, StoreOptions::default()).await?;
    sqlx::query("CREATE TABLE orders (id INTEGER PRIMARY KEY, total_cents INTEGER NOT NULL)")
        .execute(shop.pool())
        .await?;
    let started = Instant::now();
    let relay = Relay::new(shop.clone(), sender);
    let waker = relay.waker();
    let (stop, stopped) = oneshot::channel::<()>();
    let relaying = tokio::spawn(relay.run::<Value>(async {
        let _ = stopped.await;
    }));
    place_orders(&shop, orders, &waker).await?;
    while warehouse.shipments().await?.0 < i64::from(orders) && started.elapsed() < LEG_DEADLINE {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let _ = stop.send(());
    relaying.await??;
    let counts = shop.counts().await?;
    let count = |status| counts.outbox.get(&status).copied().unwrap_or(0);
    let (shipments, orders_shipped) = warehouse.shipments().await?;
    Ok(Tally {
        delivered: count(DeliveryStatus::Processed) + count(DeliveryStatus::Acknowledged),
        dead_letters: count(DeliveryStatus::Failed),
        shipments,
        orders_shipped,
        elapsed,
    })
}

/// Each order and its event in one transaction: both or neither.
async fn place_orders(
    shop: &AsyncSqliteStore,
    orders: u32,
    waker: &RelayWaker,
) -> Result<(), Box<dyn Error>> {
    for order_id in 0..orders {
        let total_cents = 1_000 + i64::from(order_id % 97) * 10;
        let mut tx = shop.begin().await?;
        sqlx::query("INSERT INTO orders (id, total_cents) VALUES (?, ?)")
            .bind(order_id)
            .bind(total_cents)
            .execute(&mut *tx)
            .await?;
        let event = Envelope::builder()
            .event_id(format!("order-{order_id}-placed"))
            .event_type("shop.order.placed")
            .source_system("shop")
            .payload(json!({ "order_id": order_id, "total_cents": total_cents }))
            .build()?;
        AsyncSqliteStore::enqueue_in(&mut tx, &event, Utc::now()).await?;
        AsyncSqliteStore::commit(tx).await?;
        waker.wake();
    }
    Ok(())
}

/// The warehouse's inbox, and the shipments its effect writes.
struct Warehouse {
    store: AsyncSqliteStore,
}

impl Warehouse {
    async fn open(path: &Path) -> Result<Warehouse, Box<dyn Error>> {
        let store = AsyncSqliteStore::open(path, StoreOptions::default()).await?;
        sqlx::query("CREATE TABLE shipments (order_id INTEGER NOT NULL)")
            .execute(store.pool())
            .await?;
        Ok(Warehouse { store })
    }

    /// Shipments written, and the distinct orders they ship.
    async fn shipments(&self) -> Result<(i64, i64), sqlx::Error> {
        sqlx::query_as("SELECT count(*), count(DISTINCT order_id) FROM shipments")
            .fetch_one(self.store.pool())
            .await
    }
}

/// The warehouse's effect: one shipment for the order, in the admitting
/// transaction.
fn ship<'t>(
    tx: &'t mut Transaction<'static, Sqlite>,
    order: &'t Envelope<Dispatched, Value>,
) -> BoxFuture<'t, Result<(), sqlx::Error>> {
    let order_id = order.payload()["order_id"].as_i64();
    Box::pin(async move {
        sqlx::query("INSERT INTO shipments (order_id) VALUES (?)")
            .bind(order_id)
            .execute(&mut **tx)
            .await
            .map(|_| ())
    })
}

/// A directory for the run's databases, removed at the end.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> std::io::Result<ScratchDir> {
        let path = std::env::temp_dir().join(format!("broker-pipeline-{}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(ScratchDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
