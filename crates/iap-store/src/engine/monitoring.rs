//! What a store holds, for monitoring: counts by state, and when the next
//! envelope falls due.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::catalogue::{
    COUNT_BY_STATUS, COUNT_INBOX, Count, DueAt, MIN_DUE_BETWEEN, OLDEST_DUE_BETWEEN, StatusCount,
};
use super::driver::{Driver, Param};
use crate::rows::{QUARANTINED, micros, waited_since};
use crate::{StatusCounts, StoreError};

/// How many envelopes are in each state, how many rows are quarantined, and
/// how many keys the inbox remembers.
pub(crate) async fn counts<D: Driver>(driver: &mut D) -> Result<StatusCounts, StoreError> {
    let mut counts = StatusCounts::default();
    let by_status: Vec<StatusCount> = driver.query(&COUNT_BY_STATUS, &[]).await?;
    for StatusCount { status, count } in by_status {
        match status {
            Ok(status) => counts.add_outbox_rows(&status, count),
            // A status that is not text is no delivery state.
            Err(_) => counts.add_outbox_rows(QUARANTINED, count),
        }
    }
    let keys: Vec<Count> = driver.query(&COUNT_INBOX, &[]).await?;
    let keys = keys.first().map_or(0, |keys| keys.0);
    counts.inbox_keys = u64::try_from(keys).unwrap_or_default();
    Ok(counts)
}

/// When the next envelope falls due, if any will.
pub(crate) async fn next_due_at<D: Driver>(
    driver: &mut D,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let due = earliest_due(
        driver,
        &MIN_DUE_BETWEEN,
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
    )
    .await?;
    Ok(due.and_then(DateTime::from_timestamp_micros))
}

/// How long the oldest due envelope has waited at `now`, if any is due.
pub(crate) async fn oldest_due_age<D: Driver>(
    driver: &mut D,
    now: DateTime<Utc>,
) -> Result<Option<Duration>, StoreError> {
    let due = earliest_due(driver, &OLDEST_DUE_BETWEEN, DateTime::<Utc>::MIN_UTC, now).await?;
    Ok(due.map(|due| waited_since(due, now)))
}

/// The earliest due time `statement` finds between `from` and `to`.
async fn earliest_due<D: Driver>(
    driver: &mut D,
    statement: &'static super::statement::Statement,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let due: Vec<DueAt> = driver
        .query(
            statement,
            &[Param::int(micros(from)), Param::int(micros(to))],
        )
        .await?;
    Ok(due.into_iter().next().and_then(|due| due.0))
}
