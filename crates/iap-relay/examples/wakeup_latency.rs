//! How long an enqueued envelope waits before a waiting relay sends it:
//! from the return of the enqueue's commit to the relay's send, over
//! envelopes enqueued one at a time, 10 ms apart, by a producer with a pool
//! of its own. Part of `scripts/bench-relay.sh`.
//!
//! `cargo run --release --features async-sqlite,async-postgres --example
//! wakeup_latency -- BACKEND WAKEUPS ENVELOPES`, BACKEND `sqlite` or
//! `postgres` (the server named by `IAP_POSTGRES_URL`, in a schema of its
//! own), WAKEUPS `notify` or `poll`. The relay polls every second (the
//! default `idle_poll`), so with `poll` each envelope waits up to a second.
//! Prints p50, p99 and the largest wait in milliseconds.

use std::error::Error;
use std::time::{Duration, Instant};

use chrono::Utc;
use iap_relay::Relay;
use iap_store::postgres::AsyncPostgresStore;
use iap_store::sqlite::AsyncSqliteStore;
use iap_store::sqlx::postgres::PgConnectOptions;
use iap_store::{AsyncDeliveryStore, Delivery, StoreOptions, WakeupMode};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::state::{Dispatched, Pending};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const PAUSE: Duration = Duration::from_millis(10);

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [backend, wakeups, envelopes] = args.as_slice() else {
        return Err("usage: wakeup_latency sqlite|postgres notify|poll ENVELOPES".into());
    };
    let envelopes: u32 = envelopes.parse()?;
    let options = StoreOptions::default().wakeups(match wakeups.as_str() {
        "notify" => WakeupMode::Notify,
        "poll" => WakeupMode::Poll,
        other => return Err(format!("unknown wakeups {other:?}: notify or poll").into()),
    });
    let mut waits = match backend.as_str() {
        "sqlite" => {
            let path = std::env::temp_dir().join(format!("iap-wakeup-{}.db", std::process::id()));
            let store = AsyncSqliteStore::open(&path, options).await?;
            let waits = measure(store.clone(), store, envelopes).await;
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
            waits?
        }
        "postgres" => {
            let url = std::env::var("IAP_POSTGRES_URL")
                .map_err(|_| "set IAP_POSTGRES_URL to the server to measure")?;
            let schema = "iap_wakeup_latency";
            let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            admin
                .batch_execute(&format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
                ))
                .await?;
            let connect = pg_options(&url, schema)?;
            let relay_store = AsyncPostgresStore::connect_with(connect.clone(), options).await?;
            relay_store.migrate().await?;
            let producer = AsyncPostgresStore::connect_with(connect, options).await?;
            measure(relay_store, producer, envelopes).await?
        }
        other => return Err(format!("unknown backend {other:?}: sqlite or postgres").into()),
    };
    waits.sort();
    let at = |quantile: f64| {
        let index = ((waits.len() as f64 * quantile).ceil() as usize).clamp(1, waits.len()) - 1;
        waits[index].as_secs_f64() * 1000.0
    };
    println!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.50),
        at(0.99),
        at(1.0)
    );
    Ok(())
}

/// The wait of each envelope, from the return of its enqueue's commit to
/// its send.
async fn measure<S: AsyncDeliveryStore>(
    store: S,
    producer: S,
    envelopes: u32,
) -> Result<Vec<Duration>, Box<dyn Error>> {
    let (sent, mut sends) = mpsc::unbounded_channel::<(u32, Instant)>();
    let relay = Relay::new(store, move |envelope: &Envelope<Dispatched, Value>| {
        let n = envelope.payload()["n"].as_u64().unwrap_or(0) as u32;
        let _ = sent.send((n, Instant::now()));
        async { Ok(Delivery::Processed) }
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut waits = Vec::with_capacity(envelopes as usize);
    for n in 0..envelopes {
        let mut tx = producer.begin().await?;
        S::enqueue(&mut tx, &event(n), Utc::now()).await?;
        S::commit(tx).await?;
        let committed = Instant::now();
        let (sent_n, at) = sends.recv().await.ok_or("the relay stopped")?;
        if sent_n != n {
            return Err(format!("sent {sent_n} while waiting for {n}").into());
        }
        waits.push(at.saturating_duration_since(committed));
        tokio::time::sleep(PAUSE).await;
    }
    let _ = stop.send(());
    running.await??;
    Ok(waits)
}

fn event(n: u32) -> Envelope<Pending> {
    Envelope::builder()
        .event_id(format!("order-{n}"))
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "n": n }))
        .build()
        .expect("every attribute of a benchmark envelope is valid")
}

/// sqlx's options for the schema `schema` on the server `url` names
/// (`host=... port=... user=... dbname=...`).
fn pg_options(url: &str, schema: &str) -> Result<PgConnectOptions, Box<dyn Error>> {
    let mut options = PgConnectOptions::new().options([("search_path", schema)]);
    for (key, value) in url
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
    {
        options = match key {
            "host" => options.host(value),
            "port" => options.port(value.parse()?),
            "user" => options.username(value),
            "password" => options.password(value),
            "dbname" => options.database(value),
            _ => options,
        };
    }
    Ok(options)
}
