//! The store's behaviour, one suite run unchanged against every backend:
//! outbox and relay, leases, dead letters, typed access, monitoring, the
//! inbox, concurrency and unreadable rows.
#![cfg(any(feature = "sqlite", feature = "postgres"))]

use iap_test_support::backends;
use iap_test_support::{for_each_backend, for_each_blocking_backend};

use std::time::Duration;

use backends::Backend;
use chrono::{DateTime, FixedOffset, TimeDelta, TimeZone, Utc};
use iap_store::{
    Admission, DeadLetterFilter, Delivery, DeliveryStore, Outcome, SendError, StoreError,
};
use integration_automation_patterns::envelope::ExtensionValue;
use integration_automation_patterns::state::{Dispatched, Failed, Pending, Processed, Retrying};
use integration_automation_patterns::{DeliveryStatus, Envelope, FailOutcome, RetryPolicy};
use serde_json::{Value, json};

for_each_backend!(
    an_event_commits_with_its_business_write_or_not_at_all,
    a_relay_pass_delivers_what_is_due_and_records_it,
    a_transient_failure_waits_for_its_retry_time_and_a_retry_after_wins_when_later,
    a_spent_budget_or_a_permanent_failure_makes_a_dead_letter_that_can_be_redriven,
    a_claim_whose_worker_died_is_taken_over_when_its_lease_runs_out,
    a_lost_claim_that_spends_the_budget_becomes_a_dead_letter,
    a_batch_of_outcomes_is_recorded_in_one_commit_and_a_stale_claim_refused_alone,
    typed_loads_name_the_state_that_was_found,
    counts_and_the_oldest_due_age_are_there_for_monitoring,
    an_envelope_held_back_behind_its_key_falls_due_with_it_and_counts_as_waiting,
    the_inbox_applies_an_effect_once_however_often_the_event_arrives,
    a_failed_effect_rolls_back_and_fails_through_the_retry_policy,
    an_inbox_effect_sees_the_whole_event_and_routes_on_its_type,
    inbox_keys_are_forgotten_after_the_retention_window,
    delivered_envelopes_are_deleted_after_the_retention_window_and_nothing_else,
    a_batch_admits_each_envelope_by_the_same_rules_in_one_commit,
    an_unreadable_row_is_quarantined_and_named_and_no_other_row_is_touched,
    threads_admitting_the_same_keys_apply_each_effect_once,
    workers_claiming_at_once_never_share_an_envelope,
    a_store_of_schema_version_1_is_migrated_and_every_envelope_reads_back_equal,
    a_store_of_schema_version_2_is_migrated_and_every_envelope_reads_back_equal,
    a_store_of_the_schema_version_before_the_current_one_is_migrated_and_every_envelope_reads_back_equal,
    dead_letters_are_listed_in_the_order_they_failed_before_and_after_the_migration,
    every_cloudevents_attribute_is_kept_through_the_store,
    an_envelope_that_would_not_read_back_is_refused_at_enqueue,
);

/// The rules of the blocking stores' own operations.
mod blocking {
    use super::*;
    for_each_blocking_backend!(
        a_batched_relay_pass_records_what_one_by_one_passes_would,
        a_filter_lists_counts_and_redrives_in_batches_the_dead_letters_it_takes,
        two_redrives_in_batches_at_once_share_the_dead_letters_without_an_error,
    );
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn at(seconds: i64) -> DateTime<Utc> {
    start() + TimeDelta::seconds(seconds)
}

fn order_event(n: u32) -> Envelope<Pending> {
    Envelope::builder()
        .event_id(format!("order-{n}-placed"))
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": n, "total": "19.90" }))
        .created_at(start())
        .build()
        .unwrap()
}

/// A fresh store with an `orders` and a `shipments` table, and `count` orders
/// enqueued with their business rows; `None` where the backend is not here.
fn store_with_orders<B: Backend>(name: &str, count: u32) -> Option<(B, B::Place)> {
    let place = B::place(name)?;
    let mut store = B::open(&place);
    store
        .write(|tx| {
            B::exec(tx, "CREATE TABLE orders (id BIGINT PRIMARY KEY)")?;
            B::exec(tx, "CREATE TABLE shipments (order_id BIGINT NOT NULL)")?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    for n in 0..count {
        store
            .write(|tx| {
                B::exec(tx, &format!("INSERT INTO orders (id) VALUES ({n})"))?;
                B::enqueue(tx, &order_event(n), start())
            })
            .unwrap();
    }
    Some((store, place))
}

fn status_of<B: Backend>(store: &mut B, n: u32) -> DeliveryStatus {
    store
        .load_any::<Value>("webshop", &format!("order-{n}-placed"))
        .unwrap()
        .status()
}

fn an_event_commits_with_its_business_write_or_not_at_all<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("atomic", 1) else {
        return;
    };
    let failed: Result<(), StoreError> = store.write(|tx| {
        B::exec(tx, "INSERT INTO orders (id) VALUES (7)")?;
        B::enqueue(tx, &order_event(7), start())?;
        Err(StoreError::NotFound {
            source_system: "webshop".into(),
            event_id: "the business rule failed".into(),
        })
    });
    assert!(failed.is_err());
    assert_eq!(store.number("SELECT COUNT(*) FROM orders"), 1);
    assert!(matches!(
        store.load_any::<Value>("webshop", "order-7-placed"),
        Err(StoreError::NotFound { .. })
    ));
    let twice = store.write(|tx| B::enqueue(tx, &order_event(0), start()));
    assert!(matches!(twice, Err(StoreError::AlreadyEnqueued { .. })));
}

fn a_relay_pass_delivers_what_is_due_and_records_it<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("relay", 3) else {
        return;
    };
    let mut sent = Vec::new();
    let report = store
        .run_once(at(1), 10, |envelope: &Envelope<_, Value>| {
            sent.push(envelope.event_id().to_owned());
            if envelope.event_id() == "order-1-placed" {
                Ok(Delivery::Acknowledged)
            } else {
                Ok(Delivery::Processed)
            }
        })
        .unwrap();
    assert_eq!((report.claimed, report.delivered), (3, 3));
    sent.sort();
    assert_eq!(sent, ["order-0-placed", "order-1-placed", "order-2-placed"]);
    assert_eq!(status_of(&mut store, 0), DeliveryStatus::Processed);
    assert_eq!(status_of(&mut store, 1), DeliveryStatus::Acknowledged);
    let processed: Envelope<Processed> = store.load("webshop", "order-2-placed").unwrap();
    assert_eq!(processed.attempt_count(), 1);
    assert!(
        store
            .claim_due::<Value>(at(3600), 10)
            .unwrap()
            .claims
            .is_empty()
    );
    assert_eq!(store.oldest_due_age(at(3600)).unwrap(), None);
    assert_eq!(store.next_due_at().unwrap(), None);
}

fn a_transient_failure_waits_for_its_retry_time_and_a_retry_after_wins_when_later<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("retry", 2) else {
        return;
    };
    let report = store
        .run_once(at(0), 10, |envelope: &Envelope<_, Value>| {
            Err(SendError::Transient {
                reason: "503 from the warehouse".into(),
                retry_after: (envelope.event_id() == "order-1-placed").then(|| at(600)),
            })
        })
        .unwrap();
    assert_eq!(report.retried, 2);
    let retrying: Envelope<Retrying> = store.load("webshop", "order-0-placed").unwrap();
    assert_eq!(retrying.failure_reason(), "503 from the warehouse");
    assert_eq!(retrying.next_attempt_at(), at(30));
    assert_eq!(store.next_due_at().unwrap(), Some(at(30)));
    assert!(
        store
            .claim_due::<Value>(at(29), 10)
            .unwrap()
            .claims
            .is_empty()
    );
    let mut due = store.claim_due::<Value>(at(30), 10).unwrap().claims;
    assert_eq!(due.len(), 1);
    let claim = due.remove(0);
    assert_eq!(claim.envelope.event_id(), "order-0-placed");
    store.record(claim.envelope.process_at(at(31))).unwrap();
    assert!(
        store
            .claim_due::<Value>(at(599), 10)
            .unwrap()
            .claims
            .is_empty()
    );
    assert_eq!(
        store.claim_due::<Value>(at(600), 10).unwrap().claims.len(),
        1
    );
}

