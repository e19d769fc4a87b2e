//! Steps that several operations take: writing rows back, and setting
//! aside a row that does not read back.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::catalogue::{QUARANTINE, ROW_IF_NOT_QUARANTINED, RowId, StoredRow};
use super::driver::{Driver, Param, RowWrite, RowWrites, Statements, Transaction};
use super::statement::Statement;
use crate::StoreError;
use crate::rows::{QUARANTINED, encode, micros, problem, settled_at};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::state::State;

/// What writing `envelope` over its row writes, due at `due_at` (`None`:
/// not waiting); refused if the envelope would not read back.
pub(crate) fn row_write<S: State, P: Serialize>(
    envelope: &Envelope<S, P>,
    due_at: Option<DateTime<Utc>>,
) -> Result<RowWrite, StoreError> {
    Ok(RowWrite {
        source: envelope.source_system().to_owned(),
        event_id: envelope.event_id().to_owned(),
        status: S::STATUS.as_str(),
        attempts: i64::from(envelope.attempt_count()),
        due_at: due_at.map(micros),
        envelope: encode(envelope)?,
        settled_at: settled_at(S::STATUS, envelope.last_transition()),
    })
}

/// Writes `envelope` over its row, due at `due_at`.
pub(crate) async fn write_row<S: Statements, St: State, P: Serialize>(
    tx: &mut S,
    envelope: &Envelope<St, P>,
    due_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let row = row_write(envelope, due_at)?;
    execute_write(tx, &super::catalogue::WRITE_ROW, &row).await?;
    Ok(())
}

/// Writes `writes` with `many` where the driver writes rows at once, else
/// with `one` a row.
pub(crate) async fn write_rows<S: Statements>(
    tx: &mut S,
    one: &'static Statement,
    many: &'static Statement,
    writes: &RowWrites,
) -> Result<(), StoreError> {
    if writes.is_empty() {
        return Ok(());
    }
    if tx.writes_rows_at_once() {
        tx.execute(many, &[Param::Rows(writes)]).await?;
    } else {
        for row in writes.rows() {
            execute_write(tx, one, row).await?;
        }
    }
    Ok(())
}

/// Runs a statement that writes one row, whose parameters are the row's
/// columns in [`RowWrite`]'s order.
async fn execute_write<S: Statements>(
    tx: &mut S,
    statement: &'static Statement,
    row: &RowWrite,
) -> Result<u64, StoreError> {
    tx.execute(
        statement,
        &[
            Param::text(&row.source),
            Param::text(&row.event_id),
            Param::text(row.status),
            Param::int(row.attempts),
            Param::Int(row.due_at),
            Param::text(&row.envelope),
            Param::Int(row.settled_at),
        ],
    )
    .await
}

/// Takes the row `id` out of circulation, keeping its content and saying why.
pub(crate) async fn quarantine<S: Statements>(
    tx: &mut S,
    id: &RowId,
    error: &StoreError,
) -> Result<(), StoreError> {
    let reason = problem(error);
    let mut params = id.params(tx.dialect());
    params.extend([Param::text(QUARANTINED), Param::text(&reason)]);
    tx.execute(&QUARANTINE, &params).await?;
    Ok(())
}

/// Quarantines the row `id`, in a transaction of its own, if it still does
/// not read back (another reader may have quarantined or repaired it since);
/// returns why, if it was quarantined.
pub(crate) async fn quarantine_if_unreadable<D: Driver, P: DeserializeOwned>(
    driver: &mut D,
    id: &RowId,
) -> Result<Option<StoreError>, StoreError> {
    let mut tx = driver.begin().await?;
    let rows: Vec<StoredRow> = tx
        .query(&ROW_IF_NOT_QUARANTINED, &id.params(tx.dialect()))
        .await?;
    let mut quarantined = None;
    for row in rows {
        let id = row.id();
        if let Err(error) = row.raw.read::<P>() {
            quarantine(&mut tx, &id, &error).await?;
            quarantined = Some(error);
        }
    }
    tx.commit().await?;
    Ok(quarantined)
}
