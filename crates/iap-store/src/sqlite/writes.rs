//! The rows a claim writes back, gathered into one JSON array so that one
//! statement writes them all: one trip to the connection's thread for a
//! claim of any size (the async store, where each statement is such a trip).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::StoreError;
use crate::rows::{encode, micros, settled_at};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::state::State;

/// The new state of claimed rows, each `[source, event_id, status, attempts,
/// due_at, envelope, settled_at]`, for [`WRITE_ROWS`](super::sql::WRITE_ROWS).
#[derive(Debug, Default)]
pub(super) struct RowWrites(Vec<Value>);

impl RowWrites {
    /// Adds `envelope`'s row, due at `due_at` (`None`: not waiting).
    pub(super) fn push<S: State, P: Serialize>(
        &mut self,
        envelope: &Envelope<S, P>,
        due_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.0.push(json!([
            envelope.source_system(),
            envelope.event_id(),
            S::STATUS.as_str(),
            envelope.attempt_count(),
            due_at.map(micros),
            encode(envelope)?,
            settled_at(S::STATUS, envelope.last_transition()),
        ]));
        Ok(())
    }

    /// Whether there is nothing to write.
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The rows as the statement's one parameter.
    pub(super) fn into_json(self) -> String {
        Value::Array(self.0).to_string()
    }
}
