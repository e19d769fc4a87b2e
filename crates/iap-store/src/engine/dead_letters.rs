//! Dead letters as operators see them: list, count, redrive, skip, and the
//! ordering keys they hold; and the typed load of any stored envelope.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::catalogue::{
    COUNT_DEAD_LETTERS, Count, DeadLetterRow, HELD_KEYS, LOCK_DEAD_LETTERS, LOCK_DEAD_LETTERS_PAGE,
    LOCK_ROW, RowId, SELECT_DEAD_LETTERS_PAGE, SELECT_KEY, StoredRow,
};
use super::driver::{Driver, Param, Statements, Transaction};
use super::steps::{quarantine, quarantine_if_unreadable, write_row};
use crate::rows::{
    BEFORE_FIRST_DEAD_LETTER, FailedOrder, micros, not_found, sort_dead_letters, typed,
};
use crate::{
    DeadLetterFilter, DeadLetters, HeldKey, RedriveBatch, Redriven, StoreError, StoreOptions,
};
use integration_automation_patterns::envelope::state::{Failed, State};
use integration_automation_patterns::{AnyEnvelope, Envelope};

/// The stored envelope with this key, in whatever state it is; a row that
/// does not read back is quarantined and named.
pub(crate) async fn load_any<D: Driver, P: DeserializeOwned>(
    driver: &mut D,
    source_system: &str,
    event_id: &str,
) -> Result<AnyEnvelope<P>, StoreError> {
    let row: StoredRow = driver
        .query(
            &SELECT_KEY,
            &[Param::text(source_system), Param::text(event_id)],
        )
        .await?
        .pop()
        .ok_or_else(|| not_found(source_system, event_id))?;
    let id = row.id();
    match row.raw.read::<P>() {
        Ok(checked) => Ok(checked.envelope),
        Err(error) => Err(quarantine_if_unreadable::<D, P>(driver, &id)
            .await?
            .unwrap_or(error)),
    }
}

/// The parameters of a page of the dead letters `filter` takes: at most
/// `limit`, after the place `after` in the order they failed.
fn page_params(filter: &DeadLetterFilter, after: FailedOrder, limit: usize) -> [Param<'_>; 6] {
    [
        Param::Text(filter.source_system.as_deref()),
        Param::Text(filter.event_type.as_deref()),
        Param::Int(filter.failed_by.map(micros)),
        Param::int(after.0),
        Param::int(after.1),
        Param::limit(limit),
    ]
}

/// Up to `limit` of the dead letters `filter` takes, oldest failure first,
/// read a page at a time; the failed rows met that do not read back are
/// quarantined, each in a transaction of its own, once the pages are read.
pub(crate) async fn dead_letters_matching<D: Driver, P: DeserializeOwned>(
    driver: &mut D,
    filter: &DeadLetterFilter,
    limit: usize,
) -> Result<DeadLetters<P>, StoreError> {
    let mut letters = Vec::new();
    let mut unreadable = Vec::new();
    let mut after = BEFORE_FIRST_DEAD_LETTER;
    while letters.len() < limit {
        let wanted = limit - letters.len();
        let rows: Vec<DeadLetterRow> = driver
            .query(
                &SELECT_DEAD_LETTERS_PAGE,
                &page_params(filter, after, wanted),
            )
            .await?;
        let page = rows.into_iter().map(|row| (row.place, row.row.raw));
        let last = sort_dead_letters(
            page.collect(),
            &mut letters,
            &mut unreadable,
            |place, raw| RowId {
                seq: place.1,
                source: raw.source.clone(),
                event_id: raw.event_id.clone(),
            },
        );
        match last {
            Some(last) => after = last,
            None => break,
        }
    }
    let mut quarantined = Vec::new();
    for id in unreadable {
        quarantined.extend(quarantine_if_unreadable::<D, P>(driver, &id).await?);
    }
    Ok(DeadLetters {
        letters,
        quarantined,
    })
}

/// How many dead letters `filter` takes.
pub(crate) async fn count_dead_letters<D: Driver>(
    driver: &mut D,
    filter: &DeadLetterFilter,
) -> Result<u64, StoreError> {
    let counts: Vec<Count> = driver
        .query(
            &COUNT_DEAD_LETTERS,
            &page_params(filter, BEFORE_FIRST_DEAD_LETTER, 0)[..3],
        )
        .await?;
    let count = counts.first().map_or(0, |count| count.0);
    Ok(u64::try_from(count).unwrap_or_default())
}

