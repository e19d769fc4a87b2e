//! Recording many outcomes with one statement: the rows to write, and what
//! became of each outcome once the statement said which rows it changed.

use std::collections::HashSet;

use serde::Serialize;

use super::engine::driver::{RowWrite, RowWrites};
use super::rows::{claim_lost, record_values, settled_at};
use super::{Outcome, Recorded, StoreError};

/// A batch of outcomes on its way to one record statement.
pub(crate) struct BatchRecord<'a, P> {
    outcomes: &'a [Outcome<P>],
    /// Per outcome, why it cannot be recorded at all (it has no row).
    refused: Vec<Option<StoreError>>,
    /// The rows to write, each with the claim's attempt as `attempts`: the
    /// row is written only while this claim holds it.
    rows: RowWrites,
}

impl<'a, P: Serialize> BatchRecord<'a, P> {
    /// The rows of the outcomes that can be written.
    pub(crate) fn new(outcomes: &'a [Outcome<P>]) -> Self {
        let mut refused = Vec::with_capacity(outcomes.len());
        let mut rows = RowWrites::with_capacity(outcomes.len());
        for outcome in outcomes {
            match record_values(outcome) {
                Ok((due_at, envelope)) => {
                    let any = &outcome.envelope;
                    rows.push(RowWrite {
                        source: any.source_system().to_owned(),
                        event_id: any.event_id().to_owned(),
                        status: any.status().as_str(),
                        attempts: i64::from(any.attempt_count()),
                        due_at,
                        envelope,
                        settled_at: settled_at(any.status(), any.last_transition()),
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
    pub(crate) fn rows(&self) -> &RowWrites {
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
