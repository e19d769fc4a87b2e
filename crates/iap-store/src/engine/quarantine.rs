//! Rows set aside because they do not read back: list, release after a
//! repair, delete; and the check that finds them.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::catalogue::{
    DELETE_QUARANTINED, QUARANTINED_KEY, RELEASE_QUARANTINED, SELECT_QUARANTINED,
    SELECT_UNQUARANTINED, StoredRow,
};
use super::driver::{Driver, Param, Statements, Transaction};
use super::steps::quarantine;
use crate::rows::{micros, not_quarantined, release_due_at, settled_at};
use crate::{QuarantinedRow, StoreError};
use integration_automation_patterns::AnyEnvelope;

/// Up to `limit` quarantined rows, oldest first.
pub(crate) async fn quarantined<D: Driver>(
    driver: &mut D,
    limit: usize,
) -> Result<Vec<QuarantinedRow>, StoreError> {
    driver
        .query(&SELECT_QUARANTINED, &[Param::limit(limit)])
        .await
}

/// Puts the quarantined row with this key back in circulation, if it reads
/// back now; otherwise it stays quarantined, with the new reason.
pub(crate) async fn release_quarantined<D: Driver, P: DeserializeOwned>(
    driver: &mut D,
    source_system: &str,
    event_id: &str,
    now: DateTime<Utc>,
) -> Result<AnyEnvelope<P>, StoreError> {
    let mut tx = driver.begin().await?;
    let row: StoredRow = tx
        .query(
            &QUARANTINED_KEY,
            &[Param::text(source_system), Param::text(event_id)],
        )
        .await?
        .pop()
        .ok_or_else(|| not_quarantined(source_system, event_id))?;
    let id = row.id();
    let envelope = match row.raw.read_set_aside::<P>() {
        Ok(envelope) => envelope,
        Err(error) => {
            quarantine(&mut tx, &id, &error).await?;
            tx.commit().await?;
            return Err(error);
        }
    };
    let mut params = id.params(tx.dialect());
    params.extend([
        Param::text(envelope.status().as_str()),
        Param::Int(release_due_at(&envelope, now).map(micros)),
        Param::Int(settled_at(envelope.status(), envelope.last_transition())),
    ]);
    tx.execute(&RELEASE_QUARANTINED, &params).await?;
    tx.commit().await?;
    Ok(envelope)
}

/// Deletes the quarantined row with this key for good.
pub(crate) async fn delete_quarantined<D: Driver>(
    driver: &mut D,
    source_system: &str,
    event_id: &str,
) -> Result<(), StoreError> {
    let deleted = driver
        .execute(
            &DELETE_QUARANTINED,
            &[Param::text(source_system), Param::text(event_id)],
        )
        .await?;
    if deleted == 0 {
        return Err(not_quarantined(source_system, event_id));
    }
    Ok(())
}

/// Every row that is not quarantined and does not read back, named,
/// changing nothing.
pub(crate) async fn verify<D: Driver>(driver: &mut D) -> Result<Vec<StoreError>, StoreError> {
    let rows: Vec<StoredRow> = driver.query(&SELECT_UNQUARANTINED, &[]).await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.raw.read::<serde_json::Value>().err())
        .collect())
}
