//! `AnyEnvelope`: erasing the state and getting it back.

mod common;

use common::{at, one_of_each, pending, retrying};
use integration_automation_patterns::envelope::Operation;
use integration_automation_patterns::state::{
    Acknowledged, Dispatched, Failed, Pending, Processed, Retrying, Skipped, State,
};
use integration_automation_patterns::{AnyEnvelope, DeliveryStatus, Envelope};

/// Converts `any` to `Envelope<S>` and back, checking that only the right
/// state converts and that a refusal returns the envelope unchanged.
fn round_trip<S: State>(any: &AnyEnvelope) {
    match Envelope::<S>::try_from(any.clone()) {
        Ok(typed) => {
            assert_eq!(any.status(), S::STATUS);
            assert_eq!(typed.status(), S::STATUS);
            assert_eq!(&AnyEnvelope::from(typed), any);
        }
        Err(wrong) => {
            assert_ne!(any.status(), S::STATUS);
            assert_eq!(wrong.expected(), S::STATUS);
            assert_eq!(wrong.found(), any.status());
            assert_eq!(&wrong.into_envelope(), any);
        }
    }
}

#[test]
fn every_state_round_trips_and_no_other_state_converts() {
    let envelopes = one_of_each();
    let statuses: Vec<DeliveryStatus> = envelopes.iter().map(AnyEnvelope::status).collect();
    assert_eq!(statuses, DeliveryStatus::ALL);
    for any in &envelopes {
        round_trip::<Pending>(any);
        round_trip::<Dispatched>(any);
        round_trip::<Acknowledged>(any);
        round_trip::<Processed>(any);
        round_trip::<Retrying>(any);
        round_trip::<Failed>(any);
        round_trip::<Skipped>(any);
    }
}

#[test]
fn common_accessors_read_through() {
    let typed = retrying();
    let any = AnyEnvelope::from(typed.clone());
    assert_eq!(any.event_id(), typed.event_id());
    assert_eq!(any.event_type(), typed.event_type());
    assert_eq!(any.source_system(), typed.source_system());
    assert_eq!(any.payload(), typed.payload());
    assert_eq!(any.correlation_id(), typed.correlation_id());
    assert_eq!(any.schema_version(), typed.schema_version());
    assert_eq!(any.created_at(), typed.created_at());
    assert_eq!(any.attempt_count(), typed.attempt_count());
    assert_eq!(any.retry_policy(), typed.retry_policy());
    assert_eq!(any.tags(), typed.tags());
    assert_eq!(any.history(), typed.history());
    assert_eq!(any.last_transition(), typed.last_transition());
    assert_eq!(any.is_terminal(), typed.is_terminal());
    assert_eq!(any.to_audit_line(), typed.to_audit_line());
}

#[test]
fn wrong_state_names_both_states_and_the_event() {
    let wrong = Envelope::<Processed>::try_from(AnyEnvelope::from(pending())).unwrap_err();
    assert_eq!(
        wrong.to_string(),
        "expected an envelope in state `processed`, found `pending` (event_id \"evt-1\")"
    );
    let error: &dyn std::error::Error = &wrong;
    assert!(error.source().is_none());
}

#[test]
fn an_illegal_operation_names_itself_and_returns_the_envelope() {
    let any = AnyEnvelope::from(pending());
    let refused = any
        .clone()
        .apply_at(Operation::Acknowledge, at(9))
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "cannot acknowledge an envelope in state `pending` (event_id \"evt-1\")"
    );
    assert_eq!(refused.into_envelope(), any);
}

#[test]
fn operations_chain_at_run_time() {
    let mut any = AnyEnvelope::from(pending());
    for operation in [
        Operation::Dispatch,
        Operation::Fail("timeout".into()),
        Operation::Dispatch,
        Operation::Fail("timeout".into()),
        Operation::Dispatch,
        Operation::Fail("timeout".into()),
    ] {
        any = any.apply_at(operation, at(1)).unwrap();
    }
    assert_eq!(any.status(), DeliveryStatus::Failed);
    assert_eq!(any.attempt_count(), 3);
    let any = any
        .apply_at(Operation::Redrive("fixed".into()), at(2))
        .unwrap();
    assert_eq!(any.status(), DeliveryStatus::Pending);
    assert_eq!(any.history().len(), 7);
}
