//! Claims in one statement ([`CLAIM_DUE`](super::sql::CLAIM_DUE)): what its
//! rows say, for the blocking store and its async twin alike.
//!
//! The statement marks due pending and retrying rows as dispatched and
//! leaves their envelopes as they were; reading such a row dispatches its
//! envelope at the claim time (`RawRow::claimed_at`), so that the claim costs
//! one round trip and no envelope is rewritten until its outcome is recorded.
//! Rows the statement cannot claim alone (leases run out, rows no claim would
//! reach) and claimed rows that do not read back are left to the claim's
//! transaction, which works as the SQLite store's does.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use crate::rows::{RawRow, corrupt, dispatched_at_claim, micros, typed};
use crate::{Claim, StoreError};
use integration_automation_patterns::envelope::state::Dispatched;

/// A row to quarantine: its source, its event id, and why.
pub(super) type Unreadable = (String, String, StoreError);

/// One row of `CLAIM_DUE`.
pub(super) struct ClaimDueRow {
    /// The claimed row as it was before the claim; none in the row of nulls
    /// that says that nothing was claimed.
    pub(super) claimed: Option<RawRow>,
    /// How many due rows the statement left to the claim's transaction.
    pub(super) leftovers: i64,
}

/// What the statement's rows come to.
pub(super) struct OneStatementClaim<P> {
    pub(super) claims: Vec<Claim<P>>,
    /// Claimed rows that do not read back (source, event id and why), for
    /// the claim's transaction to quarantine.
    pub(super) unreadable: Vec<Unreadable>,
    /// Whether the claim's transaction has rows to see to.
    pub(super) needs_transaction: bool,
}

impl<P: DeserializeOwned> OneStatementClaim<P> {
    /// Reads the statement's rows, claimed at `now` and leased until `lease_until`.
    pub(super) fn of(
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
            let (source, event_id) = (before.source.clone(), before.event_id.clone());
            // Every check a claim in a transaction makes, on the row as it was.
            let claim = before.read::<P>().and_then(|checked| {
                let dispatched = dispatched_at_claim(checked.envelope, claimed_at)
                    .map_err(|reason| corrupt(&source, &event_id, reason))?;
                Ok(Claim {
                    envelope: typed::<Dispatched, P>(dispatched)?,
                    lease_until,
                    prior: checked.prior,
                })
            });
            match claim {
                Ok(claim) => claims.push(claim),
                Err(error) => unreadable.push((source, event_id, error)),
            }
        }
        OneStatementClaim {
            claims,
            needs_transaction: leftovers > 0 || !unreadable.is_empty(),
            unreadable,
        }
    }
}
