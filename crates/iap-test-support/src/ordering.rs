//! The model of ordered delivery per key that the ordering tests drive, with
//! relay workers on threads or in processes: random scenarios, the envelopes
//! they enqueue (each carrying what its sends will do), the bookkeeping of
//! what is in flight, and the checks of a store once its workers are done.
// Each suite that includes this module uses a part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use iap_store::{DeadLetterKeys, Durability, StoreError, StoreOptions};
use integration_automation_patterns::state::{Dispatched, Pending};
use integration_automation_patterns::{DeliveryStatus, Envelope, FailOutcome};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::backends::Backend;

/// What one send of an envelope does, by attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Deliver,
    Transient,
    Permanent,
    /// The worker takes the claim and dies before sending: its lease runs out.
    Abandon,
}

impl Fate {
    const ALL: [Fate; 4] = [
        Fate::Deliver,
        Fate::Transient,
        Fate::Permanent,
        Fate::Abandon,
    ];

    /// The fate's name, as the envelope's payload carries it.
    pub fn name(self) -> &'static str {
        match self {
            Fate::Deliver => "deliver",
            Fate::Transient => "transient",
            Fate::Permanent => "permanent",
            Fate::Abandon => "abandon",
        }
    }

    fn named(name: &str) -> Fate {
        Fate::ALL
            .into_iter()
            .find(|fate| fate.name() == name)
            .unwrap_or_else(|| panic!("no fate is named {name:?}"))
    }
}

/// One envelope of a scenario: its key (an index), and what each of its
/// attempts does (past the plan, it is delivered).
#[derive(Clone, Debug)]
pub struct Planned {
    pub key: Option<usize>,
    pub fates: Vec<Fate>,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        5 => Just(Fate::Deliver),
        3 => Just(Fate::Transient),
        1 => Just(Fate::Permanent),
        1 => Just(Fate::Abandon),
    ]
}

/// Envelopes over `keys` keys, about one in five without a key.
fn scenario(keys: usize) -> impl Strategy<Value = Vec<Planned>> {
    let planned = (
        prop_oneof![1 => Just(None), 4 => (0..keys).prop_map(Some)],
        prop::collection::vec(fate(), 0..4),
    )
        .prop_map(|(key, fates)| Planned { key, fates });
    prop::collection::vec(planned, 10..40)
}

/// Few keys (each a long queue) or many (mostly one envelope each).
pub fn scenarios() -> impl Strategy<Value = Vec<Planned>> {
    prop_oneof![scenario(3), scenario(30)]
}

pub const WORKERS: usize = 4;
/// How far a worker that finds nothing due moves the clock, in seconds.
pub const IDLE_STEP: i64 = 20;
/// How long a drain may run, in simulated seconds, once everything is
/// enqueued: every retry and lease of the longest queue is long over by
/// then. A drain ends sooner, when all that waits is held by a key.
pub const HORIZON: i64 = 4 * 3600;
/// The lease: long beside a worker's own steps, so that mostly abandoned
/// claims run out.
pub const LEASE: Duration = Duration::from_secs(300);
/// How many envelopes the producer enqueues in one transaction.
pub const CHUNK: usize = 7;

/// The store settings of a scenario's stores.
pub fn options(dead_letter_keys: DeadLetterKeys) -> StoreOptions {
    StoreOptions::default()
        .lease(LEASE)
        .dead_letter_keys(dead_letter_keys)
        // Nothing here is about surviving a power loss.
        .durability(Durability::Normal)
}

/// The simulated time `seconds` after the scenario's start.
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + TimeDelta::seconds(seconds)
}

/// Whole seconds from the scenario's start to `time`.
pub fn seconds_at(time: DateTime<Utc>) -> i64 {
    (time - at(0)).num_seconds()
}

pub fn id(n: usize) -> String {
    format!("event-{n}")
}

pub fn key(k: usize) -> String {
    format!("contact-{k}")
}

pub fn number(event_id: &str) -> usize {
    event_id.trim_start_matches("event-").parse().unwrap()
}

/// Envelope `n` of a scenario; its payload carries its fates, so that a
/// worker in another process knows them too.
pub fn event(n: usize, planned: &Planned, now: DateTime<Utc>) -> Envelope<Pending> {
    let fates: Vec<&str> = planned.fates.iter().map(|fate| fate.name()).collect();
    let builder = Envelope::builder()
        .event_id(id(n))
        .event_type("crm.contact.updated")
        .source_system("crm")
        .payload(json!({ "n": n, "fates": fates }))
        .created_at(now);
    match planned.key {
        Some(k) => builder.ordering_key(key(k)),
        None => builder,
    }
    .build()
    .unwrap()
}

/// What this send of a claimed envelope does: as planned for its attempt,
/// or, once the operator has redriven the dead letters, delivered.
pub fn fate_of(envelope: &Envelope<Dispatched, Value>, redriven: bool) -> Fate {
    let attempt = usize::try_from(envelope.attempt_count()).unwrap();
    match envelope.payload()["fates"].get(attempt - 1) {
        Some(name) if !redriven => Fate::named(name.as_str().unwrap()),
        _ => Fate::Deliver,
    }
}

