//! Fills an SQLite store with many dead letters, to time the operator's
//! commands on a large store:
//!
//! ```sh
//! cargo run --release -p iap-cli --example many_dead_letters -- big.db 100000
//! time iap --store sqlite:big.db dead-letters --limit 5
//! ```
//!
//! Envelopes are enqueued and failed for good in rounds of 10,000, each round
//! a second later than the one before; every other envelope is of type
//! `commerce.order.cancelled` (the others `commerce.order.placed`), and
//! every third comes from `billing` (the others from `webshop`).

use std::error::Error;

use chrono::{TimeDelta, Utc};
use iap_store::sqlite::SqliteStore;
use iap_store::{DeliveryStore, Durability, SendError, StoreOptions};
use integration_automation_patterns::Envelope;
use serde_json::{Value, json};

/// How many envelopes one round enqueues and fails.
const ROUND: usize = 10_000;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: many_dead_letters PATH [COUNT]")?;
    let count: usize = match args.next() {
        Some(count) => count.parse()?,
        None => 100_000,
    };
    let options = StoreOptions::default().durability(Durability::Normal);
    let mut store = SqliteStore::open_with(&path, options)?;
    let start = Utc::now() - TimeDelta::hours(1);
    let mut made = 0;
    let mut round = 0;
    while made < count {
        let now = start + TimeDelta::seconds(round);
        let this_round = ROUND.min(count - made);
        let envelopes = (made..made + this_round)
            .map(|n| {
                Envelope::builder()
                    .event_id(format!("order-{n}"))
                    .event_type(if n.is_multiple_of(2) {
                        "commerce.order.placed"
                    } else {
                        "commerce.order.cancelled"
                    })
                    .source_system(if n.is_multiple_of(3) { "billing" } else { "webshop" })
                    .payload(json!({
                        "order_id": n,
                        "customer": { "id": n % 977, "name": "Ada Lovelace", "tier": "gold" },
                        "lines": [
                            { "sku": "SKU-1042", "quantity": 2, "unit_price": "19.90" },
                            { "sku": "SKU-2077", "quantity": 1, "unit_price": "249.00" },
                        ],
                        "shipping": { "street": "12 Analytical Lane", "city": "London", "zip": "N1 9GU" },
                    }))
                    .created_at(now)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        store.write(|tx| {
            for envelope in &envelopes {
                SqliteStore::enqueue(tx, envelope, now)?;
            }
            Ok::<_, iap_store::StoreError>(())
        })?;
        store.run_once_batched(now, this_round, |_: &Envelope<_, Value>| {
            Err(SendError::Permanent {
                reason: "422: unknown SKU".into(),
            })
        })?;
        made += this_round;
        round += 1;
    }
    println!("{made} dead letters in {path}");
    Ok(())
}