fn a_spent_budget_or_a_permanent_failure_makes_a_dead_letter_that_can_be_redriven<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("dead", 2) else {
        return;
    };
    let fail = |envelope: &Envelope<_, Value>| match envelope.event_id() {
        "order-0-placed" => Err(SendError::Permanent {
            reason: "422: unknown SKU".into(),
        }),
        _ => Err(SendError::Transient {
            reason: "timeout".into(),
            retry_after: None,
        }),
    };
    let mut dead = 0;
    for hour in 0..3 {
        dead += store
            .run_once(at(hour * 3600), 10, fail)
            .unwrap()
            .dead_lettered;
    }
    assert_eq!(dead, 2);
    let letters: Vec<Envelope<Failed>> = store.dead_letters(10).unwrap().letters;
    let summary: Vec<(&str, u32, &str, usize)> = letters
        .iter()
        .map(|letter| {
            (
                letter.event_id(),
                letter.attempt_count(),
                letter.failure_reason(),
                letter.history().len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("order-0-placed", 1, "422: unknown SKU", 2),
            ("order-1-placed", 3, "timeout", 6)
        ]
    );
    let redriven: Envelope<Pending> = store
        .redrive(
            "webshop",
            "order-0-placed",
            "SKU added, ticket OPS-9",
            at(9000),
        )
        .unwrap();
    assert_eq!(redriven.attempt_count(), 0);
    let redriven = store
        .redrive_all::<Value>("timeouts fixed", at(9000))
        .unwrap();
    assert_eq!(redriven.redriven, 1);
    assert!(redriven.quarantined.is_empty());
    assert!(store.dead_letters::<Value>(10).unwrap().letters.is_empty());
    let report = store
        .run_once(at(9001), 10, |_: &Envelope<_, Value>| {
            Ok(Delivery::Processed)
        })
        .unwrap();
    assert_eq!(report.delivered, 2);
    let processed: Envelope<Processed> = store.load("webshop", "order-1-placed").unwrap();
    assert_eq!(
        processed.history().len(),
        9,
        "the history keeps every attempt"
    );
}

fn a_claim_whose_worker_died_is_taken_over_when_its_lease_runs_out<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("lease", 1) else {
        return;
    };
    let lease = store.options().lease;
    let first = store
        .claim_due::<Value>(at(0), 10)
        .unwrap()
        .claims
        .remove(0);
    assert_eq!(
        first.lease_until,
        at(0) + TimeDelta::from_std(lease).unwrap()
    );
    assert!(
        store
            .claim_due::<Value>(at(10), 10)
            .unwrap()
            .claims
            .is_empty()
    );
    let second = store
        .claim_due::<Value>(at(31), 10)
        .unwrap()
        .claims
        .remove(0);
    assert_eq!(second.envelope.attempt_count(), 2);
    let late = store.record(first.envelope.process_at(at(40)));
    assert!(
        matches!(late, Err(StoreError::ClaimLost { attempt: 1, .. })),
        "{late:?}"
    );
    store.record(second.envelope.process_at(at(41))).unwrap();
    assert_eq!(status_of(&mut store, 0), DeliveryStatus::Processed);
}

fn a_batch_of_outcomes_is_recorded_in_one_commit_and_a_stale_claim_refused_alone<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("record_batch", 5) else {
        return;
    };
    let mut first = store.claim_due::<Value>(at(0), 5).unwrap().claims;
    assert_eq!(first.len(), 5);
    first.sort_by(|x, y| x.envelope.event_id().cmp(y.envelope.event_id()));
    // Order 0's lease runs out and another worker takes it over: the first
    // worker's claim on it is stale.
    let taken_over = store
        .claim_due::<Value>(at(31), 1)
        .unwrap()
        .claims
        .remove(0);
    assert_eq!(taken_over.envelope.event_id(), "order-0-placed");
    // The first worker extended the other four leases, and records all five.
    for claim in &mut first[1..] {
        store.extend_lease(claim, at(29)).unwrap();
    }
    let results = [
        Ok(Delivery::Processed),
        Ok(Delivery::Processed),
        Ok(Delivery::Acknowledged),
        Err(SendError::Transient {
            reason: "503".into(),
            retry_after: Some(at(600)),
        }),
        Err(SendError::Permanent {
            reason: "rejected".into(),
        }),
    ];
    let outcomes: Vec<_> = first
        .into_iter()
        .zip(results)
        .map(|(claim, result)| Outcome::of_send(claim.envelope, result, at(40)))
        .collect();
    let recorded = store.record_batch(&outcomes).unwrap();
    assert!(
        matches!(&recorded[0], Err(StoreError::ClaimLost { attempt: 1, event_id, .. }) if event_id == "order-0-placed"),
        "{recorded:?}"
    );
    assert!(recorded[1..].iter().all(Result::is_ok), "{recorded:?}");
    let statuses: Vec<_> = (0..5).map(|n| status_of(&mut store, n)).collect();
    assert_eq!(
        statuses,
        [
            DeliveryStatus::Dispatched,
            DeliveryStatus::Processed,
            DeliveryStatus::Acknowledged,
            DeliveryStatus::Retrying,
            DeliveryStatus::Failed,
        ]
    );
    // The worker that took order 0 over records it; then the receiver's
    // "not before" on order 3 is the only time left, as after a single record.
    store
        .record(taken_over.envelope.process_at(at(41)))
        .unwrap();
    assert_eq!(store.next_due_at().unwrap(), Some(at(600)));
    let retrying = store
        .load::<Retrying, Value>("webshop", "order-3-placed")
        .unwrap();
    assert_eq!(retrying.attempt_count(), 1);
    // An empty batch records nothing and is no error.
    assert!(store.record_batch::<Value>(&[]).unwrap().is_empty());
}

