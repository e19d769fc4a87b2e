//! Ordered delivery per key, on both backends, blocking and async: random
//! enqueues over few and many ordering keys (and none), random transient and
//! permanent failures and claims abandoned until their lease runs out,
//! drained by 4 relay workers on threads, each with a store of its own. Per
//! key, what is sent (repeats of one envelope, a lost claim's re-send, aside)
//! is the enqueue order; no two envelopes of a key are ever in flight
//! together; envelopes without a key are never held back by a key. With dead
//! letters holding their keys, a redrive then delivers every envelope in
//! order; with keys released, the envelopes sent past a dead letter say so in
//! their history. (`ordering_workers` runs the same model with worker
//! processes on PostgreSQL.)
#![cfg(any(feature = "sqlite", feature = "postgres"))]

use iap_test_support::backends;
use iap_test_support::for_each_backend;
use iap_test_support::ordering;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use backends::Backend;
use iap_store::{DeadLetterKeys, StoreError};
use ordering::{
    CHUNK, Fate, HORIZON, IDLE_STEP, InFlight, Planned, Sent, WORKERS, at, check_drained,
    check_redriven, event, fate_of, number, only_held_wait, options, record, scenarios,
};
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

for_each_backend!(
    per_key_order_holds_with_dead_letters_holding_their_keys,
    per_key_order_holds_with_the_keys_of_dead_letters_released,
);

fn per_key_order_holds_with_dead_letters_holding_their_keys<B: Backend>() {
    check::<B>(DeadLetterKeys::Hold);
}

fn per_key_order_holds_with_the_keys_of_dead_letters_released<B: Backend>() {
    check::<B>(DeadLetterKeys::Release);
}

fn check<B: Backend>(dead_letter_keys: DeadLetterKeys) {
    let mut runner = TestRunner::new(Config {
        cases: 8,
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
    sent: Sent,
    in_flight: InFlight,
}

fn drain_in_order<B: Backend>(plan: &[Planned], dead_letter_keys: DeadLetterKeys) {
    let name = match dead_letter_keys {
        DeadLetterKeys::Hold => "ordering_hold",
        DeadLetterKeys::Release => "ordering_release",
    };
    let Some(place) = B::place(name) else {
        return;
    };
    let options = options(dead_letter_keys);
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
                    for chunk in plan.iter().enumerate().collect::<Vec<_>>().chunks(CHUNK) {
                        let now = at(clock.load(Ordering::SeqCst));
                        // The workers' claims may keep SQLite's one writer
                        // busy past the busy timeout; the enqueue is retried.
                        loop {
                            let written = producer.write(|tx| {
                                for (n, planned) in chunk {
                                    B::enqueue(tx, &event(*n, planned, now), now)?;
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
                        let claims = store.claim_due::<Value>(at(seconds), 5).unwrap().claims;
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
                            let n = number(claim.envelope.event_id());
                            let fate = fate_of(&claim.envelope, redriven.load(Ordering::SeqCst));
                            let key = plan[n].key;
                            {
                                let mut seen = observed.lock().unwrap();
                                // A worker sends only within its lease (a
                                // relay extends the lease of a long send):
                                // one that fell behind the clock, while it
                                // sent the claims before this one, gives the
                                // claim up, as a worker that died would.
                                let current = at(clock.load(Ordering::SeqCst));
                                if current >= claim.lease_until {
                                    continue;
                                }
                                if let Some(k) = key {
                                    seen.in_flight.claimed(k, n, claim.lease_until, current);
                                }
                            }
                            if fate == Fate::Abandon {
                                continue;
                            }
                            {
                                let mut seen = observed.lock().unwrap();
                                if at(clock.load(Ordering::SeqCst)) >= claim.lease_until {
                                    continue;
                                }
                                if let Some(k) = key {
                                    seen.in_flight.sent(k, n);
                                }
                                if fate == Fate::Deliver {
                                    seen.sent.entry(key).or_default().push(n);
                                }
                            }
                            record(&mut store, claim.envelope, fate, at(seconds + 1));
                        }
                    }
                });
            }
        });
    };

    drain(true);
    let mut store = B::open_with(&place, options);
    let sent = observed.lock().unwrap().sent.clone();
    check_drained(&mut store, plan, &sent, dead_letter_keys);
    if dead_letter_keys == DeadLetterKeys::Hold {
        // Redriven, every dead letter is sent first, then what waited.
        redriven.store(true, Ordering::SeqCst);
        let now = at(clock.load(Ordering::SeqCst));
        store.redrive_all::<Value>("operator", now).unwrap();
        drain(false);
        let sent = observed.lock().unwrap().sent.clone();
        check_redriven(&mut store, plan, &sent);
    }
}
