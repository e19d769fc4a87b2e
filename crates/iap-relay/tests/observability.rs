//! What an operator sees: with the features `tracing` and `metrics`, a relay
//! pass, its sends and records and an inbox admission open spans named for
//! them, and the relay's outcomes and the inbox's duplicates are counted
//! through the `metrics` facade. A subscriber and a recorder of this test's
//! own take them in.
#![cfg(all(feature = "tracing", feature = "metrics"))]

use iap_test_support::temp_db;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use iap_relay::{Relay, RelayConfig};
use iap_store::sqlite::AsyncSqliteStore;
use iap_store::{AsyncDeliveryStore, Delivery, StoreError, StoreOptions};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::state::Dispatched;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use serde_json::{Value, json};
use temp_db::TempDb;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};

/// Span names, as they are opened.
#[derive(Default)]
struct Spans(Mutex<Vec<String>>);

impl Subscriber for Spans {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut names = self.0.lock().unwrap();
        names.push(span.metadata().name().to_owned());
        Id::from_u64(names.len() as u64)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Counter totals by name.
#[derive(Default)]
struct Counters(Mutex<BTreeMap<String, Arc<AtomicU64>>>);

struct Total(Arc<AtomicU64>);

impl metrics::CounterFn for Total {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

impl Recorder for Counters {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let total = Arc::clone(
            self.0
                .lock()
                .unwrap()
                .entry(key.name().to_owned())
                .or_default(),
        );
        Counter::from_arc(Arc::new(Total(total)))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn relay_passes_sends_records_and_admissions_are_traced_and_counted() {
    let spans = Arc::new(Spans::default());
    let counters = Arc::new(Counters::default());
    tracing::subscriber::set_global_default(Arc::clone(&spans)).unwrap();
    metrics::set_global_recorder(CountersHandle(Arc::clone(&counters))).unwrap();

    let db = TempDb::new("observability");
    let store = AsyncSqliteStore::open(db.path(), StoreOptions::default())
        .await
        .unwrap();
    let event = Envelope::builder()
        .event_id("order-1-placed")
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": 1 }))
        .build()
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    AsyncSqliteStore::enqueue(&mut tx, &event, Utc::now())
        .await
        .unwrap();
    AsyncSqliteStore::commit(tx).await.unwrap();
    let relay = Relay::new(store.clone(), |_: &Envelope<Dispatched, Value>| async {
        Ok(Delivery::Processed)
    })
    .with_config(RelayConfig::default().idle_poll(Duration::from_millis(20)));
    let report = relay
        .run(tokio::time::sleep(Duration::from_millis(300)))
        .await
        .unwrap();
    assert_eq!(report.sent.delivered, 1);
    for _ in 0..2 {
        let admitted = store
            .admit(event.to_received(), Utc::now(), |_, _| {
                Box::pin(async { Ok::<_, StoreError>(()) })
            })
            .await
            .unwrap();
        drop(admitted);
    }

    let names = spans.0.lock().unwrap().clone();
    for name in ["iap.relay.pass", "iap.send", "iap.record", "iap.admit"] {
        assert!(
            names.iter().any(|seen| seen == name),
            "no span {name} in {names:?}"
        );
    }
    let totals = counters.0.lock().unwrap();
    let total = |name: &str| {
        totals
            .get(name)
            .map_or(0, |total| total.load(Ordering::Relaxed))
    };
    assert_eq!(total("iap_relay_delivered_total"), 1);
    assert_eq!(total("iap_inbox_duplicates_total"), 1);
}

/// The recorder behind an `Arc`, so that the test can read it afterwards.
struct CountersHandle(Arc<Counters>);

impl Recorder for CountersHandle {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_counter(key, unit, description)
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_gauge(key, unit, description)
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_histogram(key, unit, description)
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.0.register_counter(key, metadata)
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.0.register_gauge(key, metadata)
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.0.register_histogram(key, metadata)
    }
}
