//! The relay's side of the outbox: enqueue, claim, record, extend a lease,
//! give claims back, and purge what was delivered.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::catalogue::{
    CLAIM_DUE, CLEAR_HELD_BACK, ClaimDueRow, DueRow, ENQUEUE, EXTEND_LEASE, MARK_HELD_BACK,
    PURGE_SETTLED, RECORD, RECORD_ROWS, RELEASE_CLAIM, RowKey, SELECT_DUE, SELECT_DUE_IN_ORDER,
    SELECT_STRAYS, StoredRow, WRITE_ROW, WRITE_ROWS,
};
use super::claim::OneStatementClaim;
use super::driver::{Dialect, Driver, Param, RowWrite, RowWrites, Statements, Transaction};
use super::statement::Statement;
use super::steps::{quarantine, row_write, write_rows};
use crate::batch_record::BatchRecord;
use crate::rows::{
    ClaimStep, add, claim_lost, claim_step, encode, encode_any, micros, outcome_due_at, recorded,
    settled_at, subtract,
};
use crate::{Claim, Claimed, Outcome, PURGE_BATCH, Recorded, StoreError, StoreOptions, purge_done};
use integration_automation_patterns::envelope::state::{Pending, State};
use integration_automation_patterns::{AnyEnvelope, Envelope};