/// Per key, the envelope in flight and its lease: a claim of another
/// envelope of the key while that lease lasts breaks the rule.
#[derive(Default)]
pub struct InFlight(HashMap<usize, (usize, DateTime<Utc>)>);

impl InFlight {
    /// Envelope `n` of key `k` claimed until `lease_until`, looked at when
    /// the clock read `current` (a claim that ran out may have been taken
    /// over, and dead-lettered, by a worker ahead of the claim's own time).
    pub fn claimed(
        &mut self,
        k: usize,
        n: usize,
        lease_until: DateTime<Utc>,
        current: DateTime<Utc>,
    ) {
        if let Some((other, lease)) = self.0.get(&k)
            && *other != n
            && *lease > current
        {
            panic!("event {n} of key {k} claimed while event {other} is in flight");
        }
        self.0.insert(k, (n, lease_until));
    }

    /// Envelope `n` of key `k` sent: out of flight before its outcome
    /// commits, so that the next claim of the key is never taken for an
    /// overlap.
    pub fn sent(&mut self, k: usize, n: usize) {
        if self.0.get(&k).is_some_and(|(current, _)| *current == n) {
            self.0.remove(&k);
        }
    }
}

/// Per key (`None`: no key), the envelopes delivered, in the order the
/// sends happened.
pub type Sent = HashMap<Option<usize>, Vec<usize>>;

/// Whether everything still to send waits behind a held key: the drain is
/// over.
pub fn only_held_wait<B: Backend>(store: &mut B) -> bool {
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

/// The state of every envelope of `plan`.
pub fn states<B: Backend>(store: &mut B, plan: &[Planned]) -> Vec<DeliveryStatus> {
    (0..plan.len())
        .map(|n| store.load_any::<Value>("crm", &id(n)).unwrap().status())
        .collect()
}

/// The rules once the workers are done: no envelope without a key was held
/// back; with dead letters holding their keys, nothing was sent past one
/// and each key waits behind its first; with keys released, every envelope
/// was delivered or is a dead letter, the delivered ones went in order, and
/// those sent past a dead letter say so.
pub fn check_drained<B: Backend>(
    store: &mut B,
    plan: &[Planned],
    sent: &Sent,
    dead_letter_keys: DeadLetterKeys,
) {
    let states = states(store, plan);
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
    let dead: Vec<usize> = (0..plan.len())
        .filter(|n| states[*n] == DeliveryStatus::Failed)
        .collect();
    match dead_letter_keys {
        DeadLetterKeys::Hold => {
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
        }
        DeadLetterKeys::Release => {
            // No key is held: nothing is left waiting.
            for (n, state) in states.iter().enumerate() {
                assert!(
                    matches!(state, DeliveryStatus::Processed | DeliveryStatus::Failed),
                    "event {n} is {state} after the drain, with no key held"
                );
            }
            assert_in_order(plan, sent, |n| states[n] == DeliveryStatus::Processed);
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

/// The rules once the dead letters that held their keys were redriven and
/// the workers are done again: no key is held, every envelope was
/// delivered, and in order.
pub fn check_redriven<B: Backend>(store: &mut B, plan: &[Planned], sent: &Sent) {
    assert!(store.held_keys(1000).unwrap().is_empty());
    for (n, status) in states(store, plan).into_iter().enumerate() {
        assert_eq!(status, DeliveryStatus::Processed, "event {n}");
    }
    assert_in_order(plan, sent, |_| true);
}

/// Per key, the envelopes sent (a repeat of the same envelope counted once)
/// go in enqueue order, and every one `delivered` keeps is among them. (A
/// dead letter may have been sent too: by a claim that was taken over before
/// its outcome was recorded.)
fn assert_in_order(plan: &[Planned], sent: &Sent, delivered: impl Fn(usize) -> bool) {
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

/// Records the outcome of a send that went as `fate` (not abandoned), at
/// `at`. A claim can be taken over while its worker is slow; the send is then
/// repeated, as at least once allows, and this outcome is refused.
pub fn record<B: Backend>(
    store: &mut B,
    envelope: Envelope<Dispatched, Value>,
    fate: Fate,
    at: DateTime<Utc>,
) {
    let recorded = match fate {
        Fate::Deliver => store.record(envelope.process_at(at)),
        Fate::Transient => match envelope.fail_at("503", at) {
            FailOutcome::Retry(retrying) => store.record(retrying),
            FailOutcome::Exhausted(failed) => store.record(failed),
        },
        Fate::Permanent => store.record(envelope.fail_permanently_at("422", at)),
        Fate::Abandon => panic!("an abandoned claim has no outcome"),
    };
    if let Err(error) = recorded {
        assert!(matches!(error, StoreError::ClaimLost { .. }), "{error}");
    }
}
