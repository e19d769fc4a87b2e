//! The operations every store backend offers, so that code moves from one
//! backend to another by changing the constructor.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::rows::typed;
use super::{
    Admission, Claim, Claimed, DeadLetterFilter, DeadLetters, Delivery, HeldKey, Outcome,
    QuarantinedRow, RedriveBatch, Redriven, RunReport, SendError, StatusCounts, StoreError,
    StoreOptions,
};
use integration_automation_patterns::envelope::state::{
    Dispatched, Pending, Retrying, Skipped, State,
};
use integration_automation_patterns::{AnyEnvelope, Envelope};

/// A durable home for envelopes: transactional outbox with a leased relay,
/// idempotent inbox, dead letters, typed loads and monitoring.
///
/// Every method that changes state is one database transaction, and every
/// time it reads is given (`now`), so that tests and simulations control the
/// clock. The backends are `iap_store::sqlite::SqliteStore` (feature `sqlite`)
/// and, for many workers on many machines, `iap_store::postgres::PostgresStore`
/// (feature `postgres`).
pub trait DeliveryStore {
    /// The backend's transaction, handed to [`write`](Self::write)'s work and
    /// to inbox effects, so that they commit with the store's own writes.
    type Tx<'t>;

    /// The store's settings.
    fn options(&self) -> StoreOptions;

