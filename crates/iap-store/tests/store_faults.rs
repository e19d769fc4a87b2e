//! The stores under faults, one suite run unchanged against every store
//! (blocking and async, SQLite and PostgreSQL):
//! rows edited by hand (each kind of bad row, in each state, beside good rows
//! and alone), quarantine and its release, a database fault in the middle of
//! a relay batch, and lease renewal.
#![cfg(any(feature = "sqlite", feature = "postgres"))]

use iap_test_support::backends;
use iap_test_support::for_each_backend;

use std::time::Duration;

use backends::FaultBackend;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use iap_store::{Delivery, SendError, StoreError, StoreOptions};
use integration_automation_patterns::state::Pending;
use integration_automation_patterns::{DeliveryStatus, Envelope};
use serde_json::{Value, json};

for_each_backend!(
    every_kind_of_bad_row_is_quarantined_alone_and_every_good_row_is_served_as_before,
    loading_or_redriving_a_bad_row_quarantines_it_and_names_it,
    a_quarantined_row_is_released_after_a_repair_or_deleted,
    a_released_row_is_settled_as_its_envelope_says,
    a_database_fault_mid_batch_spends_no_attempt_of_an_unsent_envelope,
    a_renewed_lease_holds_the_claim_and_its_expiry_says_the_worker_fell_silent,
    a_forged_history_time_cannot_push_a_retry_out_of_reach,
);

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn at(seconds: i64) -> DateTime<Utc> {
    start() + TimeDelta::seconds(seconds)
}

/// When the read paths run: every lease and every retry has come due.
fn later() -> DateTime<Utc> {
    at(7200)
}

fn id(n: u32) -> String {
    format!("order-{n}-placed")
}

fn order_event(n: u32, created: DateTime<Utc>) -> Envelope<Pending> {
    Envelope::builder()
        .event_id(id(n))
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": n }))
        .created_at(created)
        .build()
        .unwrap()
}

/// The row of each state that a tamper is applied to.
const TARGETS: [(DeliveryStatus, u32); 4] = [
    (DeliveryStatus::Dispatched, 0),
    (DeliveryStatus::Retrying, 2),
    (DeliveryStatus::Failed, 4),
    (DeliveryStatus::Pending, 6),
];

/// The edits by hand that every backend can suffer, in the same SQL: an
/// `UPDATE … SET` clause, and words the quarantine reason must hold. (The
/// backends' `TYPE_TAMPERS` add those whose SQL depends on column types: a
/// due time that is no time, a history that does not replay, and more.)
const TAMPERS: [(&str, &str, &str); 3] = [
    (
        "another event's JSON",
        "envelope = (SELECT envelope FROM iap_outbox WHERE event_id = 'order-9-placed')",
        "the row holds envelope webshop/order-9-placed",
    ),
    (
        "a status that disagrees with the JSON",
        "status = CASE WHEN status = 'failed' THEN 'pending' ELSE 'failed' END",
        "envelope",
    ),
    (
        "an attempt count that disagrees with the JSON",
        "attempts = attempts + 5",
        "attempts but its envelope",
    ),
];

/// A fresh store holding ten orders: 0 and 1 dispatched (their worker gone),
/// 2 and 3 retrying, 4 and 5 dead letters, 6 to 9 pending.
fn store_in_every_state<B: FaultBackend>(name: &str) -> Option<(B, B::Place)> {
    let place = B::place(name)?;
    let mut store = B::open(&place);
    for n in 0..6 {
        store
            .write(|tx| B::enqueue(tx, &order_event(n, start()), start()))
            .unwrap();
    }
    for claim in store.claim_due::<Value>(at(1), 6).unwrap().claims {
        let envelope = claim.envelope;
        match envelope.event_id() {
            "order-2-placed" | "order-3-placed" => {
                let retrying = envelope.fail_at("timeout", at(2));
                store.record(retrying).unwrap();
            }
            "order-4-placed" | "order-5-placed" => {
                store
                    .record(envelope.fail_permanently_at("422: unknown SKU", at(2)))
                    .unwrap();
            }
            _ => {}
        }
    }
    for n in 6..10 {
        store
            .write(|tx| B::enqueue(tx, &order_event(n, at(3)), at(3)))
            .unwrap();
    }
    Some((store, place))
}

