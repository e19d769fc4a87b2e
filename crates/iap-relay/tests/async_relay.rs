//! The async relay on an async store: it drains what is due with a sender
//! that succeeds, fails, times out and hangs; it stops gracefully (sends in
//! flight finish and are recorded, unsent claims are given back without
//! spending an attempt) and a restarted relay finishes; it wakes when told;
//! it extends the lease of a long send; it waits out a busy database and
//! goes on past a claim another worker took over, charging no attempt that
//! was not a send. Multi-threaded runtime throughout.

use iap_test_support::temp_db;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use iap_relay::{Recording, Relay, RelayConfig, RelayReport, Sender};
use iap_store::sqlite::{AsyncSqliteStore, rusqlite};
use iap_store::{AsyncDeliveryStore, Delivery, SendError, StoreError, StoreOptions};
use integration_automation_patterns::state::{Dispatched, Pending};
use integration_automation_patterns::{AnyEnvelope, DeliveryStatus, Envelope};
use serde_json::{Value, json};
use temp_db::TempDb;

fn order_event(n: u32) -> Envelope<Pending> {
    Envelope::builder()
        .event_id(format!("order-{n}-placed"))
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": n }))
        .build()
        .unwrap()
}

async fn store_with_orders(db: &TempDb, orders: u32, options: StoreOptions) -> AsyncSqliteStore {
    let store = AsyncSqliteStore::open(db.path(), options).await.unwrap();
    for n in 0..orders {
        let mut tx = store.begin().await.unwrap();
        AsyncSqliteStore::enqueue(&mut tx, &order_event(n), Utc::now())
            .await
            .unwrap();
        AsyncSqliteStore::commit(tx).await.unwrap();
    }
    store
}

/// Waits until nothing is pending or in flight any more.
async fn until_settled(store: &AsyncSqliteStore) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counts = store.counts().await.unwrap().outbox;
        if !counts.contains_key(&DeliveryStatus::Pending)
            && !counts.contains_key(&DeliveryStatus::Dispatched)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the relay did not settle: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn load(store: &AsyncSqliteStore, n: u32) -> AnyEnvelope {
    store
        .load_any("webshop", &format!("order-{n}-placed"))
        .await
        .unwrap()
}

/// A relay on a task of its own, and the means to stop it.
struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<RelayReport, StoreError>>,
}

impl Running {
    fn start<D: Sender<Value>>(relay: Relay<AsyncSqliteStore, D>) -> Running {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(relay.run(async {
            let _ = stopped.await;
        }));
        Running {
            stop: Some(stop),
            task,
        }
    }

    /// Tells the relay to stop.
    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).unwrap();
        }
    }

    /// Stops the relay (if not told already) and waits for its report.
    async fn finish(mut self) -> RelayReport {
        self.stop();
        self.task.await.unwrap().unwrap()
    }
}