    /// Runs `work` in one write transaction, committed if it returns `Ok` and
    /// rolled back otherwise: the way to put a business write and its
    /// [`enqueue`](Self::enqueue) in one commit.
    fn write<T, E>(&mut self, work: impl FnOnce(&mut Self::Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>;

    /// Adds a new envelope to the outbox inside the caller's transaction `tx`,
    /// due at `now`. It commits with the caller's own writes, or not at all.
    fn enqueue<P: Serialize>(
        tx: &mut Self::Tx<'_>,
        envelope: &Envelope<Pending, P>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Claims up to `limit` envelopes that are due at `now`, oldest first:
    /// pending ones, retrying ones whose next attempt has come, and dispatched
    /// ones whose lease ran out (their worker died; the lost attempt counts as
    /// a failure, so an envelope whose budget it spends becomes a dead letter).
    /// Each claimed envelope is dispatched and leased for
    /// [`StoreOptions::lease`]; no two workers hold the same envelope. Rows
    /// that do not read back are quarantined and named, and so are rows that
    /// no claim would ever reach (a waiting envelope with no due time, say).
    /// One transaction.
    fn claim_due<P: Serialize + DeserializeOwned>(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Claimed<P>, StoreError>;

    /// Records the outcome of a claimed envelope: `Processed` or `Acknowledged`
    /// (delivered), `Retrying` (due again at its next attempt time) or
    /// `Failed` (a dead letter). One transaction. Refused with
    /// [`StoreError::ClaimLost`] if the claim is no longer held.
    fn record<P: Serialize>(
        &mut self,
        outcome: impl Into<AnyEnvelope<P>>,
    ) -> Result<(), StoreError> {
        self.record_not_before(outcome.into(), None)
    }

    /// Records a retry whose receiver asked not to be called again before
    /// `retry_after`: the next attempt is due at the later of that and the
    /// retry policy's time.
    fn record_retry_after<P: Serialize>(
        &mut self,
        retrying: Envelope<Retrying, P>,
        retry_after: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.record_not_before(retrying.into(), Some(retry_after))
    }

    /// Records `outcome`, due again no earlier than `retry_after` if it is a retry.
    fn record_not_before<P: Serialize>(
        &mut self,
        outcome: AnyEnvelope<P>,
        retry_after: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// Records the outcomes of many claims in one transaction, with one
    /// synced commit: what [`record_not_before`](Self::record_not_before)
    /// does for each, for the cost of one commit. The results are in input
    /// order; a claim no longer held is [`StoreError::ClaimLost`] in its
    /// place and does not stop the others. On a database error nothing is
    /// recorded.
    ///
    /// What a crash may cost: recorded one by one, at most the envelope
    /// whose record was under way is sent again when its lease runs out; in
    /// a batch, every envelope of the batch is (delivery is at least once
    /// either way, and the inbox takes the copies as duplicates).
    fn record_batch<P: Serialize>(
        &mut self,
        outcomes: &[Outcome<P>],
    ) -> Result<Vec<Recorded>, StoreError>;

    /// Moves the lease of a claim this worker still holds to `now` plus
    /// [`StoreOptions::lease`], for a send that takes longer than the lease
    /// (a heartbeat). Refused with [`StoreError::ClaimLost`] if the claim is
    /// no longer held. A lease that runs out after a renewal is reported, in
    /// the envelope's history, as a worker that fell silent mid-send.
    fn extend_lease<P>(
        &mut self,
        claim: &mut Claim<P>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Gives back claims that were never sent: each is due again at once, as
    /// it was before the claim, its attempt count unchanged. Claims no longer
    /// held are left alone. One transaction; returns how many were released.
    /// A released claim is no longer held: recording its outcome afterwards
    /// is refused with [`StoreError::ClaimLost`].
    fn release_unsent<P>(&mut self, claims: &[Claim<P>]) -> Result<usize, StoreError>;

    /// One relay pass at `now`: claims up to `limit` due envelopes, hands each
    /// to `send`, and records each outcome in its own transaction, as
    /// [`Outcome::of_send`] maps it.
    ///
    /// If recording fails (a busy or lost database), the pass stops there:
    /// the claims not yet sent are released at once, with no attempt spent;
    /// the envelope whose outcome could not be recorded stays claimed and is
    /// sent again when its lease runs out (delivery is at least once), its
    /// attempt counted once.
    fn run_once<P, F>(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
        mut send: F,
    ) -> Result<RunReport, StoreError>
    where
        P: Serialize + DeserializeOwned,
        F: FnMut(&Envelope<Dispatched, P>) -> Result<Delivery, SendError>,
    {
        let claimed = self.claim_due::<P>(now, limit)?;
        let mut report = RunReport::of_claim(&claimed);
        let mut claims = claimed.claims.into_iter();
        while let Some(Claim { envelope, .. }) = claims.next() {
            let result = send(&envelope);
            let outcome = Outcome::of_send(envelope, result, now);
            let status = outcome.envelope.status();
            if let Err(recording) = self.record_not_before(outcome.envelope, outcome.retry_after) {
                return Err(release_after(self, recording, claims.collect()));
            }
            report.count(status);
        }
        Ok(report)
    }

    /// [`run_once`](Self::run_once) with the pass's outcomes recorded in one
    /// transaction ([`record_batch`](Self::record_batch)) once every claim is
    /// sent: one synced commit per pass instead of one per envelope. A claim
    /// another worker took over meanwhile is counted in [`RunReport::lost`].
    /// If the batch cannot be recorded, nothing of it is: every envelope of
    /// the pass stays claimed and is sent again when its lease runs out.
    fn run_once_batched<P, F>(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
        mut send: F,
    ) -> Result<RunReport, StoreError>
    where
        P: Serialize + DeserializeOwned,
        F: FnMut(&Envelope<Dispatched, P>) -> Result<Delivery, SendError>,
    {
        let claimed = self.claim_due::<P>(now, limit)?;
        let mut report = RunReport::of_claim(&claimed);
        let outcomes: Vec<Outcome<P>> = claimed
            .claims
            .into_iter()
            .map(|Claim { envelope, .. }| {
                let result = send(&envelope);
                Outcome::of_send(envelope, result, now)
            })
            .collect();
        let recorded = self.record_batch(&outcomes)?;
        report.count_batch(&outcomes, recorded)?;
        Ok(report)
    }

    /// Admits a received envelope through the inbox at `now`: records its key
    /// (source and event id) and runs `effect` in the same transaction, so the
    /// effect happens once however often the event is redelivered.
    ///
    /// The effect is handed the transaction and the envelope, dispatched to
    /// it: its id, type, source, subject, time and extensions as well as its
    /// payload, so one effect can route on [`Envelope::event_type`] and store
    /// the event's key with the rows it writes.
    ///
    /// - First delivery: the effect runs and commits; [`Admission::Processed`].
    /// - Same key, same payload: the effect does not run; [`Admission::Duplicate`].
    /// - Same key, another event (payload or any attribute):
    ///   [`StoreError::KeyReused`]; nothing is written.
    /// - The effect fails: everything rolls back, no key is recorded, and the
    ///   envelope fails through its retry policy; [`Admission::Failed`].
    ///
    /// Keys older than [`StoreOptions::inbox_retention`] no longer count.
    fn admit<P, T, E, F>(
        &mut self,
        envelope: Envelope<Pending, P>,
        now: DateTime<Utc>,
        effect: F,
    ) -> Result<Admission<T, P>, StoreError>
    where
        P: Serialize,
        E: std::fmt::Display,
        F: FnOnce(&mut Self::Tx<'_>, &Envelope<Dispatched, P>) -> Result<T, E>;

    /// Admits many received envelopes in one transaction, with one synced
    /// commit for all of them: [`admit`](Self::admit)'s rules for each
    /// envelope, in order, each effect in a savepoint of its own (a failed
    /// effect rolls back alone). The results are in input order; a refused
    /// envelope (a reused key) does not stop the others. Everything admitted
    /// is durable when this returns; on a database error nothing is.
    fn admit_batch<P, T, E, F>(
        &mut self,
        envelopes: Vec<Envelope<Pending, P>>,
        now: DateTime<Utc>,
        effect: F,
    ) -> Result<Vec<AdmissionResult<T, P>>, StoreError>
    where
        P: Serialize,
        E: std::fmt::Display,
        F: FnMut(&mut Self::Tx<'_>, &Envelope<Dispatched, P>) -> Result<T, E>;

    /// Forgets inbox keys older than the retention window; returns how many.
    fn purge_inbox(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError>;

    /// Deletes the envelopes delivered (processed or acknowledged) or
    /// skipped longer than [`StoreOptions::delivered_retention`] before
    /// `now`; returns how many. Never a dead letter, a quarantined row or an
    /// envelope still to send. It deletes [`PURGE_BATCH`](super::PURGE_BATCH)
    /// rows per transaction, so no lock is held for long and other workers go
    /// on meanwhile; run it now and then (the async relay does, and the
    /// CLI's `iap purge`).
    fn purge_delivered(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError>;

    /// The stored envelope with this key, in whatever state it is.
    fn load_any<P: DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
    ) -> Result<AnyEnvelope<P>, StoreError>;

    /// The stored envelope with this key, in state `S`; an error names the
    /// state it is in if it is another.
    fn load<S: State, P: DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
    ) -> Result<Envelope<S, P>, StoreError> {
        typed(self.load_any(source_system, event_id)?)
    }

    /// Up to `limit` dead letters, oldest first: in the order they failed
    /// (the time of their last step, into the dead letters). Failed rows
    /// that do not read back are quarantined and named, and the listing goes
    /// on past them.
    fn dead_letters<P: DeserializeOwned>(
        &mut self,
        limit: usize,
    ) -> Result<DeadLetters<P>, StoreError> {
        self.dead_letters_matching(&DeadLetterFilter::all(), limit)
    }

    /// Up to `limit` of the dead letters `filter` takes, in the order they
    /// failed, oldest first, as [`dead_letters`](Self::dead_letters) lists
    /// them. The filter and the limit are applied in the database, which
    /// walks the dead letters in failure order until it has `limit` matches:
    /// without a filter it reads the dead letters it returns (and the
    /// unreadable rows it meets, which are quarantined), however many others
    /// there are; with a filter it also reads the ones before them that the
    /// filter does not take.
    fn dead_letters_matching<P: DeserializeOwned>(
        &mut self,
        filter: &DeadLetterFilter,
        limit: usize,
    ) -> Result<DeadLetters<P>, StoreError>;

    /// How many dead letters `filter` takes (counted by their rows: one that
    /// would not read back counts until something reads it).
    fn count_dead_letters(&mut self, filter: &DeadLetterFilter) -> Result<u64, StoreError>;

    /// Sends back for delivery up to `limit` of the dead letters `filter`
    /// takes, those that failed first, each with a fresh budget and due at
    /// `now`, `reason` in its history: one transaction, which holds its locks
    /// only for the batch. Failed rows that do not read back are quarantined
    /// and named instead.
    ///
    /// To redrive every dead letter a filter takes, in batches, call it
    /// until a batch takes none ([`RedriveBatch::taken`]); set
    /// [`failed_by`](DeadLetterFilter::failed_by) to the time the redrive
    /// began, so that envelopes that fail again meanwhile are not taken
    /// again. On PostgreSQL a batch skips the dead letters another
    /// transaction holds (another operator's redrive, which takes them); on
    /// SQLite batches of several redrives take turns.
    fn redrive_matching<P: Serialize + DeserializeOwned>(
        &mut self,
        filter: &DeadLetterFilter,
        limit: usize,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<RedriveBatch<P>, StoreError>;

    /// Sends one dead letter back for delivery with a fresh budget, due at
    /// `now`; `reason` goes into its history.
    fn redrive<P: Serialize + DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Envelope<Pending, P>, StoreError>;

    /// Sends every dead letter back for delivery, in one transaction (for
    /// many dead letters, [`redrive_matching`](Self::redrive_matching) takes
    /// them in batches). Failed rows that do not read back are quarantined
    /// and named; the others are redriven all the same.
    fn redrive_all<P: Serialize + DeserializeOwned>(
        &mut self,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Redriven, StoreError>;

    /// Settles a dead letter without sending it: redriven and skipped at
    /// `now`, `reason` in both history lines. The operator's other way to
    /// free the ordering key it holds.
    fn skip_dead_letter<P: Serialize + DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Envelope<Skipped, P>, StoreError>;

    /// Up to `limit` ordering keys held by a dead letter (or a quarantined
    /// row) at their head, oldest first; none when the store releases the
    /// keys of dead letters ([`DeadLetterKeys::Release`](super::DeadLetterKeys::Release)).
    fn held_keys(&mut self, limit: usize) -> Result<Vec<HeldKey>, StoreError>;

    /// Up to `limit` quarantined rows, oldest first, with the reason and the
    /// raw content of each.
    fn quarantined(&mut self, limit: usize) -> Result<Vec<QuarantinedRow>, StoreError>;

    /// Puts a quarantined row back in circulation after a repair: it is read
    /// again and checked as on every read; a pending envelope (or a claim
    /// taken as lost) is due at `now`, a retry at its policy's time. A row
    /// that still does not read back stays quarantined, with the new reason
    /// in the error.
    fn release_quarantined<P: DeserializeOwned>(
        &mut self,
        source_system: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<AnyEnvelope<P>, StoreError>;

    /// Deletes a quarantined row for good.
    fn delete_quarantined(&mut self, source_system: &str, event_id: &str)
    -> Result<(), StoreError>;

    /// Checks every outbox row that is not quarantined, as the read paths
    /// would, and names each that does not read back, without changing
    /// anything: a consistency check for operators.
    fn verify(&mut self) -> Result<Vec<StoreError>, StoreError>;

    /// How many envelopes are in each state, how many rows are quarantined,
    /// and how many keys the inbox remembers. Rows are counted by their
    /// status column (a status that is no delivery state counts as
    /// quarantined); [`verify`](Self::verify) checks their content.
    fn counts(&mut self) -> Result<StatusCounts, StoreError>;

    /// When the next envelope falls due (the earliest pending, retry or lease
    /// expiry), for a relay that sleeps until then; `None` if nothing will.
    /// An envelope a claim found waiting behind an earlier envelope of its
    /// ordering key falls due with that one.
    fn next_due_at(&mut self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// How long the oldest due envelope has been waiting at `now`, whether
    /// its relay or an earlier envelope of its ordering key holds it up;
    /// `None` if nothing is due.
    fn oldest_due_age(&mut self, now: DateTime<Utc>) -> Result<Option<Duration>, StoreError>;
}

/// How often a relay pass tries to give back its unsent claims after a
/// failed record, and how long it waits between tries.
pub(super) const RELEASE_TRIES: u32 = 3;
pub(super) const RELEASE_PAUSE: Duration = Duration::from_millis(100);

/// Gives back the claims of a relay pass that stopped at a failed record,
/// trying again for a short while (the cause, a lock or a cut connection,
/// often passes); returns the error the pass ends with.
fn release_after<S: DeliveryStore + ?Sized, P>(
    store: &mut S,
    recording: StoreError,
    unsent: Vec<Claim<P>>,
) -> StoreError {
    if unsent.is_empty() {
        return recording;
    }
    let mut last_error = None;
    for attempt in 0..RELEASE_TRIES {
        if attempt > 0 {
            std::thread::sleep(RELEASE_PAUSE);
        }
        match store.release_unsent(&unsent) {
            Ok(_) => return recording,
            Err(error) => last_error = Some(error),
        }
    }
    match last_error {
        Some(releasing) => StoreError::ClaimsNotReleased {
            recording: Box::new(recording),
            releasing: Box::new(releasing),
            unsent: unsent.len(),
        },
        None => recording,
    }
}

/// The result of one envelope of a [`DeliveryStore::admit_batch`].
pub type AdmissionResult<T, P = serde_json::Value> = Result<Admission<T, P>, StoreError>;

/// Whether one outcome of a [`record_batch`](DeliveryStore::record_batch) was
/// recorded, or why not (a claim no longer held, say).
pub type Recorded = Result<(), StoreError>;
