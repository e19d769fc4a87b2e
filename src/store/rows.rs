//! What every backend does the same way: reading and encoding rows, and the
//! lifecycle steps of claiming and recording.

// Without a backend feature only the typed load is used.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Admission, AdmissionResult, StoreError};
use crate::envelope::state::{Dispatched, Failed, Pending, State};
use crate::{AnyEnvelope, Envelope, FailOutcome};

/// What claiming one due row does to it.
pub(crate) enum ClaimStep<P> {
    /// Dispatched and leased to the claimer.
    Claim(Envelope<Dispatched, P>),
    /// Its lease ran out with no budget left: a dead letter.
    DeadLetter(Envelope<Failed, P>),
    /// It cannot be due in its state: quarantine it.
    Quarantine(StoreError),
}

/// The step for a due row holding `envelope`: pending and retrying envelopes
/// are dispatched; a dispatched one's lease ran out, which counts as a failed
/// attempt before it is dispatched again.
pub(crate) fn claim_step<P>(envelope: AnyEnvelope<P>, now: DateTime<Utc>) -> ClaimStep<P> {
    match envelope {
        AnyEnvelope::Pending(envelope) => ClaimStep::Claim(envelope.dispatch_at(now)),
        AnyEnvelope::Retrying(envelope) => ClaimStep::Claim(envelope.dispatch_at(now)),
        AnyEnvelope::Dispatched(envelope) => match envelope.fail_at(
            "lease expired: the worker that claimed it recorded no outcome",
            now,
        ) {
            FailOutcome::Retry(retrying) => ClaimStep::Claim(retrying.dispatch_at(now)),
            FailOutcome::Exhausted(failed) => ClaimStep::DeadLetter(failed),
        },
        other => ClaimStep::Quarantine(corrupt(
            other.source_system(),
            other.event_id(),
            format!("a `{}` envelope is marked as due", other.status()),
        )),
    }
}

/// When a recorded outcome is due again: a retry at its policy's time (or the
/// receiver's `retry_after`, if later); delivered and failed envelopes never.
pub(crate) fn outcome_due_at<P>(
    outcome: &AnyEnvelope<P>,
    retry_after: Option<DateTime<Utc>>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    match outcome {
        AnyEnvelope::Processed(_) | AnyEnvelope::Acknowledged(_) | AnyEnvelope::Failed(_) => {
            Ok(None)
        }
        AnyEnvelope::Retrying(retrying) => {
            let policy_time = retrying.next_attempt_at();
            Ok(Some(
                retry_after.map_or(policy_time, |after| after.max(policy_time)),
            ))
        }
        other => Err(StoreError::NotAnOutcome {
            source_system: other.source_system().to_owned(),
            event_id: other.event_id().to_owned(),
            status: other.status(),
        }),
    }
}

/// What the inbox holds for a received envelope's key.
pub(crate) enum InboxKey {
    /// Nothing fresh: the envelope is admitted and its effect runs.
    New,
    /// The key with the same payload: a redelivery.
    Duplicate,
    /// The key with another payload: the sender reused an event id.
    Reused,
}

impl InboxKey {
    /// The key's state, from the fresh payload stored under it, if any.
    pub(crate) fn of(stored: Option<&str>, payload: &str) -> InboxKey {
        match stored {
            None => InboxKey::New,
            Some(stored) if stored == payload => InboxKey::Duplicate,
            Some(_) => InboxKey::Reused,
        }
    }

    /// The envelope back if it is to be admitted, or the inbox's answer if
    /// the key settles it: a duplicate, or a refused reuse.
    pub(crate) fn settle<T, P>(
        self,
        envelope: Envelope<Pending, P>,
        now: DateTime<Utc>,
    ) -> Result<Envelope<Pending, P>, AdmissionResult<T, P>> {
        match self {
            InboxKey::New => Ok(envelope),
            InboxKey::Duplicate => Err(Ok(Admission::Duplicate(
                envelope.skip_at("duplicate: this event was already processed", now),
            ))),
            InboxKey::Reused => Err(Err(StoreError::KeyReused {
                source_system: envelope.source_system().to_owned(),
                event_id: envelope.event_id().to_owned(),
            })),
        }
    }
}