fn a_batched_relay_pass_records_what_one_by_one_passes_would<B: Backend + DeliveryStore>() {
    let Some((mut store, _place)) = store_with_orders::<B>("run_batched", 6) else {
        return;
    };
    let report =
        DeliveryStore::run_once_batched(&mut store, at(0), 10, |envelope: &Envelope<_, Value>| {
            match envelope.payload()["order_id"].as_u64().unwrap_or_default() % 3 {
                0 => Ok(Delivery::Processed),
                1 => Err(SendError::Transient {
                    reason: "503".into(),
                    retry_after: None,
                }),
                _ => Err(SendError::Permanent {
                    reason: "422".into(),
                }),
            }
        })
        .unwrap();
    assert_eq!(report.claimed, 6);
    assert_eq!(
        (
            report.delivered,
            report.retried,
            report.dead_lettered,
            report.lost
        ),
        (2, 2, 2, 0)
    );
    let statuses: Vec<_> = (0..6).map(|n| status_of(&mut store, n)).collect();
    assert_eq!(
        statuses,
        [
            DeliveryStatus::Processed,
            DeliveryStatus::Retrying,
            DeliveryStatus::Failed,
            DeliveryStatus::Processed,
            DeliveryStatus::Retrying,
            DeliveryStatus::Failed,
        ]
    );
}

fn a_lost_claim_that_spends_the_budget_becomes_a_dead_letter<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("lease_dead", 1) else {
        return;
    };
    for round in 0..3 {
        assert_eq!(
            store
                .claim_due::<Value>(at(round * 100), 10)
                .unwrap()
                .claims
                .len(),
            1
        );
    }
    let claimed = store.claim_due::<Value>(at(400), 10).unwrap();
    assert_eq!((claimed.claims.len(), claimed.dead_lettered), (0, 1));
    let letter: Envelope<Failed> = store.load("webshop", "order-0-placed").unwrap();
    assert!(letter.failure_reason().starts_with("lease expired"));
    assert_eq!(
        store.number(
            "SELECT COUNT(*) FROM iap_outbox WHERE status = 'failed' AND settled_at IS NOT NULL"
        ),
        1,
        "the claim that made the dead letter kept the time it failed, for listings"
    );
}

/// A store with `count` dead letters: envelope `n` is of type
/// `commerce.order.cancelled` when `n` is odd (`placed` otherwise), from
/// `billing` when `n` is a multiple of 3 (`webshop` otherwise), and failed
/// at `at(1000 - n)`: the last enqueued failed first.
fn store_with_dead_letters<B: Backend>(name: &str, count: u32) -> Option<(B, B::Place)> {
    let place = B::place(name)?;
    let mut store = B::open(&place);
    let envelope = |n: u32| {
        Envelope::builder()
            .event_id(format!("order-{n}"))
            .event_type(if n % 2 == 1 {
                "commerce.order.cancelled"
            } else {
                "commerce.order.placed"
            })
            .source_system(if n.is_multiple_of(3) {
                "billing"
            } else {
                "webshop"
            })
            .payload(json!({ "order_id": n }))
            .created_at(start())
            .build()
            .unwrap()
    };
    store
        .write(|tx| (0..count).try_for_each(|n| B::enqueue(tx, &envelope(n), start())))
        .unwrap();
    let claims = store
        .claim_due::<Value>(at(1), count as usize)
        .unwrap()
        .claims;
    for claim in claims {
        let n: i64 = claim.envelope.event_id()[6..].parse().unwrap();
        store
            .record(claim.envelope.fail_permanently_at("422", at(1000 - n)))
            .unwrap();
    }
    Some((store, place))
}

fn ids_of<P>(letters: &[Envelope<Failed, P>]) -> Vec<String> {
    letters
        .iter()
        .map(|letter| letter.event_id().to_owned())
        .collect()
}

/// The database takes what the filter takes in memory, in the order the
/// dead letters failed, a page at a time; a redrive in batches takes every
/// one of them, and none that failed after the time the redrive began.
fn a_filter_lists_counts_and_redrives_in_batches_the_dead_letters_it_takes<
    B: Backend + DeliveryStore,
