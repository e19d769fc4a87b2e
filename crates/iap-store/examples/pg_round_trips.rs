//! Drains 1,000 trivial envelopes from PostgreSQL with the blocking relay,
//! 50 a claim, recording each outcome on its own (`single`) or a pass at a
//! time (`batched`), between two markers on standard error, so that
//! `scripts/count-round-trips.sh` can count, under strace, what the client
//! sends to the server for the drain alone.
//!
//! `IAP_POSTGRES_URL='host=... user=... dbname=...' cargo run --release --features postgres --example pg_round_trips -- batched`

use chrono::Utc;
use iap_store::postgres::PostgresStore;
use iap_store::postgres::postgres::{Client, NoTls};
use iap_store::{Delivery, DeliveryStore, SendError, StoreError};
use integration_automation_patterns::Envelope;
use serde_json::{Value, json};

const ENVELOPES: usize = 1_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let batched = match std::env::args().nth(1).as_deref() {
        Some("single") => false,
        Some("batched") => true,
        _ => return Err("say `single` or `batched`".into()),
    };
    let url = std::env::var("IAP_POSTGRES_URL")?;
    let schema = format!("iap_round_trips_{}", std::process::id());
    let mut admin = Client::connect(&url, NoTls)?;
    admin.batch_execute(&format!("CREATE SCHEMA {schema}"))?;
    let mut store = PostgresStore::connect(
        &format!("{url} options='-c search_path={schema}'"),
        Default::default(),
    )?;
    store.migrate()?;
    store.write(|tx| {
        for n in 0..ENVELOPES {
            let envelope = Envelope::builder()
                .event_id(format!("order-{n}"))
                .event_type("shop.order.placed")
                .source_system("shop")
                .payload(json!({ "order_id": n }))
                .build()?;
            PostgresStore::enqueue(tx, &envelope, Utc::now())?;
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    let send = |_: &Envelope<_, Value>| Ok::<_, SendError>(Delivery::Processed);
    eprintln!("DRAIN START");
    let mut delivered = 0;
    while delivered < ENVELOPES {
        let pass: Result<_, StoreError> = if batched {
            store.run_once_batched(Utc::now(), 50, send)
        } else {
            store.run_once(Utc::now(), 50, send)
        };
        delivered += pass?.delivered;
    }
    eprintln!("DRAIN END");
    drop(store);
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))?;
    Ok(())
}
