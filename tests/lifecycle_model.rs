//! Random sequences of operations, run through `AnyEnvelope` and through a
//! plain model of the lifecycle written from the rules alone: both must agree
//! at every step on what is legal, the status, the attempts and terminality.

mod common;

use common::at;
use integration_automation_patterns::envelope::Operation;
use integration_automation_patterns::{AnyEnvelope, DeliveryStatus, Envelope, RetryPolicy};
use proptest::prelude::*;

/// The lifecycle as a status and a counter, from the written rules.
#[derive(Debug)]
struct Model {
    status: DeliveryStatus,
    attempts: u32,
    max_attempts: u32,
}

impl Model {
    /// Applies `operation`; `false` if the rules forbid it (nothing changes).
    fn apply(&mut self, operation: &Operation) -> bool {
        use DeliveryStatus::*;
        let next = match (self.status, operation) {
            (Pending | Retrying, Operation::Dispatch) => {
                self.attempts += 1;
                Dispatched
            }
            (Dispatched, Operation::Acknowledge) => Acknowledged,
            (Dispatched | Acknowledged, Operation::Process) => Processed,
            (Dispatched | Acknowledged, Operation::Fail(_)) => {
                if self.attempts >= self.max_attempts {
                    Failed
                } else {
                    Retrying
                }
            }
            (Dispatched | Acknowledged, Operation::FailPermanently(_)) => Failed,
            (Pending | Retrying, Operation::Skip(_)) => Skipped,
            (Failed, Operation::Redrive(_)) => {
                self.attempts = 0;
                Pending
            }
            _ => return false,
        };
        self.status = next;
        true
    }

    fn is_terminal(&self) -> bool {
        matches!(
            self.status,
            DeliveryStatus::Processed | DeliveryStatus::Failed | DeliveryStatus::Skipped
        )
    }
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        Just(Operation::Dispatch),
        Just(Operation::Acknowledge),
        Just(Operation::Process),
        "[a-z ]{0,8}".prop_map(Operation::Fail),
        "[a-z ]{0,8}".prop_map(Operation::FailPermanently),
        "[a-z ]{0,8}".prop_map(Operation::Skip),
        "[a-z ]{0,8}".prop_map(Operation::Redrive),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_envelope_follows_the_model(
        max_attempts in 1..5u32,
        operations in proptest::collection::vec(operation(), 0..60),
    ) {
        let policy = RetryPolicy::builder().max_attempts(max_attempts).build().unwrap();
        let mut envelope: AnyEnvelope = Envelope::builder()
            .event_id("evt-model")
            .event_type("test.model.step")
            .source_system("proptest")
            .payload(serde_json::json!({}))
            .created_at(at(0))
            .retry_policy(policy)
            .build()
            .unwrap()
            .into();
        let mut model = Model { status: DeliveryStatus::Pending, attempts: 0, max_attempts };
        let mut applied = 0;
        for (step, operation) in operations.into_iter().enumerate() {
            let legal = model.apply(&operation);
            envelope = match envelope.apply_at(operation, at(step as i64)) {
                Ok(next) => {
                    prop_assert!(legal, "the envelope took a step the model forbids");
                    applied += 1;
                    next
                }
                Err(refused) => {
                    prop_assert!(!legal, "the envelope refused a legal step: {}", refused);
                    refused.into_envelope()
                }
            };
            prop_assert_eq!(envelope.status(), model.status);
            prop_assert_eq!(envelope.attempt_count(), model.attempts);
            prop_assert_eq!(envelope.is_terminal(), model.is_terminal());
            prop_assert_eq!(envelope.history().len(), applied);
            // Every reachable envelope is accepted by the storage format.
            let stored = serde_json::to_string(&envelope).unwrap();
            let restored: AnyEnvelope = serde_json::from_str(&stored).unwrap();
            prop_assert_eq!(&restored, &envelope);
        }
    }
}
