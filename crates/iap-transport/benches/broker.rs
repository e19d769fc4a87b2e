//! Events per second end to end, from an SQLite outbox to an SQLite inbox
//! (every commit durable), through NATS JetStream (the relay publishes, a
//! durable consumer admits) and through HTTP (the relay POSTs, the axum inbox
//! admits), with 1 and 4 relay tasks; beside the database alone (the same
//! relays with a sender that succeeds at once, nothing received), in the same
//! run. 5,000 events a round, median of 3 rounds; the clock runs from the
//! relays' start until the last shipment is committed.
//!
//! `bash scripts/nats.sh cargo bench -p iap-transport --features nats,http-receive,http-send --bench broker`

use iap_test_support::warehouse;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use iap_relay::{Relay, Sender};
use iap_store::sqlite::AsyncSqliteStore;
use iap_store::{AsyncDeliveryStore, Delivery, SendError, StoreOptions};
use iap_transport::http::{HttpSender, axum, inbox_router};
use iap_transport::nats::{NatsConsumer, NatsSender, async_nats};
use integration_automation_patterns::state::Dispatched;
use integration_automation_patterns::{DeliveryStatus, Envelope};
use serde_json::{Value, json};
use warehouse::{ScratchDir, create_shipments, ship, shipments};

const EVENTS: i64 = 5_000;
const ROUNDS: usize = 3;

#[derive(Clone, Copy, Debug)]
enum Transport {
    DatabaseOnly,
    Nats,
    Http,
}

#[tokio::main]
async fn main() {
    let Ok(nats_url) = std::env::var("NATS_URL") else {
        eprintln!("NATS_URL is not set: run this bench through scripts/nats.sh");
        std::process::exit(2);
    };
    println!("| transport | 1 relay task | 4 relay tasks |");
    println!("|---|---|---|");
    for transport in [Transport::DatabaseOnly, Transport::Nats, Transport::Http] {
        let mut row = format!("| {transport:?} |");
        for relays in [1, 4] {
            let mut rates: Vec<f64> = Vec::new();
            for round in 0..ROUNDS {
                rates.push(measure(transport, relays, &nats_url, round).await);
            }
            rates.sort_by(f64::total_cmp);
            row.push_str(&format!(" {:.0}/s |", rates[ROUNDS / 2]));
        }
        println!("{row}");
    }
}

/// One round: fills an outbox, starts the receiving side and `relays` relay
/// tasks, and times the drain; events a second.
async fn measure(transport: Transport, relays: usize, nats_url: &str, round: usize) -> f64 {
    let dir = ScratchDir::new(&format!("broker-bench-{relays}-{round}"));
    let shop = fill(&dir.path().join("shop.db")).await;
    let warehouse =
        AsyncSqliteStore::open(dir.path().join("warehouse.db"), StoreOptions::default())
            .await
            .unwrap();
    create_shipments(&warehouse).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let started;
    let mut receiving = Vec::new();
    let relaying = match transport {
        Transport::DatabaseOnly => {
            let sender =
                |_: &Envelope<Dispatched, Value>| async { Ok::<_, SendError>(Delivery::Processed) };
            started = Instant::now();
            start_relays(&shop, sender, relays, &shutdown)
        }
        Transport::Nats => {
            let client = async_nats::connect(nats_url).await.unwrap();
            let jetstream = async_nats::jetstream::new(client);
            let name = format!("broker_bench_{}_{relays}_{round}", std::process::id());
            let stream = jetstream
                .create_stream(async_nats::jetstream::stream::Config {
                    name: name.clone(),
                    subjects: vec![format!("{name}.>")],
                    ..Default::default()
                })
                .await
                .unwrap();
            let pull = stream
                .create_consumer(async_nats::jetstream::consumer::pull::Config {
                    durable_name: Some("warehouse".into()),
                    ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
                    ..Default::default()
                })
                .await
                .unwrap();
            let consumer = NatsConsumer::new(pull, warehouse.clone());
            receiving.push(tokio::spawn({
                let shutdown = shutdown();
                async move {
                    consumer
                        .run(ship, |rejected| panic!("{rejected:?}"), shutdown)
                        .await
                        .unwrap();
                }
            }));
            let sender = NatsSender::new(jetstream, &format!("{name}.orders")).unwrap();
            started = Instant::now();
            start_relays(&shop, sender, relays, &shutdown)
        }
        Transport::Http => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/events", listener.local_addr().unwrap());
            let app = inbox_router("/events", warehouse.clone(), ship);
            let serving = shutdown();
            receiving.push(tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(serving)
                    .await
                    .unwrap();
            }));
            started = Instant::now();
            start_relays(&shop, HttpSender::new(&url).unwrap(), relays, &shutdown)
        }
    };
    loop {
        let done = match transport {
            Transport::DatabaseOnly => delivered(&shop).await,
            Transport::Nats | Transport::Http => shipments(&warehouse).await.1,
        };
        if done >= EVENTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    stop.send(true).unwrap();
    for task in relaying {
        task.await.unwrap();
    }
    for task in receiving {
        task.await.unwrap();
    }
    if matches!(transport, Transport::Nats | Transport::Http) {
        assert_eq!(
            shipments(&warehouse).await.0,
            EVENTS,
            "an event was shipped twice"
        );
    }
    EVENTS as f64 / elapsed.as_secs_f64()
}

fn start_relays<D, F, Fut>(
    shop: &AsyncSqliteStore,
    sender: D,
    relays: usize,
    shutdown: &F,
) -> Vec<tokio::task::JoinHandle<()>>
where
    D: Sender<Value> + Clone,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    (0..relays)
        .map(|_| {
            let relay = Relay::new(shop.clone(), sender.clone());
            let shutdown = shutdown();
            tokio::spawn(async move {
                relay.run::<Value>(shutdown).await.unwrap();
            })
        })
        .collect()
}

/// An outbox holding `EVENTS` pending events, 500 a commit.
async fn fill(path: &Path) -> AsyncSqliteStore {
    let shop = AsyncSqliteStore::open(path, StoreOptions::default())
        .await
        .unwrap();
    for chunk in 0..EVENTS / 500 {
        let mut tx = shop.begin().await.unwrap();
        for order_id in chunk * 500..(chunk + 1) * 500 {
            let event = Envelope::builder()
                .event_id(format!("order-{order_id}-placed"))
                .event_type("shop.order.placed")
                .source_system("shop")
                .payload(json!({ "order_id": order_id }))
                .build()
                .unwrap();
            AsyncSqliteStore::enqueue_in(&mut tx, &event, Utc::now())
                .await
                .unwrap();
        }
        AsyncSqliteStore::commit(tx).await.unwrap();
    }
    shop
}

async fn delivered(shop: &AsyncSqliteStore) -> i64 {
    let counts = shop.counts().await.unwrap();
    [DeliveryStatus::Processed, DeliveryStatus::Acknowledged]
        .iter()
        .map(|status| counts.outbox.get(status).copied().unwrap_or(0) as i64)
        .sum()
}
