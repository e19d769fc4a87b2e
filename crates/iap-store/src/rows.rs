//! What every backend does the same way: reading and encoding rows, and the
//! lifecycle steps of claiming and recording.

// Without a backend feature only the typed load is used.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{Admission, AdmissionResult, Claim, StoreError};
use integration_automation_patterns::envelope::state::{Dispatched, Failed, Pending, State};
use integration_automation_patterns::envelope::{Transition, json_depth};
use integration_automation_patterns::{AnyEnvelope, DeliveryStatus, Envelope, FailOutcome};

/// What claiming one due row does to it.
pub(crate) enum ClaimStep<P> {
    /// Dispatched and leased to the claimer.
    Claim(Claim<P>),
    /// Its lease ran out with no budget left: a dead letter.
    DeadLetter(Envelope<Failed, P>),
    /// It does not read back, or cannot be due in its state: quarantine it.
    Quarantine(StoreError),
}

/// The step for a due row: pending and retrying envelopes are dispatched and
/// leased until `lease_until`; a dispatched one's lease ran out, which counts
/// as a failed attempt before it is dispatched again. A row sent past a dead
/// letter of its ordering key (`passed`, as `source/event_id`) says so in
/// its dispatch's history line.
pub(crate) fn claim_step<P: DeserializeOwned>(
    raw: RawRow,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    passed: Option<String>,
) -> ClaimStep<P> {
    let Checked { envelope, prior } = match raw.read::<P>() {
        Ok(checked) => checked,
        Err(error) => return ClaimStep::Quarantine(error),
    };
    let note = passed.map(|dead_letter| {
        format!(
            "sent past dead letter {dead_letter} of its ordering key {:?} (the store releases \
             the keys of dead letters)",
            envelope.ordering_key().unwrap_or_default()
        )
    });
    let dispatch = |envelope: Envelope<Pending, P>| match note {
        Some(note) => envelope.dispatch_noting_at(note, now),
        None => envelope.dispatch_at(now),
    };
    let dispatched = match envelope {
        AnyEnvelope::Pending(envelope) => dispatch(envelope),
        AnyEnvelope::Retrying(envelope) => envelope.dispatch_at(now),
        AnyEnvelope::Dispatched(envelope) => {
            let renewed_at = prior.renewed_at.and_then(DateTime::from_timestamp_micros);
            match envelope.fail_at(lease_expiry(renewed_at), now) {
                FailOutcome::Retry(retrying) => retrying.dispatch_at(now),
                FailOutcome::Exhausted(failed) => return ClaimStep::DeadLetter(failed),
            }
        }
        other => {
            return ClaimStep::Quarantine(corrupt(
                other.source_system(),
                other.event_id(),
                format!("a `{}` envelope is marked as due", other.status()),
            ));
        }
    };
    ClaimStep::Claim(Claim {
        envelope: dispatched,
        lease_until,
        prior,
    })
}

/// Why an expired lease counts as a failed attempt, told apart by whether the
/// worker ever renewed it: a worker that renewed and then fell silent stopped
/// mid-send; one that never renewed died early or sent for longer than the
/// lease without extending it.
fn lease_expiry(renewed_at: Option<DateTime<Utc>>) -> String {
    match renewed_at {
        Some(renewed_at) => format!(
            "lease expired: the worker renewed its claim last at {} and then fell silent \
             without recording an outcome (it died or hung mid-send)",
            renewed_at.to_rfc3339_opts(SecondsFormat::Micros, true)
        ),
        None => "lease expired: the worker that claimed it recorded no outcome and never \
                 renewed its claim (it died, or its send outlasted the lease)"
            .to_owned(),
    }
}

