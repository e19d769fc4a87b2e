//! Rows gathered column by column, so that one statement writes them all:
//! a claim's rows, and a batch record's, in one round trip whatever their
//! number.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::claim::Unreadable;
use crate::batch_record::RecordRow;
use crate::rows::{ClaimStep, RawRow, claim_step, encode, micros, settled_at};
use crate::{Claimed, StoreError};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::state::State;

/// The new state of claimed rows, one entry per row in each column, for
/// [`WRITE_ROWS`](super::sql::WRITE_ROWS).
#[derive(Debug, Default)]
pub(super) struct RowWrites {
    pub(super) sources: Vec<String>,
    pub(super) event_ids: Vec<String>,
    pub(super) statuses: Vec<&'static str>,
    pub(super) attempts: Vec<i64>,
    pub(super) due_ats: Vec<Option<i64>>,
    pub(super) envelopes: Vec<String>,
    /// When a dead letter failed (the others: none).
    pub(super) settled_ats: Vec<Option<i64>>,
}

impl RowWrites {
    /// Room for `rows` rows.
    pub(super) fn with_capacity(rows: usize) -> Self {
        RowWrites {
            sources: Vec::with_capacity(rows),
            event_ids: Vec::with_capacity(rows),
            statuses: Vec::with_capacity(rows),
            attempts: Vec::with_capacity(rows),
            due_ats: Vec::with_capacity(rows),
            envelopes: Vec::with_capacity(rows),
            settled_ats: Vec::with_capacity(rows),
        }
    }

    /// Adds `envelope`'s row, due at `due_at` (`None`: not waiting).
    pub(super) fn push<S: State, P: Serialize>(
        &mut self,
        envelope: &Envelope<S, P>,
        due_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let text = encode(envelope)?;
        self.sources.push(envelope.source_system().to_owned());
        self.event_ids.push(envelope.event_id().to_owned());
        self.statuses.push(S::STATUS.as_str());
        self.attempts.push(i64::from(envelope.attempt_count()));
        self.due_ats.push(due_at.map(micros));
        self.envelopes.push(text);
        self.settled_ats
            .push(settled_at(S::STATUS, envelope.last_transition()));
        Ok(())
    }

    /// Whether there is nothing to write.
    pub(super) fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Takes each due row of a claim's transaction (with the dead letter of
    /// its key it would be sent past) through its claim step at `now`:
    /// claims and dead letters go into `claimed` and the writes returned,
    /// and the rows to quarantine (source, event id and why) are returned
    /// beside them.
    pub(super) fn of_due<P: Serialize + DeserializeOwned>(
        due: Vec<(RawRow, Option<String>)>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        claimed: &mut Claimed<P>,
    ) -> Result<(Self, Vec<Unreadable>), StoreError> {
        claimed.claims.reserve(due.len());
        let mut writes = RowWrites::with_capacity(due.len());
        let mut unreadable = Vec::new();
        for (raw, passed) in due {
            let (source, event_id) = (raw.source.clone(), raw.event_id.clone());
            match claim_step(raw, now, lease_until, passed) {
                ClaimStep::Claim(claim) => {
                    writes.push(&claim.envelope, Some(lease_until))?;
                    claimed.claims.push(claim);
                }
                ClaimStep::DeadLetter(failed) => {
                    writes.push(&failed, None)?;
                    claimed.dead_lettered += 1;
                }
                ClaimStep::Quarantine(error) => unreadable.push((source, event_id, error)),
            }
        }
        Ok((writes, unreadable))
    }
}

/// A batch record's rows as the columns of
/// [`RECORD_ROWS`](super::sql::RECORD_ROWS).
pub(super) struct RecordColumns<'a> {
    pub(super) sources: Vec<&'a str>,
    pub(super) event_ids: Vec<&'a str>,
    pub(super) statuses: Vec<&'a str>,
    pub(super) due_ats: Vec<Option<i64>>,
    pub(super) envelopes: Vec<&'a str>,
    pub(super) attempts: Vec<i64>,
    pub(super) settled_ats: Vec<Option<i64>>,
}

impl<'a> RecordColumns<'a> {
    pub(super) fn of(rows: &'a [RecordRow<'a>]) -> Self {
        RecordColumns {
            sources: rows.iter().map(|row| row.source).collect(),
            event_ids: rows.iter().map(|row| row.event_id).collect(),
            statuses: rows.iter().map(|row| row.status).collect(),
            due_ats: rows.iter().map(|row| row.due_at).collect(),
            envelopes: rows.iter().map(|row| row.envelope.as_str()).collect(),
            attempts: rows.iter().map(|row| row.attempts).collect(),
            settled_ats: rows.iter().map(|row| row.settled_at).collect(),
        }
    }
}
