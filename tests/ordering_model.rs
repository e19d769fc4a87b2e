//! Ordered delivery per key, on both backends: random enqueues over few and
//! many ordering keys (and none), random transient and permanent failures and
//! claims abandoned until their lease runs out, drained by 4 relay workers
//! on threads, each with a store of its own. Per key, what is sent (repeats
//! of one envelope, a lost claim's re-send, aside) is the enqueue order; no
//! two envelopes of a key are ever in flight together; envelopes without a
//! key are never held back by a key. With dead letters holding their keys,
//! a redrive then delivers every envelope in order; with keys released, the
//! envelopes sent past a dead letter say so in their history.
#![cfg(any(feature = "sqlite", feature = "postgres"))]

#[path = "support/backends.rs"]
mod backends;
#[macro_use]
#[path = "support/suite.rs"]
mod suite;
#[cfg(feature = "sqlite")]
#[path = "support/temp_db.rs"]
mod temp_db;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use backends::Backend;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use integration_automation_patterns::store::{
    DeadLetterKeys, Durability, StoreError, StoreOptions,
};
use integration_automation_patterns::{DeliveryStatus, Envelope, FailOutcome};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

// The async stores claim with the same statements as the blocking ones.
for_each_blocking_backend!(
    per_key_order_holds_with_dead_letters_holding_their_keys,
    per_key_order_holds_with_the_keys_of_dead_letters_released,
);

fn per_key_order_holds_with_dead_letters_holding_their_keys<B: Backend>() {
    check::<B>(DeadLetterKeys::Hold);
}

fn per_key_order_holds_with_the_keys_of_dead_letters_released<B: Backend>() {
    check::<B>(DeadLetterKeys::Release);
}

/// What one send of an envelope does, by attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Send {
    Deliver,
    Transient,
    Permanent,
    /// The worker takes the claim and dies before sending: its lease runs out.
    Abandon,
}

/// One envelope of a scenario: its key (an index), and what each of its
/// attempts does (past the plan, it is delivered).
#[derive(Clone, Debug)]
struct Planned {
    key: Option<usize>,
    sends: Vec<Send>,
}

fn send() -> impl Strategy<Value = Send> {
    prop_oneof![
        5 => Just(Send::Deliver),
        3 => Just(Send::Transient),
        1 => Just(Send::Permanent),
        1 => Just(Send::Abandon),
    ]
}

/// Envelopes over `keys` keys, about one in five without a key.
fn scenario(keys: usize) -> impl Strategy<Value = Vec<Planned>> {
    let planned = (
        prop_oneof![1 => Just(None), 4 => (0..keys).prop_map(Some)],
        prop::collection::vec(send(), 0..4),
    )
        .prop_map(|(key, sends)| Planned { key, sends });
    prop::collection::vec(planned, 10..40)
}