/// One outbox row as the database hands it back, before any check. A column
/// that does not hold what the schema says is kept as a description of what
/// it holds instead (`Err`), so that one bad row is named, not fatal.
#[derive(Debug)]
pub(crate) struct RawRow {
    /// The source system, as text even where the column holds something else.
    pub(crate) source: String,
    /// The event id, likewise.
    pub(crate) event_id: String,
    pub(crate) status: Result<String, String>,
    pub(crate) attempts: Result<i64, String>,
    /// Microseconds since the Unix epoch; `None` when the row is not due.
    pub(crate) due_at: Result<Option<i64>, String>,
    /// When the claim's worker last extended its lease (not checked: it only
    /// words the reason of a lease expiry).
    pub(crate) renewed_at: Option<i64>,
    pub(crate) envelope: Result<String, String>,
    /// Why the row was quarantined, if it was.
    pub(crate) problem: Option<String>,
    /// When a claim recorded only in the row was taken (PostgreSQL's claims
    /// in one statement): the row is dispatched, and its envelope is as it
    /// was before the claim, to be dispatched at this time as it is read.
    pub(crate) claimed_at: Option<i64>,
    /// The ordering key column (what it holds instead, if not text).
    pub(crate) ordering_key: Result<Option<String>, String>,
    /// Whether the row is held back behind an earlier envelope of its key
    /// (what the column holds instead, if not a flag).
    pub(crate) held_back: Result<bool, String>,
}

/// The status column of a row set aside because it does not read back.
pub(crate) const QUARANTINED: &str = "quarantined";