fn quick() -> RelayConfig {
    RelayConfig::default()
        .batch(10)
        .concurrency(4)
        .send_timeout(Duration::from_millis(300))
        .idle_poll(Duration::from_millis(50))
        .recording(Recording::EachOutcome)
        .purge_every(None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_drains_what_is_due_and_stops_when_told() {
    let db = TempDb::new("relay-drain");
    let store = store_with_orders(&db, 30, StoreOptions::default()).await;
    let relay = Relay::new(store.clone(), |envelope: &Envelope<Dispatched, Value>| {
        let n = envelope.payload()["order_id"].as_u64().unwrap_or_default();
        async move {
            match n % 3 {
                0 => Ok(Delivery::Processed),
                1 => Ok(Delivery::Acknowledged),
                _ => Err(SendError::Permanent {
                    reason: "422: unknown SKU".into(),
                }),
            }
        }
    })
    .with_config(quick());
    let running = Running::start(relay);
    until_settled(&store).await;
    let report = running.finish().await;
    assert_eq!(report.sent.claimed, 30);
    assert_eq!(report.sent.delivered, 20);
    assert_eq!(report.sent.dead_lettered, 10);
    assert_eq!(
        store
            .dead_letters::<Value>(100)
            .await
            .unwrap()
            .letters
            .len(),
        10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batched_relay_records_the_outcomes_one_by_one_recording_would() {
    let db = TempDb::new("relay-batched");
    let store = store_with_orders(&db, 30, StoreOptions::default()).await;
    let relay = Relay::new(store.clone(), |envelope: &Envelope<Dispatched, Value>| {
        let n = envelope.payload()["order_id"].as_u64().unwrap_or_default();
        async move {
            match n % 3 {
                0 => Ok(Delivery::Processed),
                1 => Err(SendError::Transient {
                    reason: "503".into(),
                    retry_after: None,
                }),
                _ => Err(SendError::Permanent {
                    reason: "422: unknown SKU".into(),
                }),
            }
        }
    })
    .with_config(RelayConfig::default().recording(Recording::Batched));
    let running = Running::start(relay);
    until_settled(&store).await;
    let report = running.finish().await;
    assert_eq!(report.sent.claimed, 30);
    assert_eq!(
        (
            report.sent.delivered,
            report.sent.retried,
            report.sent.dead_lettered
        ),
        (10, 10, 10)
    );
    assert_eq!(report.sent.lost, 0);
    for n in 0..30 {
        let expected = match n % 3 {
            0 => DeliveryStatus::Processed,
            1 => DeliveryStatus::Retrying,
            _ => DeliveryStatus::Failed,
        };
        assert_eq!(load(&store, n).await.status(), expected, "order {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_deletes_what_retention_lets_go_and_nothing_else() {
    let db = TempDb::new("relay-purge");
    let options = StoreOptions::default().delivered_retention(Duration::ZERO);
    let store = store_with_orders(&db, 10, options).await;
    let relay = Relay::new(store.clone(), |envelope: &Envelope<Dispatched, Value>| {
        let n = envelope.payload()["order_id"].as_u64().unwrap_or_default();
        async move {
            if n.is_multiple_of(2) {
                Ok(Delivery::Processed)
            } else {
                Err(SendError::Permanent {
                    reason: "422: unknown SKU".into(),
                })
            }
        }
    })
    .with_config(RelayConfig::default().purge_every(Some(Duration::from_millis(20))));
    let running = Running::start(relay);
    let deadline = Instant::now() + Duration::from_secs(10);
    let counts = loop {
        let counts = store.counts().await.unwrap().outbox;
        if !counts.contains_key(&DeliveryStatus::Pending)
            && !counts.contains_key(&DeliveryStatus::Processed)
        {
            break counts;
        }
        assert!(Instant::now() < deadline, "nothing was purged: {counts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let report = running.finish().await;
    assert_eq!(report.purged, 5, "the delivered envelopes");
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [(DeliveryStatus::Failed, 5)],
        "the dead letters are kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_mid_batch_loses_nothing_and_spends_no_attempt_of_the_unsent() {
    stop_mid_batch(Recording::EachOutcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batched_relay_told_to_stop_records_what_it_sent_and_gives_back_the_rest() {
    stop_mid_batch(Recording::Batched).await;
}

/// Stops a relay with three sends in flight and seven claims waiting, then
/// restarts it: the three are recorded, the seven given back unspent.
async fn stop_mid_batch(recording: Recording) {
    let db = TempDb::new("relay-stop");
    let store = store_with_orders(&db, 10, StoreOptions::default()).await;
    let started = Arc::new(Mutex::new(HashSet::new()));
    let (first_sends, mut sending) = tokio::sync::mpsc::unbounded_channel::<()>();
    // Every send waits at the gate, so that the three in flight are still in
    // flight when the relay is told to stop.
    let (gate, closed_gate) = tokio::sync::watch::channel(false);
    let relay = Relay::new(store.clone(), {
        let started = Arc::clone(&started);
        move |envelope: &Envelope<Dispatched, Value>| {
            let n = envelope.payload()["order_id"].as_u64().unwrap_or_default();
            started.lock().unwrap().insert(n);
            let _ = first_sends.send(());
            let mut gate = closed_gate.clone();
            async move {
                let _ = gate.wait_for(|open| *open).await;
                match n % 3 {
                    // Hangs: the send timeout ends it as a transient failure.
                    0 => std::future::pending().await,
                    1 => Err(SendError::Transient {
                        reason: "503".into(),
                        retry_after: None,
                    }),
                    _ => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok(Delivery::Processed)
                    }
                }
            }
        }
    })
    .with_config(
        RelayConfig::default()
            .batch(10)
            .concurrency(3)
            // Long enough that no send in flight times out (and frees its slot)
            // before the relay has taken in the stop, however busy the machine.
            .send_timeout(Duration::from_secs(2))
            .recording(recording),
    );
    let mut running = Running::start(relay);
    // Three sends in flight, seven claims waiting: stop now.
    for _ in 0..3 {
        sending.recv().await.unwrap();
    }
    running.stop();
    // The gate opens once the relay has given the seven waiting claims back.
    let deadline = Instant::now() + Duration::from_secs(10);
    while store
        .counts()
        .await
        .unwrap()
        .outbox
        .get(&DeliveryStatus::Pending)
        != Some(&7)
    {
        assert!(
            Instant::now() < deadline,
            "the relay did not give its unsent claims back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gate.send(true).unwrap();
    let report = running.finish().await;
    let started: HashSet<u64> = started.lock().unwrap().clone();
    assert_eq!(
        started.len(),
        3,
        "no send starts once the relay is told to stop"
    );
    assert_eq!(report.released, 7);
    for n in 0..10u32 {
        let envelope = load(&store, n).await;
        if started.contains(&u64::from(n)) {
            let expected = if n % 3 == 2 {
                DeliveryStatus::Processed
            } else {
                DeliveryStatus::Retrying
            };
            assert_eq!(
                (envelope.status(), envelope.attempt_count()),
                (expected, 1),
                "order {n}"
            );
        } else {
            assert_eq!(
                (envelope.status(), envelope.attempt_count()),
                (DeliveryStatus::Pending, 0),
                "order {n} was never sent"
            );
        }
    }

    // A restarted relay with a receiver that works finishes what is due now.
    let relay = Relay::new(store.clone(), |_: &Envelope<Dispatched, Value>| async {
        Ok(Delivery::Processed)
    })
    .with_config(quick());
    let running = Running::start(relay);
    until_settled(&store).await;
    running.finish().await;
    let processed = store.counts().await.unwrap().outbox[&DeliveryStatus::Processed];
    assert!(processed >= 8, "{processed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_woken_relay_sends_at_once() {
    let db = TempDb::new("relay-wake");
    let store = store_with_orders(&db, 0, StoreOptions::default()).await;
    let (delivered, mut deliveries) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let relay = Relay::new(store.clone(), move |_: &Envelope<Dispatched, Value>| {
        let _ = delivered.send(Instant::now());
        async { Ok(Delivery::Processed) }
    })
    .with_config(RelayConfig::default().idle_poll(Duration::from_secs(30)));
    let waker = relay.waker();
    let running = Running::start(relay);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut tx = store.begin().await.unwrap();
    AsyncSqliteStore::enqueue(&mut tx, &order_event(1), Utc::now())
        .await
        .unwrap();
    AsyncSqliteStore::commit(tx).await.unwrap();
    let enqueued = Instant::now();
    waker.wake();
    let sent = tokio::time::timeout(Duration::from_secs(5), deliveries.recv())
        .await
        .expect("the woken relay sent within seconds, not at its 30 s poll")
        .unwrap();
    assert!(sent - enqueued < Duration::from_secs(2));
    running.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_send_keeps_its_claim() {
    let db = TempDb::new("relay-lease");
    let options = StoreOptions::default().lease(Duration::from_millis(1_000));
    let store = store_with_orders(&db, 1, options).await;
    let relay = Relay::new(store.clone(), |_: &Envelope<Dispatched, Value>| async {
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        Ok(Delivery::Processed)
    })
    .with_config(RelayConfig::default().send_timeout(Duration::from_secs(5)));
    let running = Running::start(relay);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // Past the first lease: another worker finds nothing to take over.
    let other = store.claim_due::<Value>(Utc::now(), 10).await.unwrap();
    assert!(other.claims.is_empty(), "the claim was taken over mid-send");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let report = running.finish().await;
    assert!(report.leases_extended >= 1, "{report:?}");
    let envelope = load(&store, 0).await;
    assert_eq!(
        (envelope.status(), envelope.attempt_count()),
        (DeliveryStatus::Processed, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_database_is_waited_out_and_charges_no_attempt_that_was_not_a_send() {
    for recording in [Recording::EachOutcome, Recording::Batched] {
        let db = TempDb::new("relay-busy");
        let options = StoreOptions::default().busy_timeout(Duration::from_millis(50));
        let store = store_with_orders(&db, 30, options).await;
        let sends = Arc::new(Mutex::new(Vec::new()));
        let relay = Relay::new(store.clone(), {
            let sends = Arc::clone(&sends);
            move |envelope: &Envelope<Dispatched, Value>| {
                let n = envelope.payload()["order_id"].as_u64().unwrap_or_default();
                sends.lock().unwrap().push(n);
                async {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    Ok(Delivery::Processed)
                }
            }
        })
        .with_config(
            RelayConfig::default()
                .batch(5)
                .concurrency(3)
                .send_timeout(Duration::from_secs(5))
                .recording(recording),
        );
        let running = Running::start(relay);
        // Three times, once sends are under way, another connection holds
        // the write lock for twenty times the store's busy timeout.
        for round in 1..=3 {
            let deadline = Instant::now() + Duration::from_secs(10);
            while sends.lock().unwrap().len() < round * 8 {
                assert!(
                    !running.task.is_finished() && Instant::now() < deadline,
                    "{recording:?}: the relay stopped sending"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let path = db.path().to_owned();
            tokio::task::spawn_blocking(move || {
                let other = rusqlite::Connection::open(path).unwrap();
                other.execute_batch("BEGIN IMMEDIATE").unwrap();
                std::thread::sleep(Duration::from_millis(1_000));
                other.execute_batch("COMMIT").unwrap();
            })
            .await
            .unwrap();
        }
        until_settled(&store).await;
        let report = running.finish().await;
        assert_eq!(report.sent.delivered, 30, "{recording:?}: {report:?}");
        let mut sent = sends.lock().unwrap().clone();
        sent.sort_unstable();
        assert_eq!(
            sent,
            (0..30).collect::<Vec<u64>>(),
            "{recording:?}: each sent once"
        );
        for n in 0..30 {
            let envelope = load(&store, n).await;
            assert_eq!(
                (envelope.status(), envelope.attempt_count()),
                (DeliveryStatus::Processed, 1),
                "{recording:?}: order {n}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_taken_over_is_counted_lost_and_the_relay_goes_on() {
    for recording in [Recording::EachOutcome, Recording::Batched] {
        let db = TempDb::new("relay-lost");
        let store = store_with_orders(&db, 3, StoreOptions::default()).await;
        let (gate, closed_gate) = tokio::sync::watch::channel(false);
        let (started, mut sending) = tokio::sync::mpsc::unbounded_channel::<()>();
        let relay = Relay::new(store.clone(), move |_: &Envelope<Dispatched, Value>| {
            let _ = started.send(());
            let mut gate = closed_gate.clone();
            async move {
                let _ = gate.wait_for(|open| *open).await;
                Ok(Delivery::Processed)
            }
        })
        .with_config(
            RelayConfig::default()
                .send_timeout(Duration::from_secs(5))
                .recording(recording),
        );
        let running = Running::start(relay);
        for _ in 0..3 {
            sending.recv().await.unwrap();
        }
        // A worker whose clock is an hour ahead finds the leases run out and
        // takes the three claims over while their sends are in flight.
        let peer = store
            .claim_due::<Value>(Utc::now() + chrono::TimeDelta::hours(1), 10)
            .await
            .unwrap();
        assert_eq!(peer.claims.len(), 3);
        gate.send(true).unwrap();
        // The relay goes on: a new envelope is delivered after the loss.
        let mut tx = store.begin().await.unwrap();
        AsyncSqliteStore::enqueue(&mut tx, &order_event(3), Utc::now())
            .await
            .unwrap();
        AsyncSqliteStore::commit(tx).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while load(&store, 3).await.status() != DeliveryStatus::Processed {
            assert!(
                Instant::now() < deadline,
                "{recording:?}: the relay stopped"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let report = running.finish().await;
        assert_eq!(report.sent.lost, 3, "{recording:?}: {report:?}");
        assert_eq!(report.sent.delivered, 1, "{recording:?}: {report:?}");
        // The claims are the peer's: each in flight once, its attempt counted once.
        for n in 0..3 {
            let envelope = load(&store, n).await;
            assert_eq!(
                (envelope.status(), envelope.attempt_count()),
                (DeliveryStatus::Dispatched, 2),
                "{recording:?}: order {n}, claimed by the relay and then by the peer"
            );
        }
    }
}