>() {
    let Some((mut store, _place)) = store_with_dead_letters::<B>("dead_letter_filter", 12) else {
        return;
    };
    let every: Vec<Envelope<Failed>> = DeliveryStore::dead_letters(&mut store, 100)
        .unwrap()
        .letters;
    let expected: Vec<String> = (0..12).rev().map(|n| format!("order-{n}")).collect();
    assert_eq!(ids_of(&every), expected, "the last enqueued failed first");
    let filters = [
        DeadLetterFilter::all(),
        DeadLetterFilter::all().of_type("commerce.order.cancelled"),
        DeadLetterFilter::all().from_source("billing"),
        DeadLetterFilter::all().failed_by(at(1000 - 6)),
        DeadLetterFilter::all()
            .of_type("commerce.order.placed")
            .from_source("webshop")
            .failed_by(at(1000 - 3)),
        DeadLetterFilter::all().of_type("no.such.type"),
    ];
    for filter in &filters {
        let taken: Vec<String> = ids_of(
            &every
                .iter()
                .filter(|letter| filter.takes(letter))
                .cloned()
                .collect::<Vec<_>>(),
        );
        let listed = store.dead_letters_matching::<Value>(filter, 100).unwrap();
        assert_eq!(ids_of(&listed.letters), taken, "{filter:?}");
        assert_eq!(
            store.count_dead_letters(filter).unwrap(),
            taken.len() as u64,
            "{filter:?}"
        );
        let first_two = store.dead_letters_matching::<Value>(filter, 2).unwrap();
        assert_eq!(
            ids_of(&first_two.letters),
            taken.iter().take(2).cloned().collect::<Vec<_>>()
        );
    }

    let cancelled = DeadLetterFilter::all()
        .of_type("commerce.order.cancelled")
        .failed_by(at(2000));
    let mut redriven = Vec::new();
    loop {
        let batch = store
            .redrive_matching::<Value>(&cancelled, 4, "fixed", at(2000))
            .unwrap();
        assert!(batch.quarantined.is_empty());
        if batch.taken() == 0 {
            break;
        }
        assert!(batch.taken() <= 4);
        redriven.extend(
            batch
                .redriven
                .iter()
                .map(|pending| pending.event_id().to_owned()),
        );
        // An envelope that fails again during the redrive is not taken again.
        if let Some(claim) = Backend::claim_due::<Value>(&mut store, at(2001), 1)
            .unwrap()
            .claims
            .pop()
        {
            Backend::record(
                &mut store,
                claim.envelope.fail_permanently_at("422 again", at(2002)),
            )
            .unwrap();
        }
    }
    assert_eq!(
        redriven,
        [
            "order-11", "order-9", "order-7", "order-5", "order-3", "order-1"
        ],
        "every cancelled order, in the order they failed"
    );
    assert_eq!(store.count_dead_letters(&cancelled).unwrap(), 0);
    assert_eq!(
        store
            .count_dead_letters(&DeadLetterFilter::all().of_type("commerce.order.cancelled"))
            .unwrap(),
        2,
        "the two that failed again after the redrive began"
    );
    assert_eq!(
        store.count_dead_letters(&DeadLetterFilter::all()).unwrap(),
        8
    );
}

/// Two operators redriving every dead letter at once, in small batches,
/// each on a connection of their own: between them they redrive each dead
/// letter once, and neither meets an error (on PostgreSQL a batch skips the
/// rows the other holds; on SQLite the batches take turns).
fn two_redrives_in_batches_at_once_share_the_dead_letters_without_an_error<
    B: Backend + DeliveryStore + Send,
>() {
    let Some((mut store, place)) = store_with_dead_letters::<B>("concurrent_redrive", 300) else {
        return;
    };
    let every = DeadLetterFilter::all().failed_by(at(2000));
    let redrive = || {
        let mut store = B::open(&place);
        let mut redriven = Vec::new();
        loop {
            let batch = store
                .redrive_matching::<Value>(&every, 10, "fixed", at(2000))
                .unwrap();
            if batch.taken() == 0 {
                return redriven;
            }
            redriven.extend(
                batch
                    .redriven
                    .iter()
                    .map(|pending| pending.event_id().to_owned()),
            );
        }
    };
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(redrive);
        let second = scope.spawn(redrive);
        (first.join().unwrap(), second.join().unwrap())
    });
    let mut all: Vec<String> = first.into_iter().chain(second).collect();
    all.sort();
    let mut expected: Vec<String> = (0..300).map(|n| format!("order-{n}")).collect();
    expected.sort();
    assert_eq!(all, expected);
    assert_eq!(store.count_dead_letters(&every).unwrap(), 0);
}

fn typed_loads_name_the_state_that_was_found<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("typed", 1) else {
        return;
    };
    let pending: Envelope<Pending> = store.load("webshop", "order-0-placed").unwrap();
    assert_eq!(pending, order_event(0));
    let error = store
        .load::<Retrying, Value>("webshop", "order-0-placed")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "stored envelope webshop/order-0-placed is `pending`, not `retrying`"
    );
    let missing = store.load::<Pending, Value>("webshop", "order-9-placed");
    assert_eq!(
        missing.unwrap_err().to_string(),
        "no stored envelope webshop/order-9-placed"
    );
    let not_outcome = store.record(order_event(0));
    assert!(matches!(
        not_outcome,
        Err(StoreError::NotAnOutcome {
            status: DeliveryStatus::Pending,
            ..
        })
    ));
}

fn counts_and_the_oldest_due_age_are_there_for_monitoring<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("counts", 3) else {
        return;
    };
    let claim = store.claim_due::<Value>(at(0), 1).unwrap().claims.remove(0);
    store.record(claim.envelope.process_at(at(1))).unwrap();
    let counts = store.counts().unwrap();
    assert_eq!(counts.outbox[&DeliveryStatus::Pending], 2);
    assert_eq!(counts.outbox[&DeliveryStatus::Processed], 1);
    assert_eq!(counts.quarantined, 0);
    assert_eq!(
        store.oldest_due_age(at(90)).unwrap(),
        Some(Duration::from_secs(90))
    );
}

fn an_envelope_held_back_behind_its_key_falls_due_with_it_and_counts_as_waiting<B: Backend>() {
    let Some(place) = B::place("held_back") else {
        return;
    };
    let mut store = B::open(&place);
    let keyed = |n: u32| {
        Envelope::builder()
            .event_id(format!("order-{n}-placed"))
            .event_type("commerce.order.placed")
            .source_system("webshop")
            .payload(json!({ "order_id": n }))
            .created_at(start())
            .ordering_key("customer-7")
            .build()
            .unwrap()
    };
    store
        .write(|tx| {
            B::enqueue(tx, &keyed(1), at(0))?;
            B::enqueue(tx, &keyed(2), at(1))
        })
        .unwrap();
    // One claim takes the head of the key; the next finds the other behind it.
    let head = store
        .claim_due::<Value>(at(10), 1)
        .unwrap()
        .claims
        .remove(0);
    assert_eq!(head.envelope.event_id(), "order-1-placed");
    assert!(
        store
            .claim_due::<Value>(at(10), 1)
            .unwrap()
            .claims
            .is_empty()
    );
    // It falls due with its head (whose lease may run out), and it has been
    // waiting since it was due.
    assert_eq!(store.next_due_at().unwrap(), Some(head.lease_until));
    assert_eq!(
        store.oldest_due_age(at(70)).unwrap(),
        Some(Duration::from_secs(69))
    );
    // The head delivered, the next claim takes it.
    store.record(head.envelope.process_at(at(11))).unwrap();
    let claims = store.claim_due::<Value>(at(12), 1).unwrap().claims;
    let ids: Vec<&str> = claims.iter().map(|c| c.envelope.event_id()).collect();
    assert_eq!(ids, ["order-2-placed"]);
}

fn received(n: u32, total: &str) -> Envelope<Pending> {
    Envelope::builder()
        .event_id(format!("order-{n}-placed"))
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": n, "total": total }))
        .created_at(start())
        .build()
        .unwrap()
}