fn tamper<B: FaultBackend>(store: &mut B, set: &str, target: u32) {
    let sql = format!(
        "UPDATE iap_outbox SET {set} WHERE event_id = '{}'",
        id(target)
    );
    let changed = store.write(|tx| B::exec(tx, &sql)).unwrap();
    assert_eq!(changed, 1, "{sql}");
}

/// The event id an error names, for a `CorruptRow`.
fn corrupt_id(error: &StoreError) -> String {
    match error {
        StoreError::CorruptRow { event_id, .. } => event_id.clone(),
        other => panic!("expected a corrupt row, got {other}"),
    }
}

/// What every read path serves, run in the order an operator and a relay
/// would meet them, and the rows each quarantined on the way.
#[derive(Clone, Debug, Default, PartialEq)]
struct Served {
    verified: Vec<String>,
    loaded: Vec<(String, DeliveryStatus)>,
    letters: Vec<String>,
    redriven: usize,
    claimed: Vec<String>,
    next_due: bool,
    quarantined_by: Vec<(&'static str, String)>,
}

fn serve<B: FaultBackend>(store: &mut B, skip: u32) -> Served {
    let mut served = Served::default();
    let counts = store.counts().unwrap();
    served.verified = store.verify().unwrap().iter().map(corrupt_id).collect();
    assert_eq!(store.counts().unwrap(), counts, "verify changes nothing");
    assert_eq!(
        store
            .verify()
            .unwrap()
            .iter()
            .map(corrupt_id)
            .collect::<Vec<_>>(),
        served.verified
    );
    for n in (0..10).filter(|&n| n != skip) {
        if let Ok(envelope) = store.load_any::<Value>("webshop", &id(n)) {
            served.loaded.push((id(n), envelope.status()));
        }
    }
    let letters = store.dead_letters::<Value>(10).unwrap();
    served.letters = letters
        .letters
        .iter()
        .map(|l| l.event_id().to_owned())
        .collect();
    for error in &letters.quarantined {
        served
            .quarantined_by
            .push(("dead_letters", corrupt_id(error)));
    }
    let redriven = store.redrive_all::<Value>("fixed", later()).unwrap();
    served.redriven = redriven.redriven;
    for error in &redriven.quarantined {
        served
            .quarantined_by
            .push(("redrive_all", corrupt_id(error)));
    }
    served.next_due = store.next_due_at().unwrap().is_some();
    store.oldest_due_age(later()).unwrap();
    let claimed = store.claim_due::<Value>(later(), 100).unwrap();
    let mut claimed_ids: Vec<String> = claimed
        .claims
        .iter()
        .map(|c| c.envelope.event_id().to_owned())
        .collect();
    claimed_ids.sort();
    served.claimed = claimed_ids;
    for error in &claimed.quarantined {
        served.quarantined_by.push(("claim_due", corrupt_id(error)));
    }
    served
}

/// What a sound store serves, less the row `skip`.
fn served_without<B: FaultBackend>(name: &str, skip: u32) -> Option<Served> {
    let (mut store, _place) = store_in_every_state::<B>(name)?;
    let mut served = serve(&mut store, skip);
    assert!(served.verified.is_empty() && served.quarantined_by.is_empty());
    let skipped = id(skip);
    if served.letters.contains(&skipped) {
        served.redriven -= 1;
    }
    served.letters.retain(|letter| *letter != skipped);
    served.claimed.retain(|claimed| *claimed != skipped);
    Some(served)
}

fn every_kind_of_bad_row_is_quarantined_alone_and_every_good_row_is_served_as_before<
    B: FaultBackend,
>() {
    let tampers = TAMPERS.iter().chain(B::TYPE_TAMPERS);
    for (kind, set, words) in tampers {
        for (state, target) in TARGETS {
            let case = format!("{kind}, on a {state} row");
            let Some(expected) = served_without::<B>("sound", target) else {
                return;
            };
            for alone in [false, true] {
                let Some((mut store, _place)) = store_in_every_state::<B>("tampered") else {
                    return;
                };
                tamper(&mut store, set, target);
                if alone {
                    let others =
                        format!("DELETE FROM iap_outbox WHERE event_id <> '{}'", id(target));
                    store.write(|tx| B::exec(tx, &others)).unwrap();
                }
                let served = serve(&mut store, target);
                let case = format!("{case}{}", if alone { ", alone" } else { "" });
                assert_eq!(served.verified, [id(target)], "{case}");
                let named: Vec<&String> = served.quarantined_by.iter().map(|(_, id)| id).collect();
                assert_eq!(named, [&id(target)], "{case}: named once, by one path");
                if !alone {
                    let good = Served {
                        verified: served.verified.clone(),
                        quarantined_by: served.quarantined_by.clone(),
                        ..expected.clone()
                    };
                    assert_eq!(served, good, "{case}");
                }
                let counts = store.counts().unwrap();
                assert_eq!(counts.quarantined, 1, "{case}");
                let listed = store.quarantined(10).unwrap();
                assert_eq!(listed.len(), 1, "{case}");
                assert_eq!(listed[0].event_id, id(target), "{case}");
                assert!(
                    listed[0].reason.contains(words),
                    "{case}: {}",
                    listed[0].reason
                );
                let loaded = store.load_any::<Value>("webshop", &id(target)).unwrap_err();
                match loaded {
                    StoreError::CorruptRow { reason, .. } => assert_eq!(reason, listed[0].reason),
                    other => panic!("{case}: {other}"),
                }
                assert!(store.verify().unwrap().is_empty(), "{case}");
            }
        }
    }
}

fn loading_or_redriving_a_bad_row_quarantines_it_and_names_it<B: FaultBackend>() {
    let Some((mut store, _place)) = store_in_every_state::<B>("load_bad") else {
        return;
    };
    tamper(&mut store, "attempts = attempts + 1", 6);
    tamper(&mut store, "attempts = attempts + 1", 4);
    let loaded = store.load_any::<Value>("webshop", &id(6)).unwrap_err();
    assert_eq!(
        loaded.to_string(),
        "stored envelope webshop/order-6-placed is unreadable: the row counts 1 attempts but its envelope 0"
    );
    let redriven = store
        .redrive::<Value>("webshop", &id(4), "fixed", later())
        .unwrap_err();
    assert_eq!(corrupt_id(&redriven), id(4));
    assert_eq!(store.counts().unwrap().quarantined, 2);
    // The other dead letter is listed and redriven as before.
    let letters = store.dead_letters::<Value>(10).unwrap();
    assert_eq!(letters.letters.len(), 1);
    assert!(letters.quarantined.is_empty());
    let redriven = store
        .redrive::<Value>("webshop", &id(5), "fixed", later())
        .unwrap();
    assert_eq!(redriven.attempt_count(), 0);
}

fn a_quarantined_row_is_released_after_a_repair_or_deleted<B: FaultBackend>() {
    let Some((mut store, _place)) = store_in_every_state::<B>("release") else {
        return;
    };
    tamper(&mut store, "attempts = 7", 2);
    tamper(&mut store, "attempts = 7", 6);
    let claimed = store.claim_due::<Value>(later(), 100).unwrap();
    assert_eq!(claimed.quarantined.len(), 2);
    drop(claimed);

    // Released before the repair: read again, refused again, still set aside.
    let refused = store
        .release_quarantined::<Value>("webshop", &id(2), later())
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("the row counts 7 attempts but its envelope 1")
    );
    assert_eq!(store.counts().unwrap().quarantined, 2);

