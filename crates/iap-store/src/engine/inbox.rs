//! The idempotent inbox: admit a received envelope once, with its effect in
//! the same transaction, however often it is delivered.

use std::fmt::Display;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::catalogue::{
    FreshKey, INSERT_KEY, LOCK_INBOX_KEY, LockedKey, PURGE_INBOX, RELEASE_SAVEPOINT, REMEMBER_KEY,
    RENEW_KEY, ROLLBACK_TO_SAVEPOINT, SAVEPOINT, SELECT_FRESH_KEY,
};
use super::driver::{Dialect, Driver, Param, Statements, Transaction};
use crate::rows::{InboxKey, inbox_text, micros, not_found, settle_effect, subtract};
use crate::{Admission, AdmissionResult, StoreError, StoreOptions};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::state::{Dispatched, Pending};

/// An inbox effect, handed the admitting transaction `Tx` (the driver's
/// own, as the caller's code knows it) and the envelope dispatched to it.
/// The blocking stores' effects are plain closures, whose futures are ready
/// at once; the async stores' return a boxed future that borrows the
/// transaction.
pub(crate) trait Effect<Tx, P, T, E> {
    /// Runs the effect.
    fn apply<'a>(
        self,
        tx: &'a mut Tx,
        event: &'a Envelope<Dispatched, P>,
    ) -> impl Future<Output = Result<T, E>>;
}

/// Admits `envelope` at `now` (`DeliveryStore::admit`): records its key and
/// runs `effect` in one transaction, committed only if the effect succeeds.
pub(crate) async fn admit<'d, D, P, T, E, F>(
    driver: &'d mut D,
    options: StoreOptions,
    envelope: Envelope<Pending, P>,
    now: DateTime<Utc>,
    effect: F,
) -> Result<Admission<T, P>, StoreError>
where
    D: Driver,
    P: Serialize,
    E: Display,
    F: Effect<D::Tx<'d>, P, T, E>,
{
    let event_text = inbox_text(&envelope)?;
    let fresh_after = micros(subtract(now, options.inbox_retention));
    let envelope = match driver.dialect() {
        // SQLite's write lock is the whole file's: a duplicate, which needs
        // no write, is told without it.
        Dialect::Sqlite => {
            match fresh_key(driver, &envelope, &event_text, fresh_after)
                .await?
                .settle(envelope, now)
            {
                Ok(envelope) => envelope,
                Err(answer) => return answer,
            }
        }
        Dialect::Postgres => envelope,
    };
    let mut tx = D::begin(driver).await?;
    // Another connection may have admitted the key since the first look.
    let envelope = match take_key(&mut tx, &envelope, &event_text, now, fresh_after)
        .await?
        .settle(envelope, now)
    {
        Ok(envelope) => envelope,
        Err(answer) => return answer,
    };
    let dispatched = envelope.dispatch_at(now);
    let result = effect.apply(&mut tx, &dispatched).await;
    let admission = settle_effect(dispatched, result, now);
    if let Admission::Processed(..) = admission {
        tx.commit().await?;
    }
    Ok(admission)
}

/// Admits many envelopes in one transaction (`DeliveryStore::admit_batch`),
/// each in a savepoint of its own, so that a failed effect rolls back alone.
pub(crate) async fn admit_batch<'d, D, P, T, E, F>(
    driver: &'d mut D,
    options: StoreOptions,
    envelopes: Vec<Envelope<Pending, P>>,
    now: DateTime<Utc>,
    mut effect: F,
) -> Result<Vec<AdmissionResult<T, P>>, StoreError>
where
    D: Driver,
    P: Serialize,
    E: Display,
    for<'e> &'e mut F: Effect<D::Tx<'d>, P, T, E>,
{
    let fresh_after = micros(subtract(now, options.inbox_retention));
    let mut tx = D::begin(driver).await?;
    let mut results = Vec::with_capacity(envelopes.len());
    for envelope in envelopes {
        let event_text = match inbox_text(&envelope) {
            Ok(event_text) => event_text,
            Err(error) => {
                results.push(Err(error));
                continue;
            }
        };
        tx.execute(&SAVEPOINT, &[]).await?;
        // A database error ends the whole batch; a settled key, this envelope.
        let key = take_key(&mut tx, &envelope, &event_text, now, fresh_after).await?;
        let envelope = match key.settle(envelope, now) {
            Ok(envelope) => envelope,
            Err(answer) => {
                roll_back_savepoint(&mut tx).await?;
                results.push(answer);
                continue;
            }
        };
        let dispatched = envelope.dispatch_at(now);
        let result = (&mut effect).apply(&mut tx, &dispatched).await;
        let admission = settle_effect(dispatched, result, now);
        match admission {
            Admission::Processed(..) => {
                tx.execute(&RELEASE_SAVEPOINT, &[]).await?;
            }
            _ => roll_back_savepoint(&mut tx).await?,
        }
        results.push(Ok(admission));
    }
    tx.commit().await?;
    Ok(results)
}

