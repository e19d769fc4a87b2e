//! Recording many outcomes with one statement: the rows to write, and what
//! became of each outcome once the statement said which rows it changed.

use std::collections::HashSet;

use serde::Serialize;

use super::rows::{claim_lost, record_values, settled_at};
use super::{Outcome, Recorded, StoreError};

/// One outcome's row: what the record statement matches and writes.
#[cfg_attr(
    not(any(feature = "async-sqlite", feature = "postgres")),
    allow(dead_code)
)]
pub(crate) struct RecordRow<'a> {
    pub(crate) source: &'a str,
    pub(crate) event_id: &'a str,
    pub(crate) status: &'static str,
    pub(crate) due_at: Option<i64>,
    /// When the outcome settled, if it did (for retention).
    pub(crate) settled_at: Option<i64>,
    pub(crate) envelope: String,
    /// The claim's attempt: the row is written only while this claim holds it.
    pub(crate) attempts: i64,
}

/// A batch of outcomes on its way to one record statement.
pub(crate) struct BatchRecord<'a, P> {
    outcomes: &'a [Outcome<P>],
    /// Per outcome, why it cannot be recorded at all (it has no row).
    refused: Vec<Option<StoreError>>,
    rows: Vec<RecordRow<'a>>,
}

impl<'a, P: Serialize> BatchRecord<'a, P> {
    /// The rows of the outcomes that can be written.
    pub(crate) fn new(outcomes: &'a [Outcome<P>]) -> Self {
        let mut refused = Vec::with_capacity(outcomes.len());
        let mut rows = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            match record_values(outcome) {
                Ok((due_at, envelope)) => {
                    let any = &outcome.envelope;
                    rows.push(RecordRow {
                        source: any.source_system(),
                        event_id: any.event_id(),
                        status: any.status().as_str(),
                        due_at,
                        settled_at: settled_at(any.status(), any.last_transition()),
                        envelope,
                        attempts: i64::from(any.attempt_count()),
                    });
                    refused.push(None);
                }
                Err(error) => refused.push(Some(error)),
            }
        }
        BatchRecord {
            outcomes,
            refused,
            rows,
        }
    }

    /// The rows to write.
    pub(crate) fn rows(&self) -> &[RecordRow<'a>] {
        &self.rows
    }

    /// Each outcome's result, in input order, given the keys (source, event
    /// id) of the rows the statement changed: a row it did not change is a
    /// claim no longer held.
    pub(crate) fn results(self, written: &HashSet<(String, String)>) -> Vec<Recorded> {
        self.outcomes
            .iter()
            .zip(self.refused)
            .map(|(outcome, refused)| {
                if let Some(error) = refused {
                    return Err(error);
                }
                let envelope = &outcome.envelope;
                let key = (
                    envelope.source_system().to_owned(),
                    envelope.event_id().to_owned(),
                );
                if written.contains(&key) {
                    Ok(())
                } else {
                    Err(claim_lost(
                        envelope.source_system(),
                        envelope.event_id(),
                        envelope.attempt_count(),
                    ))
                }
            })
            .collect()
    }
}