    let repair = format!(
        "UPDATE iap_outbox SET attempts = 1 WHERE event_id = '{}'",
        id(2)
    );
    store.write(|tx| B::exec(tx, &repair)).unwrap();
    let released = store
        .release_quarantined::<Value>("webshop", &id(2), later())
        .unwrap();
    assert_eq!(released.status(), DeliveryStatus::Retrying);
    let claims = store.claim_due::<Value>(later(), 100).unwrap().claims;
    let ids: Vec<&str> = claims.iter().map(|c| c.envelope.event_id()).collect();
    assert_eq!(ids, [id(2).as_str()], "the released retry is due again");

    store.delete_quarantined("webshop", &id(6)).unwrap();
    assert!(matches!(
        store.load_any::<Value>("webshop", &id(6)),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete_quarantined("webshop", &id(6)),
        Err(StoreError::NotQuarantined { .. })
    ));
    assert!(matches!(
        store.release_quarantined::<Value>("webshop", &id(7), later()),
        Err(StoreError::NotQuarantined { .. })
    ));
    assert_eq!(
        store.number("SELECT COUNT(*) FROM iap_outbox WHERE status = 'quarantined'"),
        0
    );
    assert!(store.quarantined(10).unwrap().is_empty());
}

fn a_released_row_is_settled_as_its_envelope_says<B: FaultBackend>() {
    let Some(place) = B::place("release_settled") else {
        return;
    };
    let mut store = B::open(&place);
    store
        .write(|tx| B::enqueue(tx, &order_event(0, start()), start()))
        .unwrap();
    for claim in store.claim_due::<Value>(at(1), 1).unwrap().claims {
        store.record(claim.envelope.process_at(at(2))).unwrap();
    }
    // Damaged by hand, its settled time too: the next read sets it aside.
    tamper(&mut store, "attempts = 7, settled_at = NULL", 0);
    assert!(store.load_any::<Value>("webshop", &id(0)).is_err());
    tamper(&mut store, "attempts = 1", 0);
    let released = store
        .release_quarantined::<Value>("webshop", &id(0), later())
        .unwrap();
    assert_eq!(released.status(), DeliveryStatus::Processed);
    // Settled when it was delivered, it goes once its retention is over.
    let retention = TimeDelta::from_std(StoreOptions::default().delivered_retention).unwrap();
    assert_eq!(store.purge_delivered(at(2) + retention).unwrap(), 0);
    assert_eq!(store.purge_delivered(at(3) + retention).unwrap(), 1);
}