/// Admits `envelope` with the effect of booking one shipment.
fn ship<B: Backend>(
    store: &mut B,
    envelope: Envelope<Pending>,
    now: DateTime<Utc>,
) -> Result<Admission<i64>, StoreError> {
    store.admit(envelope, now, |tx, event| {
        let order_id = event.payload()["order_id"].as_i64().unwrap_or_default();
        B::exec(
            tx,
            &format!("INSERT INTO shipments (order_id) VALUES ({order_id})"),
        )?;
        Ok::<_, StoreError>(order_id)
    })
}

fn the_inbox_applies_an_effect_once_however_often_the_event_arrives<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("inbox", 0) else {
        return;
    };
    let Admission::Processed(processed, order_id) =
        ship(&mut store, received(5, "19.90"), at(0)).unwrap()
    else {
        panic!("the first delivery must be processed")
    };
    assert_eq!(
        (processed.status(), order_id),
        (DeliveryStatus::Processed, 5)
    );
    for second in 1..4 {
        let Admission::Duplicate(skipped) =
            ship(&mut store, received(5, "19.90"), at(second)).unwrap()
        else {
            panic!("a redelivery must be a duplicate")
        };
        assert!(skipped.skip_reason().starts_with("duplicate"));
    }
    assert_eq!(store.number("SELECT COUNT(*) FROM shipments"), 1);
    let reused = ship(&mut store, received(5, "99.00"), at(5)).unwrap_err();
    assert_eq!(
        reused.to_string(),
        "event webshop/order-5-placed was received before as a different event (its payload or attributes differ); an event id must not be reused"
    );
    // The same payload under another attribute is another event too.
    let same_payload = || {
        Envelope::builder()
            .event_id("order-5-placed")
            .source_system("webshop")
            .payload(json!({ "order_id": 5, "total": "19.90" }))
            .created_at(start())
    };
    for (what, other) in [
        (
            "type",
            same_payload().event_type("commerce.order.cancelled"),
        ),
        (
            "subject",
            same_payload()
                .event_type("commerce.order.placed")
                .subject("order/5"),
        ),
        (
            "time",
            same_payload()
                .event_type("commerce.order.placed")
                .created_at(at(9)),
        ),
        (
            "extension",
            same_payload()
                .event_type("commerce.order.placed")
                .extension("tenant", "acme"),
        ),
    ] {
        let reused = ship(&mut store, other.build().unwrap().to_received(), at(6));
        assert!(
            matches!(reused, Err(StoreError::KeyReused { .. })),
            "another {what} is a reuse: {reused:?}"
        );
    }
    assert_eq!(store.number("SELECT COUNT(*) FROM shipments"), 1);
    assert_eq!(store.counts().unwrap().inbox_keys, 1);
}

/// A contact event of the CRM, with every attribute an effect may read.
fn contact_event(event_type: &str) -> Envelope<Pending> {
    let verb = event_type.rsplit('.').next().unwrap_or_default();
    Envelope::builder()
        .event_id(format!("contact-42-{verb}"))
        .event_type(event_type)
        .source_system("crm")
        .payload(json!({ "contact_id": 42 }))
        .created_at(
            "2026-03-01T10:00:00+02:00"
                .parse::<DateTime<FixedOffset>>()
                .unwrap(),
        )
        .subject("contact/42")
        .extension("tenant", "acme")
        .build()
        .unwrap()
        .to_received()
}

/// The row an effect writes for each type of contact event it knows
/// (`order_id` stands for the handler that ran), or the error for another.
fn route_contact<B: Backend>(
    tx: &mut B::Tx<'_>,
    event: &Envelope<Dispatched>,
) -> Result<(String, Option<String>), String> {
    let handler = match event.event_type() {
        "crm.contact.created" => 1,
        "crm.contact.updated" => 2,
        other => return Err(format!("no handler for {other}")),
    };
    B::exec(
        tx,
        &format!("INSERT INTO shipments (order_id) VALUES ({handler})"),
    )
    .map_err(|error| error.to_string())?;
    Ok((
        event.event_id().to_owned(),
        event.subject().map(str::to_owned),
    ))
}

fn an_inbox_effect_sees_the_whole_event_and_routes_on_its_type<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("effect_view", 0) else {
        return;
    };
    let created = contact_event("crm.contact.created");
    let admitted = store
        .admit(created.clone(), at(1), |_, event| {
            Ok::<_, StoreError>((event.status(), event.attempt_count(), event.to_received()))
        })
        .unwrap();
    let Admission::Processed(_, (status, attempts, seen)) = admitted else {
        panic!("the first delivery must be processed")
    };
    // The effect sees the envelope dispatched to it, every attribute as received.
    assert_eq!((status, attempts), (DeliveryStatus::Dispatched, 1));
    assert_eq!(seen, created);
    assert_eq!(
        seen.time().map(|time| time.to_rfc3339()).as_deref(),
        Some("2026-03-01T10:00:00+02:00")
    );
    assert_eq!(
        seen.extension("tenant"),
        Some(&ExtensionValue::Text("acme".to_owned()))
    );

    let batch = vec![
        contact_event("crm.contact.created"),
        contact_event("crm.contact.updated"),
        contact_event("crm.contact.merged"),
    ];
    let results = store.admit_batch(batch, at(2), route_contact::<B>).unwrap();
    let outcomes: Vec<String> = results
        .into_iter()
        .map(|result| match result.unwrap() {
            Admission::Processed(_, (id, subject)) => format!("{id} {subject:?}"),
            Admission::Duplicate(skipped) => format!("duplicate {}", skipped.event_id()),
            Admission::Failed(failed) => format!("failed: {}", failed.reason()),
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            "duplicate contact-42-created",
            "contact-42-updated Some(\"contact/42\")",
            "failed: no handler for crm.contact.merged",
        ]
    );
    assert_eq!(
        store.number("SELECT CAST(SUM(order_id) AS BIGINT) FROM shipments"),
        2
    );
}