/// Runs an inbox effect for a newly admitted envelope: dispatched to it, then
/// processed if it succeeds, or failed through its retry policy if it does
/// not. The caller commits the effect's transaction only for `Processed`.
pub(crate) fn run_effect<P, T, E: std::fmt::Display>(
    envelope: Envelope<Pending, P>,
    now: DateTime<Utc>,
    effect: impl FnOnce(&P) -> Result<T, E>,
) -> Admission<T, P> {
    let dispatched = envelope.dispatch_at(now);
    match effect(dispatched.payload()) {
        Ok(value) => Admission::Processed(dispatched.process_at(now), value),
        Err(error) => Admission::Failed(dispatched.fail_at(error.to_string(), now)),
    }
}

/// The error for an outcome whose claim is no longer held.
pub(crate) fn claim_lost<P>(outcome: &AnyEnvelope<P>) -> StoreError {
    StoreError::ClaimLost {
        source_system: outcome.source_system().to_owned(),
        event_id: outcome.event_id().to_owned(),
        attempt: outcome.attempt_count(),
    }
}

/// `any` as an `Envelope<S>`, or an error naming the state it is in.
pub(crate) fn typed<S: State, P>(any: AnyEnvelope<P>) -> Result<Envelope<S, P>, StoreError> {
    let (source_system, event_id) = (any.source_system().to_owned(), any.event_id().to_owned());
    Envelope::try_from(any).map_err(|wrong| StoreError::WrongState {
        source_system,
        event_id,
        expected: wrong.expected(),
        found: wrong.found(),
    })
}

/// The error for a key that has no row.
pub(crate) fn not_found(source_system: &str, event_id: &str) -> StoreError {
    StoreError::NotFound {
        source_system: source_system.to_owned(),
        event_id: event_id.to_owned(),
    }
}

/// The payload as the inbox compares it.
pub(crate) fn payload_text<P: Serialize>(
    envelope: &Envelope<Pending, P>,
) -> Result<String, StoreError> {
    serde_json::to_string(envelope.payload()).map_err(|error| StoreError::Encode {
        source_system: envelope.source_system().to_owned(),
        event_id: envelope.event_id().to_owned(),
        reason: error.to_string(),
    })
}

/// Reads a stored envelope, checking that its JSON and its status column agree.
pub(crate) fn read_row<P: DeserializeOwned>(
    source: &str,
    event_id: &str,
    status: &str,
    text: &str,
) -> Result<AnyEnvelope<P>, StoreError> {
    let envelope: AnyEnvelope<P> =
        serde_json::from_str(text).map_err(|error| corrupt(source, event_id, error.to_string()))?;
    if envelope.source_system() != source || envelope.event_id() != event_id {
        return Err(corrupt(
            source,
            event_id,
            format!(
                "the row holds envelope {}/{}",
                envelope.source_system(),
                envelope.event_id()
            ),
        ));
    }
    if envelope.status().as_str() != status {
        return Err(corrupt(
            source,
            event_id,
            format!(
                "the row is marked `{status}` but holds a `{}` envelope",
                envelope.status()
            ),
        ));
    }
    Ok(envelope)
}

pub(crate) fn corrupt(source: &str, event_id: &str, reason: String) -> StoreError {
    StoreError::CorruptRow {
        source_system: source.to_owned(),
        event_id: event_id.to_owned(),
        reason,
    }
}

pub(crate) fn encode<S: State, P: Serialize>(
    envelope: &Envelope<S, P>,
) -> Result<String, StoreError> {
    serde_json::to_string(envelope).map_err(|error| StoreError::Encode {
        source_system: envelope.source_system().to_owned(),
        event_id: envelope.event_id().to_owned(),
        reason: error.to_string(),
    })
}

pub(crate) fn encode_any<P: Serialize>(envelope: &AnyEnvelope<P>) -> Result<String, StoreError> {
    serde_json::to_string(envelope).map_err(|error| StoreError::Encode {
        source_system: envelope.source_system().to_owned(),
        event_id: envelope.event_id().to_owned(),
        reason: error.to_string(),
    })
}

/// Microseconds since the Unix epoch, the store's time column.
pub(crate) fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

pub(crate) fn add(time: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(duration)
        .ok()
        .and_then(|delta| time.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub(crate) fn subtract(time: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(duration)
        .ok()
        .and_then(|delta| time.checked_sub_signed(delta))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