fn a_database_fault_mid_batch_spends_no_attempt_of_an_unsent_envelope<B: FaultBackend>() {
    let Some(place) = B::place("fault") else {
        return;
    };
    let options = StoreOptions::default().busy_timeout(Duration::from_millis(100));
    let mut store = B::open_with(&place, options);
    for n in 0..10 {
        store
            .write(|tx| B::enqueue(tx, &order_event(n, start()), start()))
            .unwrap();
    }
    let mut sent = Vec::new();
    let mut fault = None;
    let result = store.run_once(at(1), 10, |envelope: &Envelope<_, Value>| {
        sent.push(envelope.event_id().to_owned());
        if sent.len() == 3 {
            fault = Some(B::interrupt(&place));
        }
        Ok::<_, SendError>(Delivery::Processed)
    });
    let error = result.unwrap_err();
    assert!(
        !matches!(error, StoreError::ClaimsNotReleased { .. }),
        "{error}"
    );
    drop(fault);
    assert_eq!(sent.len(), 3, "the pass stops at the failed record");

    let mut store = B::open_with(&place, options);
    for n in 0..10 {
        let envelope = store.load_any::<Value>("webshop", &id(n)).unwrap();
        let (status, attempts) = (envelope.status(), envelope.attempt_count());
        match sent.iter().position(|s| *s == id(n)) {
            Some(0 | 1) => assert_eq!((status, attempts), (DeliveryStatus::Processed, 1)),
            // Sent, its outcome lost with the fault: still claimed.
            Some(_) => assert_eq!((status, attempts), (DeliveryStatus::Dispatched, 1)),
            None => assert_eq!(
                (status, attempts),
                (DeliveryStatus::Pending, 0),
                "{}",
                id(n)
            ),
        }
    }
    // The unsent are due at once; the one sent is sent again when its lease
    // runs out, its lost attempt counted once.
    let report = store
        .run_once(at(2), 10, |_: &Envelope<_, Value>| Ok(Delivery::Processed))
        .unwrap();
    assert_eq!(report.delivered, 7);
    let report = store
        .run_once(at(60), 10, |_: &Envelope<_, Value>| Ok(Delivery::Processed))
        .unwrap();
    assert_eq!(report.delivered, 1);
    let resent = store.load_any::<Value>("webshop", &sent[2]).unwrap();
    assert_eq!(resent.attempt_count(), 2);
    assert!(
        resent.history()[1]
            .reason()
            .unwrap()
            .starts_with("lease expired")
    );
}