fn a_failed_effect_rolls_back_and_fails_through_the_retry_policy<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("inbox_fail", 0) else {
        return;
    };
    let one_attempt = RetryPolicy::builder().max_attempts(1).build().unwrap();
    let last_chance = Envelope::builder()
        .event_id("order-7-placed")
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": 7 }))
        .retry_policy(one_attempt)
        .build()
        .unwrap();
    for (envelope, exhausted) in [(received(6, "1.00"), false), (last_chance, true)] {
        let admission = store
            .admit(envelope, at(0), |tx, event| {
                let order_id = event.payload()["order_id"].as_i64().unwrap_or_default();
                B::exec(
                    tx,
                    &format!("INSERT INTO shipments (order_id) VALUES ({order_id})"),
                )
                .map_err(|error| error.to_string())?;
                Err::<(), _>("the warehouse is closed".to_owned())
            })
            .unwrap();
        let Admission::Failed(outcome) = admission else {
            panic!("a failed effect must fail the envelope")
        };
        assert_eq!(outcome.is_exhausted(), exhausted);
        if let FailOutcome::Retry(retrying) = outcome {
            assert_eq!(retrying.failure_reason(), "the warehouse is closed");
        }
    }
    assert_eq!(
        store.number("SELECT COUNT(*) FROM shipments"),
        0,
        "the effect's writes were rolled back"
    );
    assert_eq!(store.counts().unwrap().inbox_keys, 0, "no key was recorded");
    assert!(matches!(
        ship(&mut store, received(6, "1.00"), at(60)).unwrap(),
        Admission::Processed(..)
    ));
}

fn delivered_envelopes_are_deleted_after_the_retention_window_and_nothing_else<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("delivered_retention", 0) else {
        return;
    };
    let window = TimeDelta::from_std(store.options().delivered_retention).unwrap();
    // More than one purge batch, delivered at 0 s.
    let bulk: u32 = 1_050;
    store
        .write(|tx| {
            for n in 100..100 + bulk {
                B::enqueue(tx, &order_event(n), at(0))?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let report = store
        .run_once(at(0), bulk as usize, |_: &Envelope<_, Value>| {
            Ok(Delivery::Processed)
        })
        .unwrap();
    assert_eq!(report.delivered, bulk as usize);
    // Then one envelope in each state a row can be in, settled at 2 s or not.
    store
        .write(|tx| {
            for n in 0..5 {
                B::enqueue(tx, &order_event(n), at(1))?;
            }
            B::enqueue(tx, &order_event(5), at(3) + window)
        })
        .unwrap();
    let claimed = store.claim_due::<Value>(at(1), 10).unwrap().claims;
    assert_eq!(claimed.len(), 5);
    for claim in claimed {
        let envelope = claim.envelope;
        match envelope.event_id() {
            "order-0-placed" => store.record(envelope.process_at(at(2))).unwrap(),
            "order-1-placed" => store.record(envelope.acknowledge_at(at(2))).unwrap(),
            "order-2-placed" => store
                .record(envelope.fail_permanently_at("422", at(2)))
                .unwrap(),
            "order-3-placed" => store.record(envelope.fail_at("timeout", at(2))).unwrap(),
            _ => {} // order-4 stays in flight
        }
    }

    assert_eq!(
        store.purge_delivered(at(0) + window).unwrap(),
        0,
        "nothing has been settled for longer than the window yet"
    );
    assert_eq!(
        store.purge_delivered(at(1) + window).unwrap(),
        bulk as usize,
        "the first batch, in several transactions"
    );
    assert_eq!(store.purge_delivered(at(2) + window).unwrap(), 0);
    assert_eq!(
        store.purge_delivered(at(3) + window).unwrap(),
        2,
        "the processed and the acknowledged envelope"
    );

    let counts = store.counts().unwrap().outbox;
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [
            (DeliveryStatus::Pending, 1),
            (DeliveryStatus::Dispatched, 1),
            (DeliveryStatus::Retrying, 1),
            (DeliveryStatus::Failed, 1),
        ],
        "the due, the in-flight, the retrying envelope and the dead letter are kept"
    );
    assert!(store.verify().unwrap().is_empty());
}

fn inbox_keys_are_forgotten_after_the_retention_window<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("retention", 0) else {
        return;
    };
    let window = store.options().inbox_retention;
    let later =
        |seconds: i64| at(0) + TimeDelta::from_std(window).unwrap() + TimeDelta::seconds(seconds);
    assert!(matches!(
        ship(&mut store, received(1, "1"), at(0)).unwrap(),
        Admission::Processed(..)
    ));
    assert!(matches!(
        ship(&mut store, received(1, "1"), later(-1)).unwrap(),
        Admission::Duplicate(..)
    ));
    assert_eq!(store.purge_inbox(later(-1)).unwrap(), 0);
    assert_eq!(store.purge_inbox(later(1)).unwrap(), 1);
    assert!(matches!(
        ship(&mut store, received(1, "1"), later(2)).unwrap(),
        Admission::Processed(..)
    ));
    // An expired key counts as gone even before a purge.
    assert!(matches!(
        ship(
            &mut store,
            received(1, "1"),
            later(2) + TimeDelta::from_std(window).unwrap() + TimeDelta::seconds(1)
        )
        .unwrap(),
        Admission::Processed(..)
    ));
}

fn a_batch_admits_each_envelope_by_the_same_rules_in_one_commit<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("batch", 0) else {
        return;
    };
    assert!(matches!(
        ship(&mut store, received(3, "1.00"), at(0)).unwrap(),
        Admission::Processed(..)
    ));
    let batch = vec![
        received(1, "1.00"),
        received(1, "1.00"),
        received(2, "1.00"),
        received(3, "2.00"),
        received(4, "1.00"),
    ];
    let results = store
        .admit_batch(batch, at(1), |tx, event| {
            let order_id = event.payload()["order_id"].as_i64().unwrap_or_default();
            B::exec(
                tx,
                &format!("INSERT INTO shipments (order_id) VALUES ({order_id})"),
            )
            .map_err(|error| error.to_string())?;
            if order_id == 2 {
                return Err("the warehouse is closed for order 2".to_owned());
            }
            Ok(order_id)
        })
        .unwrap();
    let kinds: Vec<&str> = results
        .iter()
        .map(|result| match result {
            Ok(Admission::Processed(..)) => "processed",
            Ok(Admission::Duplicate(_)) => "duplicate",
            Ok(Admission::Failed(_)) => "failed",
            Err(StoreError::KeyReused { .. }) => "key reused",
            Err(_) => "other error",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "processed",
            "duplicate",
            "failed",
            "key reused",
            "processed"
        ]
    );
    assert_eq!(
        store.number("SELECT COUNT(*) FROM shipments"),
        3,
        "order 2's write was rolled back alone"
    );
    assert_eq!(
        store.number("SELECT COUNT(*) FROM shipments WHERE order_id = 2"),
        0
    );
    assert_eq!(store.counts().unwrap().inbox_keys, 3);
}