/// Adds a new envelope to the outbox in the caller's transaction, due at `now`.
pub(crate) async fn enqueue<S: Statements, P: Serialize>(
    tx: &mut S,
    envelope: &Envelope<Pending, P>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let text = encode(envelope)?;
    let inserted = tx
        .execute(
            &ENQUEUE,
            &[
                Param::text(envelope.source_system()),
                Param::text(envelope.event_id()),
                Param::text(Pending::STATUS.as_str()),
                Param::int(envelope.attempt_count()),
                Param::int(micros(now)),
                Param::text(&text),
                Param::Text(envelope.ordering_key()),
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(StoreError::AlreadyEnqueued {
            source_system: envelope.source_system().to_owned(),
            event_id: envelope.event_id().to_owned(),
        });
    }
    Ok(())
}

/// Claims up to `limit` envelopes due at `now` (`DeliveryStore::claim_due`).
///
/// On PostgreSQL one statement claims the pending and retrying rows; a
/// transaction follows only for what it leaves over (leases run out, rows
/// sent past a dead letter, rows that do not read back). On SQLite, whose
/// writers take turns, one transaction marks the rows the claim holds back
/// behind an earlier envelope of their key, then takes the due ones.
pub(crate) async fn claim_due<D: Driver, P: Serialize + DeserializeOwned>(
    driver: &mut D,
    options: StoreOptions,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Claimed<P>, StoreError> {
    let lease_until = add(now, options.lease);
    let holds = options.dead_letter_keys.holds();
    let mut claimed = Claimed {
        claims: Vec::new(),
        dead_lettered: 0,
        quarantined: Vec::new(),
    };
    match driver.dialect() {
        Dialect::Postgres => {
            let rows: Vec<ClaimDueRow> = driver
                .query(
                    &CLAIM_DUE,
                    &[
                        Param::int(micros(now)),
                        Param::limit(limit),
                        Param::int(micros(lease_until)),
                        Param::Bool(holds),
                    ],
                )
                .await?;
            let one_statement = OneStatementClaim::of(rows, now, lease_until);
            claimed.claims = one_statement.claims;
            if !one_statement.needs_transaction {
                return Ok(claimed);
            }
            let rest = limit.saturating_sub(claimed.claims.len());
            let leftovers = async {
                let mut tx = driver.begin().await?;
                for (row, error) in one_statement.unreadable {
                    quarantine(&mut tx, &row, &error).await?;
                    claimed.quarantined.push(error);
                }
                sweep_strays(&mut tx, limit, &mut claimed).await?;
                let due_params = [
                    Param::int(micros(now)),
                    Param::limit(rest),
                    Param::Bool(holds),
                ];
                let mut taken = Claimed {
                    claims: Vec::new(),
                    dead_lettered: 0,
                    quarantined: Vec::new(),
                };
                take_due(
                    &mut tx,
                    &SELECT_DUE,
                    &due_params,
                    now,
                    lease_until,
                    &mut taken,
                )
                .await?;
                tx.commit().await?;
                Ok::<_, StoreError>(taken)
            }
            .await;
            match leftovers {
                Ok(taken) => {
                    claimed.claims.extend(taken.claims);
                    claimed.dead_lettered += taken.dead_lettered;
                    claimed.quarantined.extend(taken.quarantined);
                }
                Err(error) => {
                    // The statement's claims are committed but were never
                    // handed out: given back, no attempt is charged for them.
                    // If they cannot be, their lease runs out.
                    let _ = release_unsent(driver, &claimed.claims).await;
                    return Err(error);
                }
            }
        }
        Dialect::Sqlite => {
            let mut tx = driver.begin().await?;
            sweep_strays(&mut tx, limit, &mut claimed).await?;
            let due_params = [
                Param::int(micros(now)),
                Param::limit(limit),
                Param::Bool(holds),
            ];
            let marked = tx.execute(&MARK_HELD_BACK, &due_params).await?;
            let select_due = if marked == 0 {
                &SELECT_DUE_IN_ORDER
            } else {
                &SELECT_DUE
            };
            take_due(
                &mut tx,
                select_due,
                &due_params,
                now,
                lease_until,
                &mut claimed,
            )
            .await?;
            tx.commit().await?;
        }
    }
    Ok(claimed)
}

/// Quarantines up to `limit` rows no claim would ever reach.
async fn sweep_strays<T: Transaction, P: DeserializeOwned>(
    tx: &mut T,
    limit: usize,
    claimed: &mut Claimed<P>,
) -> Result<(), StoreError> {
    let strays: Vec<StoredRow> = tx.query(&SELECT_STRAYS, &[Param::limit(limit)]).await?;
    for stray in strays {
        let id = stray.id();
        let error = stray.raw.stray_error::<P>();
        quarantine(tx, &id, &error).await?;
        claimed.quarantined.push(error);
    }
    Ok(())
}

/// Takes each row `select_due` selects through its claim step at `now`:
/// claims and dead letters are written back, in one statement where the
/// driver writes rows at once, and rows that do not read back are
/// quarantined.
async fn take_due<T: Transaction, P: Serialize + DeserializeOwned>(
    tx: &mut T,
    select_due: &'static Statement,
    params: &[Param<'_>],
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    claimed: &mut Claimed<P>,
) -> Result<(), StoreError> {
    let due: Vec<DueRow> = tx.query(select_due, params).await?;
    claimed.claims.reserve(due.len());
    let mut writes = RowWrites::with_capacity(due.len());
    // SQLite keeps a row held back until a claim takes it; PostgreSQL's
    // writes clear the mark themselves.
    let mut taken_held_back = Vec::new();
    for DueRow { row, passed } in due {
        let held_back = row.raw.held_back == Ok(true);
        let id = row.id();
        match claim_step(row.raw, now, lease_until, passed) {
            ClaimStep::Claim(claim) => {
                writes.push(row_write(&claim.envelope, Some(lease_until))?);
                taken_held_back.extend(held_back.then_some(id.seq));
                claimed.claims.push(claim);
            }
            ClaimStep::DeadLetter(failed) => {
                writes.push(row_write(&failed, None)?);
                taken_held_back.extend(held_back.then_some(id.seq));
                claimed.dead_lettered += 1;
            }
            ClaimStep::Quarantine(error) => {
                quarantine(tx, &id, &error).await?;
                claimed.quarantined.push(error);
            }
        }
    }
    write_rows(tx, &WRITE_ROW, &WRITE_ROWS, &writes).await?;
    if tx.dialect() == Dialect::Sqlite {
        for seq in taken_held_back {
            tx.execute(&CLEAR_HELD_BACK, &[Param::int(seq)]).await?;
        }
    }
    Ok(())
}

/// Records `outcome` over its claim, due again no earlier than
/// `retry_after` if it is a retry: one statement, so one implicit
/// transaction.
pub(crate) async fn record_not_before<D: Driver, P: Serialize>(
    driver: &mut D,
    outcome: AnyEnvelope<P>,
    retry_after: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let due_at = outcome_due_at(&outcome, retry_after)?.map(micros);
    let text = encode_any(&outcome)?;
    let updated = driver
        .execute(
            &RECORD,
            &[
                Param::text(outcome.source_system()),
                Param::text(outcome.event_id()),
                Param::text(outcome.status().as_str()),
                Param::Int(due_at),
                Param::text(&text),
                Param::int(outcome.attempt_count()),
                Param::Int(settled_at(outcome.status(), outcome.last_transition())),
            ],
        )
        .await?;
    recorded(updated, &outcome)
}

/// Records many outcomes in one transaction: one statement where the driver
/// writes rows at once (which returns the keys it wrote), else one a row.
pub(crate) async fn record_batch<D: Driver, P: Serialize>(
    driver: &mut D,
    outcomes: &[Outcome<P>],
) -> Result<Vec<Recorded>, StoreError> {
    let batch = BatchRecord::new(outcomes);
    let mut written = HashSet::new();
    if batch.rows().is_empty() {
        return Ok(batch.results(&written));
    }
    if driver.writes_rows_at_once() {
        let keys: Vec<RowKey> = driver
            .query(&RECORD_ROWS, &[Param::Rows(batch.rows())])
            .await?;
        written.extend(keys.into_iter().map(|key| (key.source, key.event_id)));
    } else {
        let mut tx = driver.begin().await?;
        for row in batch.rows().rows() {
            if record_row(&mut tx, row).await? > 0 {
                written.insert((row.source.clone(), row.event_id.clone()));
            }
        }
        tx.commit().await?;
    }
    Ok(batch.results(&written))
}

/// Records one row of a batch over its claim; how many rows it changed.
async fn record_row<S: Statements>(tx: &mut S, row: &RowWrite) -> Result<u64, StoreError> {
    tx.execute(
        &RECORD,
        &[
            Param::text(&row.source),
            Param::text(&row.event_id),
            Param::text(row.status),
            Param::Int(row.due_at),
            Param::text(&row.envelope),
            Param::int(row.attempts),
            Param::Int(row.settled_at),
        ],
    )
    .await
}

/// Moves the lease of a claim still held to `now` plus the store's lease.
pub(crate) async fn extend_lease<D: Driver, P>(
    driver: &mut D,
    options: StoreOptions,
    claim: &mut Claim<P>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let lease_until = add(now, options.lease);
    let envelope = &claim.envelope;
    let updated = driver
        .execute(
            &EXTEND_LEASE,
            &[
                Param::text(envelope.source_system()),
                Param::text(envelope.event_id()),
                Param::int(micros(lease_until)),
                Param::int(micros(now)),
                Param::int(envelope.attempt_count()),
            ],
        )
        .await?;
    if updated == 0 {
        return Err(claim_lost(
            envelope.source_system(),
            envelope.event_id(),
            envelope.attempt_count(),
        ));
    }
    claim.lease_until = lease_until;
    Ok(())
}

/// Gives back claims never sent, each as its row was before the claim, in
/// one transaction; how many were still held.
pub(crate) async fn release_unsent<D: Driver, P>(
    driver: &mut D,
    claims: &[Claim<P>],
) -> Result<usize, StoreError> {
    let mut tx = driver.begin().await?;
    let mut released = 0;
    for Claim {
        envelope, prior, ..
    } in claims
    {
        let mut params = vec![
            Param::text(envelope.source_system()),
            Param::text(envelope.event_id()),
            Param::text(&prior.status),
            Param::int(prior.attempts),
            Param::Int(prior.due_at),
            Param::Int(prior.renewed_at),
            Param::text(&prior.envelope),
            Param::int(envelope.attempt_count()),
        ];
        if tx.dialect() == Dialect::Postgres {
            // The claim time a claim in one statement recorded in the row.
            params.push(Param::Int(prior.claimed_at));
        }
        released += tx.execute(&RELEASE_CLAIM, &params).await?;
    }
    tx.commit().await?;
    Ok(usize::try_from(released).unwrap_or(usize::MAX))
}

/// Deletes what was delivered or skipped longer than the retention before
/// `now`, [`PURGE_BATCH`] rows a statement; how many.
pub(crate) async fn purge_delivered<D: Driver>(
    driver: &mut D,
    options: StoreOptions,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let cutoff = micros(subtract(now, options.delivered_retention));
    let mut purged = 0;
    loop {
        let deleted = driver
            .execute(
                &PURGE_SETTLED,
                &[Param::int(cutoff), Param::int(PURGE_BATCH)],
            )
            .await?;
        purged += usize::try_from(deleted).unwrap_or(usize::MAX);
        if purge_done(deleted) {
            return Ok(purged);
        }
    }
}