/// What a quarantined row's `problem` column keeps: the reason alone for an
/// unreadable row, the whole error otherwise.
pub(crate) fn problem(error: &StoreError) -> String {
    match error {
        StoreError::CorruptRow { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// A row's envelope once every column agrees with it, and the row as it was.
pub(crate) struct Checked<P> {
    pub(crate) envelope: AnyEnvelope<P>,
    pub(crate) prior: Prior,
}

impl RawRow {
    /// Why a stray row (one that no claim would reach, as the stores' SQL
    /// selects them) is quarantined: what is wrong with it. Every kind of
    /// stray fails [`read`](Self::read); one that does not (the SQL and the
    /// check disagreeing) is quarantined all the same, so that a claim never
    /// meets it again.
    pub(crate) fn stray_error<P: DeserializeOwned>(self) -> StoreError {
        let (source, event_id) = (self.source.clone(), self.event_id.clone());
        match self.read::<P>() {
            Err(error) => error,
            Ok(_) => corrupt(
                &source,
                &event_id,
                "no claim would ever reach the row".to_owned(),
            ),
        }
    }

    /// The envelope, once every column agrees with it: the JSON parses and
    /// replays, it is this row's event, and the status, attempt count and due
    /// time are the ones the store writes for it.
    pub(crate) fn read<P: DeserializeOwned>(self) -> Result<Checked<P>, StoreError> {
        let RawRow {
            source,
            event_id,
            status: marked,
            attempts,
            due_at,
            renewed_at,
            envelope: text,
            problem,
            claimed_at,
            ordering_key,
            held_back,
        } = self;
        let bad = |reason: String| corrupt(&source, &event_id, reason);
        if marked.as_deref() == Ok(QUARANTINED) {
            return Err(bad(
                problem.unwrap_or_else(|| "the row is quarantined".to_owned())
            ));
        }
        let (envelope, attempts, text) = parse(&source, &event_id, attempts, text, claimed_at)?;
        let status = envelope.status();
        let marked = match marked {
            Ok(marked) if marked == status.as_str() => marked,
            Ok(marked) => {
                return Err(bad(format!(
                    "the row is marked `{marked}` but holds a `{status}` envelope"
                )));
            }
            Err(held) => return Err(bad(format!("the status column holds {held}, not a status"))),
        };
        match ordering_key {
            Ok(key) if key.as_deref() == envelope.ordering_key() => {}
            Ok(key) => {
                return Err(bad(format!(
                    "the row's ordering key is {key:?} but its envelope's {:?}",
                    envelope.ordering_key()
                )));
            }
            Err(held) => {
                return Err(bad(format!("the ordering key holds {held}, not text")));
            }
        }
        match held_back {
            Ok(true) if envelope.ordering_key().is_none() => {
                return Err(bad("the row is held back, but it has no ordering key \
                                to be released by, so no claim would reach it"
                    .to_owned()));
            }
            Ok(_) => {}
            Err(held) => {
                return Err(bad(format!(
                    "the held-back mark holds {held}, neither held back nor not"
                )));
            }
        }
        let due_at =
            due_at.map_err(|held| bad(format!("the due time holds {held}, not a time")))?;
        match (is_due_state(status), due_at) {
            (true, Some(micros)) if DateTime::from_timestamp_micros(micros).is_none() => {
                return Err(bad(format!(
                    "the due time {micros} is out of the range of times"
                )));
            }
            (true, None) => {
                return Err(bad(format!(
                    "a `{status}` envelope has no due time, so it would never be sent"
                )));
            }
            (false, Some(_)) => return Err(bad(format!("a `{status}` envelope is marked as due"))),
            _ => {}
        }
        // A receiver's retry-after may push a retry later, never earlier.
        if let (AnyEnvelope::Retrying(retrying), Some(due)) = (&envelope, due_at)
            && due < micros(retrying.next_attempt_at())
        {
            return Err(bad(format!(
                "the row is due at {due}, before its retry time {}",
                micros(retrying.next_attempt_at())
            )));
        }
        Ok(Checked {
            envelope,
            prior: Prior {
                status: marked,
                attempts,
                due_at,
                renewed_at,
                envelope: text,
                claimed_at,
            },
        })
    }

    /// The envelope, checked against the row's key and attempt count but not
    /// its status or due time: how a quarantined row, whose status column was
    /// set aside, is read again after a repair.
    pub(crate) fn read_set_aside<P: DeserializeOwned>(self) -> Result<AnyEnvelope<P>, StoreError> {
        parse(
            &self.source,
            &self.event_id,
            self.attempts,
            self.envelope,
            self.claimed_at,
        )
        .map(|(envelope, ..)| envelope)
    }
}

/// The envelope in `text`, with the claim recorded in the row (if any)
/// applied, checked to be the row's event with the row's attempt count; the
/// attempt count and the text back on success.
fn parse<P: DeserializeOwned>(
    source: &str,
    event_id: &str,
    attempts: Result<i64, String>,
    text: Result<String, String>,
    claimed_at: Option<i64>,
) -> Result<(AnyEnvelope<P>, i64, String), StoreError> {
    let bad = |reason: String| corrupt(source, event_id, reason);
    let text =
        text.map_err(|held| bad(format!("the envelope column holds {held}, not JSON text")))?;
    let envelope: AnyEnvelope<P> =
        AnyEnvelope::from_storage_json(text.as_bytes()).map_err(|error| bad(error.to_string()))?;
    let envelope = match claimed_at {
        Some(claimed_at) => dispatched_at_claim(envelope, claimed_at).map_err(bad)?,
        None => envelope,
    };
    if envelope.source_system() != source || envelope.event_id() != event_id {
        return Err(bad(format!(
            "the row holds envelope {}/{}",
            envelope.source_system(),
            envelope.event_id()
        )));
    }
    let counted = i64::from(envelope.attempt_count());
    match attempts {
        Ok(attempts) if attempts == counted => Ok((envelope, attempts, text)),
        Ok(attempts) => Err(bad(format!(
            "the row counts {attempts} attempts but its envelope {counted}"
        ))),
        Err(held) => Err(bad(format!("the attempt count holds {held}, not a number"))),
    }
}

/// The envelope of a row whose claim is recorded only in the row: dispatched
/// at the claim time (microseconds), as the claimer did.
pub(crate) fn dispatched_at_claim<P>(
    envelope: AnyEnvelope<P>,
    claimed_at: i64,
) -> Result<AnyEnvelope<P>, String> {
    let at = DateTime::from_timestamp_micros(claimed_at)
        .ok_or_else(|| format!("the claim time {claimed_at} is out of the range of times"))?;
    match envelope {
        AnyEnvelope::Pending(pending) => Ok(AnyEnvelope::Dispatched(pending.dispatch_at(at))),
        AnyEnvelope::Retrying(retrying) => Ok(AnyEnvelope::Dispatched(retrying.dispatch_at(at))),
        other => Err(format!(
            "the row records a claim of a `{}` envelope, which cannot be dispatched",
            other.status()
        )),
    }
}

/// A claimed row as it was before the claim, so that a claim that was never
/// sent can be given back without spending an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Prior {
    pub(crate) status: String,
    pub(crate) attempts: i64,
    pub(crate) due_at: Option<i64>,
    pub(crate) renewed_at: Option<i64>,
    pub(crate) envelope: String,
    /// The time of a claim recorded only in the row (PostgreSQL).
    pub(crate) claimed_at: Option<i64>,
}

/// Whether an envelope in this state waits for a relay (and so has a due time).
fn is_due_state(status: DeliveryStatus) -> bool {
    matches!(
        status,
        DeliveryStatus::Pending | DeliveryStatus::Retrying | DeliveryStatus::Dispatched
    )
}

/// When a released quarantined envelope is due: a pending one, or a
/// dispatched one whose claim is taken as lost, at once; a retry at its
/// policy's time; the others never.
pub(crate) fn release_due_at<P>(
    envelope: &AnyEnvelope<P>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match envelope {
        AnyEnvelope::Pending(_) | AnyEnvelope::Dispatched(_) => Some(now),
        AnyEnvelope::Retrying(retrying) => Some(retrying.next_attempt_at()),
        _ => None,
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
    /// The key with the same event: a redelivery.
    Duplicate,
    /// The key with another event (another payload, type, subject or any
    /// other attribute): the sender reused an event id.
    Reused,
    /// The key with an event column that does not read back (what it holds
    /// instead): neither a duplicate nor a reuse can be told. Only SQLite's
    /// loose column types can hold such a key.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Unreadable(String),
}

impl InboxKey {
    /// The state of a key held fresh, from the text stored under it and the
    /// received event's [`inbox_text`]. A key stored before inbox texts kept
    /// numbers as written holds them rounded, and is compared so too; a key
    /// stored before schema version 6 holds the payload alone, and is
    /// compared with the payload. (So a
    /// reused id whose payload is, text for text, the whole event stored
    /// under the key is taken for a duplicate: only the sender that reused
    /// the id can arrange that.)
    pub(crate) fn of<P: Serialize>(
        stored: &str,
        event_text: &str,
        envelope: &Envelope<Pending, P>,
    ) -> InboxKey {
        let payload_alone = || serde_json::to_string(envelope.payload()).ok();
        if stored == event_text
            || rounded_inbox_text(envelope).is_some_and(|rounded| stored == rounded)
            || payload_alone().is_some_and(|payload| stored == payload)
        {
            InboxKey::Duplicate
        } else {
            InboxKey::Reused
        }
    }

    /// The envelope back if it is to be admitted, or the inbox's answer if
    /// the key settles it: a duplicate, a refused reuse, or an unreadable key.
    pub(crate) fn settle<T, P>(
        self,
        envelope: Envelope<Pending, P>,
        now: DateTime<Utc>,
    ) -> Result<Envelope<Pending, P>, AdmissionResult<T, P>> {
        match self {
            InboxKey::New => Ok(envelope),
            InboxKey::Duplicate => {
                crate::observe::count_duplicate();
                Err(Ok(Admission::Duplicate(envelope.skip_at(
                    "duplicate: this event was already processed",
                    now,
                ))))
            }
            InboxKey::Reused => Err(Err(StoreError::KeyReused {
                source_system: envelope.source_system().to_owned(),
                event_id: envelope.event_id().to_owned(),
            })),
            InboxKey::Unreadable(held) => Err(Err(corrupt(
                envelope.source_system(),
                envelope.event_id(),
                format!("the inbox key's event column holds {held}, not JSON text"),
            ))),
        }
    }
}

/// What an inbox effect's result makes of the envelope dispatched to it:
/// processed, or failed through its retry policy.
pub(crate) fn settle_effect<P, T, E: std::fmt::Display>(
    dispatched: Envelope<Dispatched, P>,
    result: Result<T, E>,
    now: DateTime<Utc>,
) -> Admission<T, P> {
    match result {
        Ok(value) => Admission::Processed(dispatched.process_at(now), value),
        Err(error) => Admission::Failed(dispatched.fail_at(error.to_string(), now)),
    }
}

/// The error for a claim on an event's attempt that is no longer held.
/// What recording `outcome` writes (its due time in microseconds, if it
/// waits, and its text), or why this one outcome cannot be recorded.
/// When a row in `status` came to rest, as stored in its `settled_at`
/// column (microseconds): the time of the envelope's `last` transition, if
/// `status` is delivered (processed or acknowledged) or skipped, which
/// retention counts from, or failed: when the dead letter failed, the order
/// operators list dead letters in (retention never deletes them). Rows on
/// their way have none.
pub(crate) fn settled_at(status: DeliveryStatus, last: Option<&Transition>) -> Option<i64> {
    match status {
        DeliveryStatus::Processed
        | DeliveryStatus::Acknowledged
        | DeliveryStatus::Skipped
        | DeliveryStatus::Failed => last.map(|transition| micros(transition.at())),
        _ => None,
    }
}

pub(crate) fn record_values<P: Serialize>(
    outcome: &super::Outcome<P>,
) -> Result<(Option<i64>, String), StoreError> {
    let due_at = outcome_due_at(&outcome.envelope, outcome.retry_after)?.map(micros);
    Ok((due_at, encode_any(&outcome.envelope)?))
}

/// Whether a record statement that changed `updated` rows recorded
/// `outcome`: none means the claim is no longer held.
pub(crate) fn recorded<P>(updated: u64, outcome: &AnyEnvelope<P>) -> Result<(), StoreError> {
    if updated == 0 {
        Err(claim_lost(
            outcome.source_system(),
            outcome.event_id(),
            outcome.attempt_count(),
        ))
    } else {
        Ok(())
    }
}

pub(crate) fn claim_lost(source_system: &str, event_id: &str, attempt: u32) -> StoreError {
    StoreError::ClaimLost {
        source_system: source_system.to_owned(),
        event_id: event_id.to_owned(),
        attempt,
    }
}

/// Where a row stands in the order dead letters are listed in: when it
/// failed (microseconds; the earliest time there is if the row has no time
/// that reads as one), then its sequence (enqueue order) among those that
/// failed at the same time. The next page of a listing starts after the last
/// row of the page before.
pub(crate) type FailedOrder = (i64, i64);

/// The first place in the order of dead letters, before every row.
pub(crate) const BEFORE_FIRST_DEAD_LETTER: FailedOrder = (i64::MIN, i64::MIN);

/// Sorts one page of failed rows (each with its place in the order of dead
/// letters) into the dead letters that read back and the keys (`key` of the
/// row) of those that do not, to be quarantined once the page is read.
/// Returns the place of the page's last row, where the next page starts, or
/// `None` for an empty page: the last one.
pub(crate) fn sort_dead_letters<P: DeserializeOwned, K>(
    rows: Vec<(FailedOrder, RawRow)>,
    letters: &mut Vec<Envelope<Failed, P>>,
    unreadable: &mut Vec<K>,
    key: impl Fn(FailedOrder, &RawRow) -> K,
) -> Option<FailedOrder> {
    let mut last = None;
    for (place, raw) in rows {
        last = Some(place);
        let key = key(place, &raw);
        match raw
            .read::<P>()
            .and_then(|checked| typed::<Failed, P>(checked.envelope))
        {
            Ok(letter) => letters.push(letter),
            Err(_) => unreadable.push(key),
        }
    }
    last
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

/// The error for a key that has no quarantined row.
pub(crate) fn not_quarantined(source_system: &str, event_id: &str) -> StoreError {
    StoreError::NotQuarantined {
        source_system: source_system.to_owned(),
        event_id: event_id.to_owned(),
    }
}

/// The error for a key that has no row.
pub(crate) fn not_found(source_system: &str, event_id: &str) -> StoreError {
    StoreError::NotFound {
        source_system: source_system.to_owned(),
        event_id: event_id.to_owned(),
    }
}

/// The event as the inbox keeps it and compares a redelivery with it: the
/// plain CloudEvent, every attribute and the data (binary data as base64),
/// in [`canonical_json`] form, so that no number of the data is rounded. So
/// that the same event sent again in the other content mode is the same
/// text: JSON data without a content type is written as `application/json`
/// (which the JSON format says it is, and binary mode names), every
/// extension value as its string form (binary mode carries them as text),
/// and the time in UTC (the same instant is the same time, whatever offset
/// it came with).
pub(crate) fn inbox_text<P: Serialize>(
    envelope: &Envelope<Pending, P>,
) -> Result<String, StoreError> {
    let unwritable = |reason: String| StoreError::Encode {
        source_system: envelope.source_system().to_owned(),
        event_id: envelope.event_id().to_owned(),
        reason,
    };
    let text = serde_json::to_string(&envelope.to_cloudevent())
        .map_err(|error| unwritable(error.to_string()))?;
    if json_depth(&text) > MAX_STORED_DEPTH {
        return Err(unwritable(format!(
            "its data is nested deeper than the {MAX_STORED_DEPTH} levels the inbox compares"
        )));
    }
    let string = |text: &str| serde_json::to_string(text).and_then(RawValue::from_string);
    let written = || -> Result<String, serde_json::Error> {
        let mut members: BTreeMap<String, Box<RawValue>> = serde_json::from_str(&text)?;
        if let Some(time) = envelope.created_at() {
            let time = time.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            members.insert("time".into(), string(&time)?);
        }
        if members.contains_key("data") && !members.contains_key("datacontenttype") {
            members.insert("datacontenttype".into(), string("application/json")?);
        }
        for (name, value) in members.iter_mut() {
            if envelope.extension(name).is_some() && !value.get().starts_with('"') {
                *value = string(value.get())?;
            }
        }
        canonical_members(&members)
    };
    written().map_err(|error| unwritable(error.to_string()))
}

/// JSON text in one form whatever its spacing, member order and string
/// escapes: members sorted by name, no spaces, strings as `serde_json`
/// writes them, and numbers as they were written (none rounded). For the
/// JSON that `serde_json` writes of a `Value` (keys sorted), the same text.
fn canonical_json(json: &RawValue) -> Result<String, serde_json::Error> {
    let text = json.get();
    Ok(match text.as_bytes().first() {
        Some(b'{') => canonical_members(&serde_json::from_str(text)?)?,
        Some(b'[') => {
            let items: Vec<Box<RawValue>> = serde_json::from_str(text)?;
            let items: Vec<String> = items
                .iter()
                .map(|item| canonical_json(item))
                .collect::<Result<_, _>>()?;
            format!("[{}]", items.join(","))
        }
        Some(b'"') => serde_json::to_string(&serde_json::from_str::<String>(text)?)?,
        _ => text.to_owned(),
    })
}

/// An object's members in [`canonical_json`] form.
fn canonical_members(
    members: &BTreeMap<String, Box<RawValue>>,
) -> Result<String, serde_json::Error> {
    let members: Vec<String> = members
        .iter()
        .map(|(name, value)| {
            Ok(format!(
                "{}:{}",
                serde_json::to_string(name)?,
                canonical_json(value)?
            ))
        })
        .collect::<Result<_, serde_json::Error>>()?;
    Ok(format!("{{{}}}", members.join(",")))
}

/// The inbox text of [`inbox_text`] as keys held before it kept numbers as
/// written: through a `serde_json::Value`, which rounds what an `f64` cannot
/// hold. `None` where a `Value` cannot hold the event.
fn rounded_inbox_text<P: Serialize>(envelope: &Envelope<Pending, P>) -> Option<String> {
    let text = inbox_text(envelope).ok()?;
    let value: Value = serde_json::from_str(&text).ok()?;
    serde_json::to_string(&value).ok()
}

/// The error naming an unreadable row and why.
pub(crate) fn corrupt(source: &str, event_id: &str, reason: String) -> StoreError {
    StoreError::CorruptRow {
        source_system: source.to_owned(),
        event_id: event_id.to_owned(),
        reason,
    }
}

/// The storage form of `envelope`, refused if it would not read back.
pub(crate) fn encode<S: State, P: Serialize>(
    envelope: &Envelope<S, P>,
) -> Result<String, StoreError> {
    stored_text(
        serde_json::to_string(envelope),
        envelope.source_system(),
        envelope.event_id(),
    )
}

/// The storage form of `envelope`, refused if it would not read back.
pub(crate) fn encode_any<P: Serialize>(envelope: &AnyEnvelope<P>) -> Result<String, StoreError> {
    stored_text(
        serde_json::to_string(envelope),
        envelope.source_system(),
        envelope.event_id(),
    )
}

/// The deepest nesting of arrays and objects that the stores' JSON reader
/// reads back (serde_json's recursion limit): the envelope's own object and
/// 126 levels of payload.
pub(crate) const MAX_STORED_DEPTH: usize = 127;

/// What a store writes of an envelope: its JSON text, unless it could not be
/// written or would not read back (nested deeper than [`MAX_STORED_DEPTH`]);
/// either is refused before anything is written, naming the envelope.
fn stored_text(
    written: serde_json::Result<String>,
    source_system: &str,
    event_id: &str,
) -> Result<String, StoreError> {
    let refused = |reason: String| StoreError::Encode {
        source_system: source_system.to_owned(),
        event_id: event_id.to_owned(),
        reason,
    };
    let text = written.map_err(|error| refused(error.to_string()))?;
    let depth = json_depth(&text);
    if depth > MAX_STORED_DEPTH {
        return Err(refused(format!(
            "it nests arrays and objects {depth} levels deep, and a stored envelope is read \
             back to at most {MAX_STORED_DEPTH} (its payload to {})",
            MAX_STORED_DEPTH - 1
        )));
    }
    Ok(text)
}

/// How long an envelope due at `due` (the store's time column) has waited at `now`.
pub(crate) fn waited_since(due: i64, now: DateTime<Utc>) -> Duration {
    let waited = micros(now).saturating_sub(due);
    Duration::from_micros(u64::try_from(waited).unwrap_or_default())
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

#[cfg(all(test, any(feature = "sqlite", feature = "postgres")))]
// A test fails by panicking; the crate's rule against it is for library code.
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn time(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_767_000_000 + seconds)
    }

    fn pending() -> Envelope<Pending> {
        Envelope::builder()
            .event_id("order-1")
            .event_type("commerce.order.placed")
            .source_system("webshop")
            .payload(serde_json::json!({ "order_id": 1 }))
            .created_at(time(0))
            .build()
            .unwrap()
    }

    /// A row as PostgreSQL's claim in one statement leaves it: dispatched,
    /// the attempt counted, the envelope as it was before the claim.
    fn claimed_row<S: State>(envelope: &Envelope<S>, attempts: i64, claimed_at: i64) -> RawRow {
        RawRow {
            source: "webshop".to_owned(),
            event_id: "order-1".to_owned(),
            status: Ok("dispatched".to_owned()),
            attempts: Ok(attempts),
            due_at: Ok(Some(micros(time(300)))),
            renewed_at: None,
            envelope: Ok(encode(envelope).unwrap()),
            problem: None,
            claimed_at: Some(claimed_at),
            ordering_key: Ok(None),
            held_back: Ok(false),
        }
    }

    #[test]
    fn a_claim_recorded_in_the_row_reads_as_the_envelope_dispatched_at_the_claim_time() {
        let read = claimed_row(&pending(), 1, micros(time(5)))
            .read::<serde_json::Value>()
            .unwrap();
        let expected = AnyEnvelope::Dispatched(pending().dispatch_at(time(5)));
        assert_eq!(read.envelope, expected);

        let retrying = match pending().dispatch_at(time(1)).fail_at("503", time(2)) {
            FailOutcome::Retry(retrying) => retrying,
            FailOutcome::Exhausted(_) => unreachable!("the default policy retries"),
        };
        let read = claimed_row(&retrying, 2, micros(time(40)))
            .read::<serde_json::Value>()
            .unwrap();
        assert_eq!(
            read.envelope,
            AnyEnvelope::Dispatched(retrying.dispatch_at(time(40)))
        );
    }

    #[test]
    fn a_claim_recorded_in_the_row_must_agree_with_the_row() {
        let reason = |row: RawRow| match row.read::<serde_json::Value>() {
            Err(StoreError::CorruptRow { reason, .. }) => reason,
            Err(other) => panic!("expected a corrupt row, got {other}"),
            Ok(checked) => panic!("expected a corrupt row, read {:?}", checked.envelope),
        };
        assert_eq!(
            reason(claimed_row(&pending(), 0, micros(time(5)))),
            "the row counts 0 attempts but its envelope 1"
        );
        let processed = pending().dispatch_at(time(1)).process_at(time(2));
        assert_eq!(
            reason(claimed_row(&processed, 2, micros(time(5)))),
            "the row records a claim of a `processed` envelope, which cannot be dispatched"
        );
        assert_eq!(
            reason(claimed_row(&pending(), 1, i64::MIN)),
            format!("the claim time {} is out of the range of times", i64::MIN)
        );
        let mut marked_pending = claimed_row(&pending(), 1, micros(time(5)));
        marked_pending.status = Ok("pending".to_owned());
        assert_eq!(
            reason(marked_pending),
            "the row is marked `pending` but holds a `dispatched` envelope"
        );
    }

    #[test]
    fn the_sql_list_of_settled_statuses_is_the_one_settled_at_keeps_beside_dead_letters() {
        let processed = pending()
            .dispatch_at(DateTime::<Utc>::UNIX_EPOCH)
            .process_at(DateTime::<Utc>::UNIX_EPOCH);
        let last = processed.history().last().unwrap().clone();
        for status in DeliveryStatus::ALL {
            let in_sql = settled_statuses!().contains(&format!("'{}'", status.as_str()));
            assert_eq!(
                settled_at(status, Some(&last)).is_some(),
                in_sql || status == DeliveryStatus::Failed,
                "{status:?}"
            );
        }
    }
}