fn an_unreadable_row_is_quarantined_and_named_and_no_other_row_is_touched<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("corrupt", 3) else {
        return;
    };
    store
        .write(|tx| {
            B::exec(
                tx,
                "UPDATE iap_outbox SET envelope = '{\"specversion\": \"1.0\", \"truncated\": true}' WHERE event_id = 'order-1-placed'",
            )?;
            B::exec(tx, "UPDATE iap_outbox SET status = 'dispatched' WHERE event_id = 'order-2-placed'")?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let claimed = store.claim_due::<Value>(at(0), 10).unwrap();
    let claimed_ids: Vec<&str> = claimed
        .claims
        .iter()
        .map(|c| c.envelope.event_id())
        .collect();
    assert_eq!(claimed_ids, ["order-0-placed"]);
    let mut problems: Vec<String> = claimed
        .quarantined
        .iter()
        .map(ToString::to_string)
        .collect();
    problems.sort();
    assert_eq!(problems.len(), 2);
    assert!(
        problems[0].starts_with("stored envelope webshop/order-1-placed is unreadable: "),
        "{}",
        problems[0]
    );
    assert_eq!(
        problems[1],
        "stored envelope webshop/order-2-placed is unreadable: the row is marked `dispatched` but holds a `pending` envelope"
    );
    assert_eq!(store.counts().unwrap().quarantined, 2);
    assert!(
        store
            .claim_due::<Value>(at(3600), 10)
            .unwrap()
            .quarantined
            .is_empty()
    );
    let error = store
        .load_any::<Value>("webshop", "order-1-placed")
        .unwrap_err();
    assert!(
        matches!(error, StoreError::CorruptRow { ref event_id, .. } if event_id == "order-1-placed")
    );
}

fn threads_admitting_the_same_keys_apply_each_effect_once<B: Backend>() {
    let Some((store, place)) = store_with_orders::<B>("threads", 0) else {
        return;
    };
    drop(store);
    let keys = 40;
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let mut store = B::open(&place);
                for n in 0..keys {
                    let admission = ship(&mut store, received(n, "5.00"), at(0)).unwrap();
                    assert!(!matches!(admission, Admission::Failed(_)));
                }
            });
        }
    });
    let mut store = B::open(&place);
    assert_eq!(
        store.number("SELECT COUNT(*) FROM shipments"),
        i64::from(keys)
    );
    assert_eq!(
        store.number("SELECT COUNT(DISTINCT order_id) FROM shipments"),
        i64::from(keys)
    );
}

fn workers_claiming_at_once_never_share_an_envelope<B: Backend>() {
    let Some((store, place)) = store_with_orders::<B>("workers", 200) else {
        return;
    };
    drop(store);
    let claimed: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let mut store = B::open(&place);
                    let mut mine = Vec::new();
                    loop {
                        let claims = store.claim_due::<Value>(at(1), 7).unwrap().claims;
                        if claims.is_empty() {
                            return mine;
                        }
                        for claim in claims {
                            mine.push(claim.envelope.event_id().to_owned());
                            store.record(claim.envelope.process_at(at(2))).unwrap();
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    });
    let mut unique = claimed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(claimed.len(), 200, "every envelope claimed once");
    assert_eq!(unique.len(), 200, "no envelope claimed twice");
}

fn a_store_of_schema_version_1_is_migrated_and_every_envelope_reads_back_equal<B: Backend>() {
    migrated_from::<B>(1);
}

fn a_store_of_schema_version_2_is_migrated_and_every_envelope_reads_back_equal<B: Backend>() {
    migrated_from::<B>(2);
}

fn a_store_of_the_schema_version_before_the_current_one_is_migrated_and_every_envelope_reads_back_equal<
    B: Backend,
>() {
    migrated_from::<B>(B::SCHEMA_VERSION - 1);
}

/// A store with an envelope in every stored state, taken back to schema
/// `version`, opens migrated to the current one with every envelope equal.
fn migrated_from<B: Backend>(version: i64) {
    let Some((mut store, place)) = store_with_orders::<B>(&format!("migrate_v{version}"), 5) else {
        return;
    };
    for claim in store.claim_due::<Value>(at(1), 5).unwrap().claims {
        let envelope = claim.envelope;
        match envelope.event_id() {
            "order-1-placed" => store.record(envelope.fail_at("timeout", at(2))).unwrap(),
            "order-2-placed" => store
                .record(envelope.fail_permanently_at("422", at(2)))
                .unwrap(),
            "order-3-placed" => store.record(envelope.process_at(at(2))).unwrap(),
            "order-4-placed" => store.record(envelope.acknowledge_at(at(2))).unwrap(),
            _ => {}
        }
    }
    // The last with an ordering key, which a migration to a schema with a
    // column for it reads from the envelope.
    let keyed = Envelope::builder()
        .event_id("order-6-placed")
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": 6 }))
        .created_at(start())
        .ordering_key("customer-7")
        .build()
        .unwrap();
    store
        .write(|tx| {
            B::enqueue(tx, &order_event(5), at(3))?;
            B::enqueue(tx, &keyed, at(3))
        })
        .unwrap();
    let every_state = |store: &mut B| -> Vec<integration_automation_patterns::AnyEnvelope> {
        (0..7)
            .map(|n| {
                store
                    .load_any("webshop", &format!("order-{n}-placed"))
                    .unwrap()
            })
            .collect()
    };
    // An inbox key, which versions before 6 kept as its payload alone.
    let inbox_event = || {
        Envelope::builder()
            .event_id("refund-1")
            .event_type("commerce.refund.issued")
            .source_system("webshop")
            .payload(json!("refund 1"))
            .created_at(start())
            .build()
            .unwrap()
    };
    let admit = |store: &mut B, envelope: Envelope<Pending>| {
        store
            .admit(envelope, at(4), |_, _| Ok::<_, String>(()))
            .map(|admission| matches!(admission, Admission::Duplicate(_)))
    };
    assert!(!admit(&mut store, inbox_event()).unwrap());
    let before = every_state(&mut store);
    let mut states: Vec<DeliveryStatus> = before.iter().map(|e| e.status()).collect();
    states.sort();
    states.dedup();
    assert_eq!(states.len(), 6, "one envelope in each stored state");
    // The tables as that version of the schema left them.
    store
        .write(|tx| {
            let steps = usize::try_from(B::SCHEMA_VERSION - version.max(2)).unwrap();
            for statement in B::DOWNGRADES[..steps].iter().copied().flatten() {
                B::exec(tx, statement)?;
            }
            if version == 1 {
                B::exec(tx, "DROP INDEX iap_outbox_stray")?;
                B::exec(tx, "ALTER TABLE iap_outbox DROP COLUMN renewed_at")?;
            }
            B::exec(
                tx,
                &format!("UPDATE iap_meta SET value = {version} WHERE name = 'schema_version'"),
            )
        })
        .unwrap();
    drop(store);

    let mut store = B::open(&place);
    assert_eq!(
        store.number("SELECT value FROM iap_meta WHERE name = 'schema_version'"),
        B::SCHEMA_VERSION
    );
    assert_eq!(every_state(&mut store), before);
    assert_eq!(
        store.number(
            "SELECT COUNT(*) FROM iap_outbox WHERE settled_at IS NOT NULL AND status <> 'failed'"
        ),
        2,
        "the processed and the acknowledged envelope count as settled at the migration"
    );
    assert_eq!(
        store.number(
            "SELECT COUNT(*) FROM iap_outbox WHERE settled_at IS NOT NULL AND status = 'failed'"
        ),
        1,
        "the dead letter keeps the time it failed"
    );
    assert!(store.verify().unwrap().is_empty());
    assert!(
        admit(&mut store, inbox_event()).unwrap(),
        "a key kept before the migration still answers its redelivery as a duplicate"
    );
    let claimed = store.claim_due::<Value>(at(3600), 10).unwrap();
    assert_eq!(
        claimed.claims.len(),
        4,
        "the dispatched, the retry and the two pending"
    );
}