/// Redrives up to `limit` of the dead letters `filter` takes, first failed
/// first, in one transaction.
pub(crate) async fn redrive_matching<D: Driver, P: Serialize + DeserializeOwned>(
    driver: &mut D,
    filter: &DeadLetterFilter,
    limit: usize,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<RedriveBatch<P>, StoreError> {
    let mut tx = driver.begin().await?;
    let rows: Vec<DeadLetterRow> = tx
        .query(
            &LOCK_DEAD_LETTERS_PAGE,
            &page_params(filter, BEFORE_FIRST_DEAD_LETTER, limit),
        )
        .await?;
    let mut batch = RedriveBatch {
        redriven: Vec::with_capacity(rows.len()),
        quarantined: Vec::new(),
    };
    for DeadLetterRow { row, .. } in rows {
        let id = row.id();
        match read_failed::<P>(row) {
            Ok(failed) => {
                let pending = failed.redrive_at(reason, now);
                write_row(&mut tx, &pending, Some(now)).await?;
                batch.redriven.push(pending);
            }
            Err(error) => {
                quarantine(&mut tx, &id, &error).await?;
                batch.quarantined.push(error);
            }
        }
    }
    tx.commit().await?;
    Ok(batch)
}

/// Redrives every dead letter, in one transaction.
pub(crate) async fn redrive_all<D: Driver, P: Serialize + DeserializeOwned>(
    driver: &mut D,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Redriven, StoreError> {
    let mut tx = driver.begin().await?;
    let rows: Vec<StoredRow> = tx.query(&LOCK_DEAD_LETTERS, &[]).await?;
    let mut redriven = Redriven::default();
    for row in rows {
        let id = row.id();
        match read_failed::<P>(row) {
            Ok(failed) => {
                write_row(&mut tx, &failed.redrive_at(reason, now), Some(now)).await?;
                redriven.redriven += 1;
            }
            Err(error) => {
                quarantine(&mut tx, &id, &error).await?;
                redriven.quarantined.push(error);
            }
        }
    }
    tx.commit().await?;
    Ok(redriven)
}

/// The dead letter in `row`, or why it is none.
fn read_failed<P: DeserializeOwned>(row: StoredRow) -> Result<Envelope<Failed, P>, StoreError> {
    row.raw
        .read::<P>()
        .and_then(|checked| typed::<Failed, P>(checked.envelope))
}

/// Rewrites the dead letter with this key as `step` makes it, due at
/// `due_at`, in one transaction (a redrive, a skip); a row that does not
/// read back is quarantined instead.
pub(crate) async fn rewrite_dead_letter<D, S, P>(
    driver: &mut D,
    source_system: &str,
    event_id: &str,
    due_at: Option<DateTime<Utc>>,
    step: impl FnOnce(Envelope<Failed, P>) -> Envelope<S, P>,
) -> Result<Envelope<S, P>, StoreError>
where
    D: Driver,
    S: State,
    P: Serialize + DeserializeOwned,
{
    let mut tx = driver.begin().await?;
    let row: StoredRow = tx
        .query(
            &LOCK_ROW,
            &[Param::text(source_system), Param::text(event_id)],
        )
        .await?
        .pop()
        .ok_or_else(|| not_found(source_system, event_id))?;
    let id = row.id();
    let checked = match row.raw.read::<P>() {
        Ok(checked) => checked,
        Err(error) => {
            quarantine(&mut tx, &id, &error).await?;
            tx.commit().await?;
            return Err(error);
        }
    };
    let rewritten = step(typed(checked.envelope)?);
    write_row(&mut tx, &rewritten, due_at).await?;
    tx.commit().await?;
    Ok(rewritten)
}

/// Up to `limit` ordering keys held by a dead letter at their head; none
/// when the store releases the keys of dead letters.
pub(crate) async fn held_keys<D: Driver>(
    driver: &mut D,
    options: StoreOptions,
    limit: usize,
) -> Result<Vec<HeldKey>, StoreError> {
    if !options.dead_letter_keys.holds() {
        return Ok(Vec::new());
    }
    driver.query(&HELD_KEYS, &[Param::limit(limit)]).await
}