/// Undoes the writes of the batch admission's savepoint, and leaves it.
async fn roll_back_savepoint<T: Transaction>(tx: &mut T) -> Result<(), StoreError> {
    tx.execute(&ROLLBACK_TO_SAVEPOINT, &[]).await?;
    tx.execute(&RELEASE_SAVEPOINT, &[]).await?;
    Ok(())
}

/// What the inbox holds, fresh, under `envelope`'s key (SQLite).
async fn fresh_key<S: Statements, P: Serialize>(
    statements: &mut S,
    envelope: &Envelope<Pending, P>,
    event_text: &str,
    fresh_after: i64,
) -> Result<InboxKey, StoreError> {
    let mut keys: Vec<FreshKey> = statements
        .query(
            &SELECT_FRESH_KEY,
            &[
                Param::text(envelope.source_system()),
                Param::text(envelope.event_id()),
                Param::int(fresh_after),
            ],
        )
        .await?;
    Ok(match keys.pop() {
        None => InboxKey::New,
        Some(FreshKey { event: Ok(stored) }) => InboxKey::of(&stored, event_text, envelope),
        Some(FreshKey { event: Err(held) }) => InboxKey::Unreadable(held),
    })
}

/// Takes the inbox key for `envelope` in `tx`: `New` if the effect should
/// run (a new key, or one past the retention window, renewed here), else
/// what the fresh key says.
///
/// SQLite looks, then writes, under the transaction's write lock.
/// PostgreSQL inserts the key first: a concurrent admission of the same key
/// waits on the key's index entry until this transaction ends.
async fn take_key<T: Transaction, P: Serialize>(
    tx: &mut T,
    envelope: &Envelope<Pending, P>,
    event_text: &str,
    now: DateTime<Utc>,
    fresh_after: i64,
) -> Result<InboxKey, StoreError> {
    let key_params = [
        Param::text(envelope.source_system()),
        Param::text(envelope.event_id()),
        Param::text(event_text),
        Param::int(micros(now)),
    ];
    match tx.dialect() {
        Dialect::Sqlite => {
            let key = fresh_key(tx, envelope, event_text, fresh_after).await?;
            if let InboxKey::New = key {
                tx.execute(&REMEMBER_KEY, &key_params).await?;
            }
            Ok(key)
        }
        Dialect::Postgres => {
            if tx.execute(&INSERT_KEY, &key_params).await? == 1 {
                return Ok(InboxKey::New);
            }
            let locked: Vec<LockedKey> = tx.query(&LOCK_INBOX_KEY, &key_params[..2]).await?;
            let Some(stored) = locked.into_iter().next() else {
                return Err(not_found(envelope.source_system(), envelope.event_id()));
            };
            if stored.received_at < fresh_after {
                tx.execute(&RENEW_KEY, &key_params).await?;
                return Ok(InboxKey::New);
            }
            Ok(InboxKey::of(&stored.event, event_text, envelope))
        }
    }
}

/// Forgets inbox keys older than the retention window before `now`.
pub(crate) async fn purge_inbox<D: Driver>(
    driver: &mut D,
    options: StoreOptions,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let cutoff = micros(subtract(now, options.inbox_retention));
    let purged = driver.execute(&PURGE_INBOX, &[Param::int(cutoff)]).await?;
    Ok(usize::try_from(purged).unwrap_or(usize::MAX))
}