/// Dead letters come in the order they failed, not the order they were
/// enqueued in; one redriven that fails again goes to the end. A store of
/// the schema version before the current one kept no failure time: its
/// migration reads it from each dead letter's history.
fn dead_letters_are_listed_in_the_order_they_failed_before_and_after_the_migration<B: Backend>() {
    let Some((mut store, place)) = store_with_orders::<B>("failed_order", 4) else {
        return;
    };
    let failed_at = [(0, 5), (1, 4), (2, 2), (3, 3)];
    for claim in store.claim_due::<Value>(at(1), 4).unwrap().claims {
        let n: u32 = claim.envelope.event_id()[6..7].parse().unwrap();
        let seconds = failed_at[n as usize].1;
        store
            .record(claim.envelope.fail_permanently_at("422", at(seconds)))
            .unwrap();
    }
    let listed = |store: &mut B, limit: usize| -> Vec<String> {
        store
            .dead_letters::<Value>(limit)
            .unwrap()
            .letters
            .iter()
            .map(|letter| letter.event_id().to_owned())
            .collect()
    };
    let ids =
        |ns: &[u32]| -> Vec<String> { ns.iter().map(|n| format!("order-{n}-placed")).collect() };
    assert_eq!(listed(&mut store, 10), ids(&[2, 3, 1, 0]));
    assert_eq!(listed(&mut store, 2), ids(&[2, 3]));
    let redriven: Envelope<Pending> = store
        .redrive("webshop", "order-2-placed", "fixed", at(6))
        .unwrap();
    assert_eq!(redriven.event_id(), "order-2-placed");
    let claim = store.claim_due::<Value>(at(7), 1).unwrap().claims.remove(0);
    store
        .record(claim.envelope.fail_permanently_at("422 again", at(8)))
        .unwrap();
    assert_eq!(listed(&mut store, 10), ids(&[3, 1, 0, 2]));

    store
        .write(|tx| {
            for statement in B::DOWNGRADES[0] {
                B::exec(tx, statement)?;
            }
            B::exec(
                tx,
                &format!(
                    "UPDATE iap_meta SET value = {} WHERE name = 'schema_version'",
                    B::SCHEMA_VERSION - 1
                ),
            )
        })
        .unwrap();
    drop(store);
    let mut store = B::open(&place);
    assert_eq!(listed(&mut store, 10), ids(&[3, 1, 0, 2]));
    assert!(store.verify().unwrap().is_empty());
}

fn every_cloudevents_attribute_is_kept_through_the_store<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("attributes", 0) else {
        return;
    };
    let event = Envelope::builder()
        .event_id("contact-42-updated")
        .event_type("crm.contact.updated")
        .source_system("crm")
        .payload(json!({ "contact_id": 42 }))
        .created_at(start())
        .subject("contact/42")
        .data_schema("https://schemas.example.com/contact/v2")
        .data_content_type("application/json; charset=utf-8")
        .extension("tenant", "acme")
        .extension("priority", 3)
        .extension("replay", false)
        .traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .tracestate("rojo=00f067aa0ba902b7")
        .build()
        .unwrap();
    store.write(|tx| B::enqueue(tx, &event, start())).unwrap();
    let claim = store.claim_due::<Value>(at(1), 1).unwrap().claims.remove(0);
    assert_eq!(claim.envelope.to_received(), event.to_received());
    store.record(claim.envelope.process_at(at(2))).unwrap();
    let processed: Envelope<Processed> = store.load("crm", "contact-42-updated").unwrap();
    assert_eq!(processed.to_received(), event);
    assert_eq!(processed.traceparent(), event.traceparent());
    assert_eq!(processed.extensions(), event.extensions());
}

/// A payload nested `levels` deep in arrays.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!([inner]))
}

fn an_envelope_that_would_not_read_back_is_refused_at_enqueue<B: Backend>() {
    let Some((mut store, _place)) = store_with_orders::<B>("deep", 0) else {
        return;
    };
    let with_payload = |id: &str, payload: Value| {
        Envelope::builder()
            .event_id(id)
            .event_type("t")
            .source_system("deep")
            .payload(payload)
            .created_at(start())
            .build()
            .unwrap()
    };
    // The deepest payload that reads back is accepted and reads back.
    let deepest = with_payload("deepest", nested(126));
    store.write(|tx| B::enqueue(tx, &deepest, at(0))).unwrap();
    let claimed = store.claim_due::<Value>(at(1), 10).unwrap();
    assert_eq!(claimed.claims.len(), 1);
    assert_eq!(claimed.claims[0].envelope.payload(), &nested(126));
    // One level more is refused, and nothing of its transaction is written.
    let refused = store
        .write(|tx| {
            B::enqueue(tx, &with_payload("before", json!(1)), at(0))?;
            B::enqueue(tx, &with_payload("too-deep", nested(127)), at(0))
        })
        .unwrap_err();
    assert!(matches!(refused, StoreError::Encode { .. }), "{refused:?}");
    assert!(refused.to_string().contains("128 levels deep"), "{refused}");
    assert!(
        store
            .claim_due::<Value>(at(2), 10)
            .unwrap()
            .claims
            .is_empty()
    );
    assert!(store.verify().unwrap().is_empty());
}