fn a_renewed_lease_holds_the_claim_and_its_expiry_says_the_worker_fell_silent<B: FaultBackend>() {
    let Some(place) = B::place("renew") else {
        return;
    };
    let mut worker = B::open(&place);
    let mut other = B::open(&place);
    worker
        .write(|tx| B::enqueue(tx, &order_event(0, start()), start()))
        .unwrap();
    let mut claim = worker
        .claim_due::<Value>(at(0), 1)
        .unwrap()
        .claims
        .remove(0);
    worker.extend_lease(&mut claim, at(25)).unwrap();
    assert_eq!(claim.lease_until, at(55));
    assert!(
        other
            .claim_due::<Value>(at(40), 1)
            .unwrap()
            .claims
            .is_empty()
    );
    let taken = other
        .claim_due::<Value>(at(60), 1)
        .unwrap()
        .claims
        .remove(0);
    let reason = taken.envelope.history()[1].reason().unwrap().to_owned();
    assert!(
        reason.contains("renewed its claim last at 2026-03-01T09:00:25")
            && reason.contains("fell silent"),
        "{reason}"
    );
    assert!(matches!(
        worker.extend_lease(&mut claim, at(61)),
        Err(StoreError::ClaimLost { attempt: 1, .. })
    ));
    assert!(matches!(
        worker.record(claim.envelope.process_at(at(62))),
        Err(StoreError::ClaimLost { .. })
    ));
    other.record(taken.envelope.process_at(at(63))).unwrap();

    // A worker that never renewed: its expiry says so.
    other
        .write(|tx| B::enqueue(tx, &order_event(1, start()), at(100)))
        .unwrap();
    let first = other.claim_due::<Value>(at(100), 1).unwrap().claims;
    assert_eq!(first.len(), 1);
    let again = other
        .claim_due::<Value>(at(200), 1)
        .unwrap()
        .claims
        .remove(0);
    let reason = again.envelope.history()[1].reason().unwrap().to_owned();
    assert!(reason.contains("never renewed its claim"), "{reason}");
}

fn a_forged_history_time_cannot_push_a_retry_out_of_reach<B: FaultBackend>() {
    let Some((mut store, _place)) = store_in_every_state::<B>("forged_time") else {
        return;
    };
    // Order 2 failed at 09:00:02 and retries 30 s later; its row says so.
    let forged = B::replace_in_envelope("2026-03-01T09:00:02Z", "2100-01-01T00:00:00Z");
    tamper(&mut store, &forged, 2);
    let claimed = store.claim_due::<Value>(later(), 100).unwrap();
    let named: Vec<String> = claimed.quarantined.iter().map(corrupt_id).collect();
    assert_eq!(named, [id(2)]);
    assert!(
        claimed.quarantined[0]
            .to_string()
            .contains("before its retry time"),
        "{}",
        claimed.quarantined[0]
    );
}
