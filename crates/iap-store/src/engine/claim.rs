//! What the rows of PostgreSQL's claim in one statement
//! ([`CLAIM_DUE`](super::catalogue::CLAIM_DUE)) come to.
//!
//! The statement marks due pending and retrying rows as dispatched and
//! leaves their envelopes as they were; reading such a row dispatches its
//! envelope at the claim time (`RawRow::claimed_at`), so that the claim costs
//! one round trip and no envelope is rewritten until its outcome is recorded.
//! Rows the statement cannot claim alone (leases run out, rows no claim would
//! reach) and claimed rows that do not read back are left to the claim's
//! transaction, which works as SQLite's claim does.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::catalogue::{ClaimDueRow, RowId};
use crate::rows::{corrupt, dispatched_at_claim, micros, typed};
use crate::{Claim, StoreError};
use integration_automation_patterns::envelope::state::Dispatched;

/// What the statement's rows come to.
pub(crate) struct OneStatementClaim<P> {
    pub(crate) claims: Vec<Claim<P>>,
    /// Claimed rows that do not read back, and why, for the claim's
    /// transaction to quarantine.
    pub(crate) unreadable: Vec<(RowId, StoreError)>,
    /// Whether the claim's transaction has rows to see to.
    pub(crate) needs_transaction: bool,
}

impl<P: DeserializeOwned> OneStatementClaim<P> {
    /// Reads the statement's rows, claimed at `now` and leased until `lease_until`.
    pub(crate) fn of(
        rows: Vec<ClaimDueRow>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Self {
        let claimed_at = micros(now);
        let mut claims = Vec::with_capacity(rows.len());
        let mut unreadable = Vec::new();
        let mut leftovers = 0;
        for row in rows {
            leftovers = leftovers.max(row.leftovers);
            let Some(before) = row.claimed else {
                continue;
            };
            let id = before.id();
            // Every check a claim in a transaction makes, on the row as it was.
            let claim = before.raw.read::<P>().and_then(|checked| {
                let dispatched = dispatched_at_claim(checked.envelope, claimed_at)
                    .map_err(|reason| corrupt(&id.source, &id.event_id, reason))?;
                Ok(Claim {
                    envelope: typed::<Dispatched, P>(dispatched)?,
                    lease_until,
                    prior: checked.prior,
                })
            });
            match claim {
                Ok(claim) => claims.push(claim),
                Err(error) => unreadable.push((id, error)),
            }
        }
        OneStatementClaim {
            claims,
            needs_transaction: leftovers > 0 || !unreadable.is_empty(),
            unreadable,
        }
    }
}