/// Few keys (each a long queue) or many (mostly one envelope each).
fn scenarios() -> impl Strategy<Value = Vec<Planned>> {
    prop_oneof![scenario(3), scenario(30)]
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

const WORKERS: usize = 4;
/// How far a worker that finds nothing due moves the clock, in seconds.
const IDLE_STEP: i64 = 20;
/// How long a drain may run, in simulated seconds, once everything is
/// enqueued: every retry and lease of the longest queue is long over by
/// then. A drain ends sooner, when all that waits is held by a key.
const HORIZON: i64 = 4 * 3600;
/// The lease: long beside a worker's own steps, so that mostly abandoned
/// claims run out.
const LEASE: Duration = Duration::from_secs(300);

fn id(n: usize) -> String {
    format!("event-{n}")
}

fn key(k: usize) -> String {
    format!("contact-{k}")
}

fn check<B: Backend>(dead_letter_keys: DeadLetterKeys) {
    let cases = 8;
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 32,
        ..Config::default()
    });
    let result = runner.run(&scenarios(), |plan| {
        drain_in_order::<B>(&plan, dead_letter_keys);
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

/// What the workers saw, shared between them.
#[derive(Default)]
struct Observed {
    /// Per key, the envelopes sent, in the order the sends happened.
    sent: HashMap<Option<usize>, Vec<usize>>,
    /// Per key, the envelope in flight and its lease.
    in_flight: HashMap<usize, (usize, DateTime<Utc>)>,
}

fn drain_in_order<B: Backend>(plan: &[Planned], dead_letter_keys: DeadLetterKeys) {
    let name = match dead_letter_keys {
        DeadLetterKeys::Hold => "ordering_hold",
        DeadLetterKeys::Release => "ordering_release",
    };
    let Some(place) = B::place(name) else {
        return;
    };
    let options = StoreOptions {
        lease: LEASE,
        dead_letter_keys,
        // Nothing here is about surviving a power loss.
        durability: Durability::Normal,
        ..StoreOptions::default()
    };
    // The schema is made before the workers open their stores.
    drop(B::open_with(&place, options));
    let clock = AtomicI64::new(0);
    let observed = Mutex::new(Observed::default());
    let redriven = AtomicBool::new(false);

    let drain = |enqueue: bool| {
        let enqueued = AtomicBool::new(!enqueue);
        let until = AtomicI64::new(i64::MAX);
        std::thread::scope(|scope| {
            if enqueue {
                scope.spawn(|| {
                    let mut producer = B::open_with(&place, options);
                    for chunk in plan.iter().enumerate().collect::<Vec<_>>().chunks(7) {
                        let now = start() + TimeDelta::seconds(clock.load(Ordering::SeqCst));
                        // The workers' claims may keep SQLite's one writer
                        // busy past the busy timeout; the enqueue is retried.
                        loop {
                            let written = producer.write(|tx| {
                                for (n, planned) in chunk {
                                    B::enqueue(tx, &event(*n, planned.key, now), now)?;
                                }
                                Ok::<_, StoreError>(())
                            });
                            match written {
                                Err(error) if error.is_retryable() => continue,
                                written => break written.unwrap(),
                            }
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    until.store(clock.load(Ordering::SeqCst) + HORIZON, Ordering::SeqCst);
                    enqueued.store(true, Ordering::SeqCst);
                });
            } else {
                until.store(clock.load(Ordering::SeqCst) + HORIZON, Ordering::SeqCst);
            }
            for _ in 0..WORKERS {
                scope.spawn(|| {
                    let mut store = B::open_with(&place, options);
                    loop {
                        let seconds = clock.load(Ordering::SeqCst);
                        if enqueued.load(Ordering::SeqCst) && seconds > until.load(Ordering::SeqCst)
                        {
                            return;
                        }
                        let now = start() + TimeDelta::seconds(seconds);
                        let claims = store.claim_due::<Value>(now, 5).unwrap().claims;
                        if claims.is_empty() {
                            if enqueued.load(Ordering::SeqCst) && only_held_wait(&mut store) {
                                return;
                            }
                            clock.fetch_add(IDLE_STEP, Ordering::SeqCst);
                            // Room for the producer and the other workers.
                            std::thread::sleep(Duration::from_millis(1));
                            continue;
                        }
                        for claim in claims {
                            let envelope = claim.envelope;
                            let n = number(envelope.event_id());
                            let planned = &plan[n];
                            if let Some(k) = planned.key {
                                let mut seen = observed.lock().unwrap();
                                // Against the clock as it is now: a claim
                                // that ran out may have been taken over (and
                                // dead-lettered) by a worker ahead of `now`.
                                let current =
                                    start() + TimeDelta::seconds(clock.load(Ordering::SeqCst));
                                if let Some((other, lease)) = seen.in_flight.get(&k)
                                    && *other != n
                                    && *lease > current
                                {
                                    panic!(
                                        "event {n} of key {k} claimed while event {other} is in flight"
                                    );
                                }
                                seen.in_flight.insert(k, (n, claim.lease_until));
                            }
                            let attempt = usize::try_from(envelope.attempt_count()).unwrap();
                            let what = if redriven.load(Ordering::SeqCst) {
                                Send::Deliver
                            } else {
                                planned.sends.get(attempt - 1).copied().unwrap_or(Send::Deliver)
                            };
                            // A worker sends only within its lease (a relay
                            // extends the lease of a long send): one that
                            // fell behind the clock gives the claim up, as a
                            // worker that died would.
                            let clock_now = start() + TimeDelta::seconds(clock.load(Ordering::SeqCst));
                            if what == Send::Abandon || clock_now >= claim.lease_until {
                                continue;
                            }
                            {
                                // Out of flight before the record commits, so
                                // that the next claim of the key is never
                                // taken for an overlap.
                                let mut seen = observed.lock().unwrap();
                                if let Some(k) = planned.key {
                                    seen.in_flight.remove(&k);
                                }
                                if what == Send::Deliver {
                                    seen.sent.entry(planned.key).or_default().push(n);
                                }
                            }
                            let at = now + TimeDelta::seconds(1);
                            let recorded = match what {
                                Send::Deliver => store.record(envelope.process_at(at)),
                                Send::Transient => match envelope.fail_at("503", at) {
                                    FailOutcome::Retry(retrying) => store.record(retrying),
                                    FailOutcome::Exhausted(failed) => store.record(failed),
                                },
                                _ => store.record(envelope.fail_permanently_at("422", at)),
                            };
                            // A claim can be taken over while its worker is
                            // slow; the send is then repeated, as at least
                            // once allows.
                            if let Err(error) = recorded {
                                assert!(matches!(error, StoreError::ClaimLost { .. }), "{error}");
                            }
                        }
                    }
                });
            }
        });
    };

    drain(true);
    let mut store = B::open_with(&place, options);
    let states: Vec<DeliveryStatus> = (0..plan.len())
        .map(|n| store.load_any::<Value>("crm", &id(n)).unwrap().status())
        .collect();
    for (n, planned) in plan.iter().enumerate() {
        if planned.key.is_none() {
            assert!(
                matches!(
                    states[n],
                    DeliveryStatus::Processed | DeliveryStatus::Failed
                ),
                "event {n} has no key and is {} after the drain",
                states[n]
            );
        }
    }
    let sent = observed.lock().unwrap().sent.clone();
    let dead: Vec<usize> = (0..plan.len())
        .filter(|n| states[*n] == DeliveryStatus::Failed)
        .collect();
    match dead_letter_keys {
        DeadLetterKeys::Hold => {
            // Nothing after a key's first dead letter was sent.
            for &n in &dead {
                if let Some(k) = plan[n].key {
                    for &later in sent.get(&Some(k)).into_iter().flatten() {
                        assert!(
                            later <= n,
                            "event {later} of key {k} sent past dead letter {n}"
                        );
                    }
                }
            }
            let held = store.held_keys(1000).unwrap();
            let holding: BTreeMap<String, String> = held
                .iter()
                .map(|held| (held.ordering_key.clone(), held.event_id.clone()))
                .collect();
            for &n in &dead {
                if let Some(k) = plan[n].key
                    && !dead.iter().any(|&m| m < n && plan[m].key == Some(k))
                {
                    assert_eq!(holding.get(&key(k)), Some(&id(n)), "key {k} is held by {n}");
                }
            }
            assert_eq!(holding.len(), held.len());
            // Redriven, every dead letter is sent first, then what waited.
            redriven.store(true, Ordering::SeqCst);
            let now = start() + TimeDelta::seconds(clock.load(Ordering::SeqCst));
            store.redrive_all::<Value>("operator", now).unwrap();
            drain(false);
            assert!(store.held_keys(1000).unwrap().is_empty());
            let sent = observed.lock().unwrap().sent.clone();
            for (n, _) in plan.iter().enumerate() {
                let status = store.load_any::<Value>("crm", &id(n)).unwrap().status();
                assert_eq!(status, DeliveryStatus::Processed, "event {n}");
            }
            assert_in_order(plan, &sent, |_| true);
        }
        DeadLetterKeys::Release => {
            assert_in_order(plan, &sent, |n| states[n] == DeliveryStatus::Processed);
            for (n, planned) in plan.iter().enumerate() {
                let Some(k) = planned.key else { continue };
                let passed = dead.iter().find(|&&m| m < n && plan[m].key == Some(k));
                if let (Some(&m), DeliveryStatus::Processed) = (passed, states[n]) {
                    let envelope = store.load_any::<Value>("crm", &id(n)).unwrap();
                    let noted = envelope
                        .history()
                        .iter()
                        .any(|step| step.reason().is_some_and(|note| note.contains(&id(m))));
                    assert!(
                        noted,
                        "event {n} was sent past dead letter {m} and does not say so"
                    );
                }
            }
        }
    }
}

/// Whether everything still to send waits behind a held key: the drain is
/// over.
fn only_held_wait<B: Backend>(store: &mut B) -> bool {
    let counts = store.counts().unwrap();
    let waiting: u64 = [
        DeliveryStatus::Pending,
        DeliveryStatus::Dispatched,
        DeliveryStatus::Retrying,
    ]
    .iter()
    .filter_map(|status| counts.outbox.get(status))
    .sum();
    let held: u64 = store
        .held_keys(usize::MAX)
        .unwrap()
        .iter()
        .map(|held| held.waiting)
        .sum();
    waiting == held
}

/// Per key, the envelopes sent (a repeat of the same envelope counted once)
/// go in enqueue order, and every one `delivered` keeps is among them. (A
/// dead letter may have been sent too: by a claim that was taken over before
/// its outcome was recorded.)
fn assert_in_order(
    plan: &[Planned],
    sent: &HashMap<Option<usize>, Vec<usize>>,
    delivered: impl Fn(usize) -> bool,
) {
    let keys: Vec<usize> = plan.iter().filter_map(|planned| planned.key).collect();
    for k in keys {
        let mut seen = sent.get(&Some(k)).cloned().unwrap_or_default();
        seen.dedup();
        assert!(
            seen.windows(2).all(|pair| pair[0] < pair[1]),
            "the sends of key {k} are out of order: {seen:?}"
        );
        for n in (0..plan.len()).filter(|&n| plan[n].key == Some(k) && delivered(n)) {
            assert!(
                seen.contains(&n),
                "event {n} of key {k} was never sent: {seen:?}"
            );
        }
    }
}

fn event(
    n: usize,
    k: Option<usize>,
    now: DateTime<Utc>,
) -> Envelope<integration_automation_patterns::state::Pending> {
    let builder = Envelope::builder()
        .event_id(id(n))
        .event_type("crm.contact.updated")
        .source_system("crm")
        .payload(json!({ "n": n }))
        .created_at(now);
    match k {
        Some(k) => builder.ordering_key(key(k)),
        None => builder,
    }
    .build()
    .unwrap()
}

fn number(event_id: &str) -> usize {
    event_id.trim_start_matches("event-").parse().unwrap()
}
