//! Every transition of the envelope: where it leads, what it counts and what it records.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{acknowledged, at, dispatched, failed, one_of_each, pending, retrying, skipped};
use integration_automation_patterns::envelope::Operation;
use integration_automation_patterns::{DeliveryStatus, Envelope, FailOutcome, RetryPolicy};
use serde_json::json;

fn with_policy(max_attempts: u32) -> Envelope<integration_automation_patterns::state::Pending> {
    Envelope::builder()
        .event_id("evt-budget")
        .event_type("erp.invoice.created")
        .source_system("erp")
        .payload(json!({}))
        .created_at(at(0))
        .retry_policy(
            RetryPolicy::builder()
                .max_attempts(max_attempts)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

#[test]
fn dispatch_counts_an_attempt_and_records_the_transition() {
    let dispatched = pending().dispatch_at(at(5));
    assert_eq!(dispatched.status(), DeliveryStatus::Dispatched);
    assert_eq!(dispatched.attempt_count(), 1);
    let step = dispatched.last_transition().unwrap();
    assert_eq!(
        (
            step.from(),
            step.to(),
            step.at(),
            step.attempt(),
            step.reason()
        ),
        (
            DeliveryStatus::Pending,
            DeliveryStatus::Dispatched,
            at(5),
            1,
            None
        )
    );
}

#[test]
fn acknowledge_and_process_keep_the_attempt_count() {
    let acknowledged = dispatched().acknowledge_at(at(2));
    assert_eq!(acknowledged.status(), DeliveryStatus::Acknowledged);
    assert_eq!(acknowledged.attempt_count(), 1);
    let processed = acknowledged.process_at(at(3));
    assert_eq!(processed.status(), DeliveryStatus::Processed);
    assert_eq!(processed.attempt_count(), 1);
    assert!(processed.is_terminal());
    let processed_directly = dispatched().process_at(at(2));
    assert_eq!(processed_directly.history().len(), 2);
}

#[test]
fn three_attempts_give_retry_retry_exhausted() {
    let first = match with_policy(3)
        .dispatch_at(at(1))
        .fail_at("timeout 1", at(2))
    {
        FailOutcome::Retry(retrying) => retrying,
        FailOutcome::Exhausted(failed) => panic!("exhausted after 1 attempt: {failed:?}"),
    };
    assert_eq!(first.attempt_count(), 1);
    assert_eq!(first.failure_reason(), "timeout 1");
    let second = match first.dispatch_at(at(40)).fail_at("timeout 2", at(41)) {
        FailOutcome::Retry(retrying) => retrying,
        FailOutcome::Exhausted(failed) => panic!("exhausted after 2 attempts: {failed:?}"),
    };
    assert_eq!(second.attempt_count(), 2);
    let outcome = second
        .dispatch_at(at(110))
        .acknowledge_at(at(111))
        .fail_at("timeout 3", at(112));
    assert!(outcome.is_exhausted());
    let FailOutcome::Exhausted(dead) = outcome else {
        unreachable!()
    };
    assert_eq!(dead.attempt_count(), 3);
    assert_eq!(dead.failure_reason(), "timeout 3");
    assert!(dead.is_terminal());
}

#[test]
fn a_single_attempt_budget_fails_at_the_first_failure() {
    let outcome = with_policy(1).dispatch_at(at(1)).fail_at("timeout", at(2));
    assert!(outcome.is_exhausted());
}

#[test]
fn permanent_failure_is_a_dead_letter_whatever_budget_is_left() {
    let dead = with_policy(10)
        .dispatch_at(at(1))
        .fail_permanently_at("schema violation: email missing", at(2));
    assert_eq!(dead.status(), DeliveryStatus::Failed);
    assert_eq!(dead.attempt_count(), 1);
    assert_eq!(dead.failure_reason(), "schema violation: email missing");
    let from_acknowledged = acknowledged().fail_permanently_at("rejected", at(3));
    assert_eq!(from_acknowledged.failure_reason(), "rejected");
}

#[test]
fn skip_from_pending_and_retrying_keeps_its_reason() {
    let skipped_new = pending().skip_at("duplicate of evt-0", at(1));
    assert_eq!(skipped_new.status(), DeliveryStatus::Skipped);
    assert_eq!(skipped_new.skip_reason(), "duplicate of evt-0");
    assert_eq!(skipped_new.attempt_count(), 0);
    assert!(skipped_new.is_terminal());

    let skipped_retry = retrying().skip_at("record deleted upstream", at(9));
    assert_eq!(skipped_retry.skip_reason(), "record deleted upstream");
    assert_eq!(skipped_retry.attempt_count(), 1);
}

#[test]
fn redrive_gives_a_fresh_budget_and_keeps_the_whole_history() {
    let dead = failed();
    let before = dead.history().to_vec();
    let redriven = dead.redrive_at("fixed the mapping, ticket OPS-12", at(100));
    assert_eq!(redriven.status(), DeliveryStatus::Pending);
    assert_eq!(redriven.attempt_count(), 0);
    assert!(!redriven.is_terminal());
    assert_eq!(&redriven.history()[..before.len()], &before[..]);
    let step = redriven.last_transition().unwrap();
    assert_eq!(
        (step.from(), step.to(), step.attempt(), step.reason()),
        (
            DeliveryStatus::Failed,
            DeliveryStatus::Pending,
            0,
            Some("fixed the mapping, ticket OPS-12")
        )
    );
    let again = redriven.dispatch_at(at(101));
    assert_eq!(again.attempt_count(), 1);
}

#[test]
fn the_first_retry_waits_the_base_backoff_then_doubles() {
    let first = retrying();
    assert_eq!(first.next_retry_wait(), Duration::from_secs(30));
    assert_eq!(
        first.next_attempt_at(),
        at(2) + chrono::TimeDelta::seconds(30)
    );
    let FailOutcome::Retry(second) = first.dispatch_at(at(40)).fail_at("again", at(41)) else {
        panic!("the default budget allows 3 attempts")
    };
    assert_eq!(second.next_retry_wait(), Duration::from_secs(60));
    assert_eq!(second.next_attempt_at(), at(101));
}

#[test]
fn the_plain_transitions_record_the_current_time() {
    let before = chrono::Utc::now();
    let dispatched = pending().dispatch();
    let after = chrono::Utc::now();
    let recorded = dispatched.last_transition().unwrap().at();
    assert!(before <= recorded && recorded <= after);
}

#[test]
fn terminal_states_are_processed_failed_and_skipped() {
    let terminal: Vec<DeliveryStatus> = one_of_each()
        .iter()
        .filter(|envelope| envelope.is_terminal())
        .map(|envelope| envelope.status())
        .collect();
    assert_eq!(
        terminal,
        [
            DeliveryStatus::Processed,
            DeliveryStatus::Failed,
            DeliveryStatus::Skipped
        ]
    );
}

/// One of each runtime operation.
fn every_operation() -> [Operation; 7] {
    [
        Operation::Dispatch,
        Operation::Acknowledge,
        Operation::Process,
        Operation::Fail("x".into()),
        Operation::FailPermanently("x".into()),
        Operation::Skip("x".into()),
        Operation::Redrive("x".into()),
    ]
}

/// The runtime table used to check stored histories agrees with the typed
/// transitions: the (from, to) pairs that the operations reach from every
/// state are exactly the pairs the table allows, and a refused operation hands
/// the envelope back unchanged.
#[test]
fn the_runtime_transition_table_agrees_with_the_typed_transitions() {
    let operations = every_operation();
    let mut reached = BTreeSet::new();
    for envelope in one_of_each() {
        for operation in &operations {
            match envelope.clone().apply_at(operation.clone(), at(50)) {
                Ok(next) => {
                    reached.insert((envelope.status(), next.status()));
                }
                Err(refused) => {
                    assert_eq!(refused.operation(), operation);
                    assert_eq!(refused.into_envelope(), envelope);
                }
            }
        }
    }
    let allowed: BTreeSet<_> = DeliveryStatus::ALL
        .iter()
        .flat_map(|from| DeliveryStatus::ALL.iter().map(move |to| (*from, *to)))
        .filter(|(from, to)| from.can_transition_to(*to))
        .collect();
    assert_eq!(reached, allowed);
    assert_eq!(allowed.len(), 12);
}

/// The runtime operations do what the table says, transition by transition:
/// each is accepted exactly from the states its row starts from, and leads
/// to one of its row's targets.
#[test]
fn the_runtime_operations_follow_the_transition_table() {
    let operations = every_operation();
    for envelope in one_of_each() {
        let allowed: Vec<&str> = envelope
            .allowed_transitions()
            .map(|rule| rule.name)
            .collect();
        for operation in &operations {
            let rule = DeliveryStatus::TRANSITIONS
                .iter()
                .find(|rule| rule.name == operation.name())
                .expect("every operation has a row");
            let from = envelope.status();
            match envelope.clone().apply_at(operation.clone(), at(50)) {
                Ok(next) => {
                    assert!(rule.starts_from(from), "{} from {from}", rule.name);
                    assert!(
                        rule.leads_to(next.status()),
                        "{} to {}",
                        rule.name,
                        next.status()
                    );
                    assert!(allowed.contains(&rule.name));
                }
                Err(_) => {
                    assert!(!rule.starts_from(from), "{} refused from {from}", rule.name);
                    assert!(!allowed.contains(&rule.name));
                }
            }
        }
    }
}

#[test]
fn skipped_envelopes_have_no_attempts_beyond_what_was_dispatched() {
    assert_eq!(skipped().attempt_count(), 0);
}
