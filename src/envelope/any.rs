//! An envelope in any state, for storage, collections and run-time dispatch.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, FixedOffset, Utc};

use super::Envelope;
use super::attributes::{ExtensionValue, Extensions};
use super::history::Transition;
use super::lifecycle::FailOutcome;
use super::state::guard::{
    AcknowledgeNeedsATypedEnvelope, DispatchNeedsATypedEnvelope, FailNeedsATypedEnvelope,
    FailPermanentlyNeedsATypedEnvelope, ProcessNeedsATypedEnvelope, RedriveNeedsATypedEnvelope,
    SkipNeedsATypedEnvelope, Unreachable,
};
use super::state::{
    Acknowledged, DeliveryStatus, Dispatched, Failed, Pending, Processed, Retrying, Skipped, State,
    TransitionRule,
};
use crate::retry::RetryPolicy;

/// An envelope whose state is known only at run time: one variant per state.
///
/// It has no transitions of its own: calling `dispatch` or any other
/// transition on it is a compile error that says to match on its state,
/// convert it, or use [`apply_at`](Self::apply_at) (see
/// [`state::guard`](crate::state::guard)).
///
/// Every typed envelope converts into it with `From`; it converts back with
/// `TryFrom`, which checks the state and hands the envelope back on a mismatch:
///
/// ```
/// use integration_automation_patterns::{AnyEnvelope, Envelope, state::{Pending, Retrying}};
///
/// let envelope = Envelope::builder()
///     .event_id("evt-1")
///     .event_type("crm.contact.created")
///     .source_system("crm")
///     .payload(serde_json::json!({}))
///     .build()?;
/// let any = AnyEnvelope::from(envelope);
/// let wrong = Envelope::<Retrying>::try_from(any).unwrap_err();
/// assert_eq!(wrong.to_string(), "expected an envelope in state `retrying`, found `pending` (event_id \"evt-1\")");
/// let back: Envelope<Pending> = wrong.into_envelope().try_into()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "an envelope that is dropped is an event that is lost"]
#[derive(Clone, Debug, PartialEq)]
pub enum AnyEnvelope<P = serde_json::Value> {
    /// See [`Pending`].
    Pending(Envelope<Pending, P>),
    /// See [`Dispatched`].
    Dispatched(Envelope<Dispatched, P>),
    /// See [`Acknowledged`].
    Acknowledged(Envelope<Acknowledged, P>),
    /// See [`Processed`].
    Processed(Envelope<Processed, P>),
    /// See [`Retrying`].
    Retrying(Envelope<Retrying, P>),
    /// See [`Failed`].
    Failed(Envelope<Failed, P>),
    /// See [`Skipped`].
    Skipped(Envelope<Skipped, P>),
}

/// Runs `$body` with `$e` bound to the typed envelope inside `$any`, whatever its state.
macro_rules! each_state {
    ($any:expr, $e:ident => $body:expr) => {
        match $any {
            AnyEnvelope::Pending($e) => $body,
            AnyEnvelope::Dispatched($e) => $body,
            AnyEnvelope::Acknowledged($e) => $body,
            AnyEnvelope::Processed($e) => $body,
            AnyEnvelope::Retrying($e) => $body,
            AnyEnvelope::Failed($e) => $body,
            AnyEnvelope::Skipped($e) => $body,
        }
    };
}
pub(crate) use each_state;

impl<P> AnyEnvelope<P> {
    /// `envelope` as a variant of the state `status`.
    pub(crate) fn with_status<S: State>(envelope: Envelope<S, P>, status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Pending => AnyEnvelope::Pending(envelope.into_state()),
            DeliveryStatus::Dispatched => AnyEnvelope::Dispatched(envelope.into_state()),
            DeliveryStatus::Acknowledged => AnyEnvelope::Acknowledged(envelope.into_state()),
            DeliveryStatus::Processed => AnyEnvelope::Processed(envelope.into_state()),
            DeliveryStatus::Retrying => AnyEnvelope::Retrying(envelope.into_state()),
            DeliveryStatus::Failed => AnyEnvelope::Failed(envelope.into_state()),
            DeliveryStatus::Skipped => AnyEnvelope::Skipped(envelope.into_state()),
        }
    }

    /// The delivery state.
    pub fn status(&self) -> DeliveryStatus {
        each_state!(self, e => e.status())
    }

    /// The transitions that may start from this envelope's state, in the
    /// order of [`DeliveryStatus::TRANSITIONS`]: what a UI offers, or what
    /// [`apply_at`](Self::apply_at) accepts.
    ///
    /// ```
    /// use integration_automation_patterns::{AnyEnvelope, Envelope};
    ///
    /// let envelope = Envelope::builder()
    ///     .event_id("evt-1")
    ///     .event_type("crm.contact.updated")
    ///     .source_system("crm")
    ///     .payload(serde_json::json!({}))
    ///     .build()?;
    /// let any = AnyEnvelope::from(envelope.dispatch());
    /// let names: Vec<&str> = any.allowed_transitions().map(|rule| rule.name).collect();
    /// assert_eq!(names, ["acknowledge", "process", "fail", "fail_permanently"]);
    /// # Ok::<(), integration_automation_patterns::EnvelopeError>(())
    /// ```
    pub fn allowed_transitions(&self) -> impl Iterator<Item = &'static TransitionRule> + use<P> {
        self.status().allowed_transitions()
    }

    /// See [`Envelope::event_id`].
    pub fn event_id(&self) -> &str {
        each_state!(self, e => e.event_id())
    }

    /// See [`Envelope::event_type`].
    pub fn event_type(&self) -> &str {
        each_state!(self, e => e.event_type())
    }

    /// See [`Envelope::source_system`].
    pub fn source_system(&self) -> &str {
        each_state!(self, e => e.source_system())
    }

    /// See [`Envelope::payload`].
    pub fn payload(&self) -> &P {
        each_state!(self, e => e.payload())
    }

    /// See [`Envelope::correlation_id`].
    pub fn correlation_id(&self) -> Option<&str> {
        each_state!(self, e => e.correlation_id())
    }

    /// See [`Envelope::schema_version`].
    pub fn schema_version(&self) -> &str {
        each_state!(self, e => e.schema_version())
    }

    /// See [`Envelope::created_at`].
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        each_state!(self, e => e.created_at())
    }

    /// See [`Envelope::time`].
    pub fn time(&self) -> Option<DateTime<FixedOffset>> {
        each_state!(self, e => e.time())
    }

    /// See [`Envelope::fits_binary_mode`].
    pub fn fits_binary_mode(&self) -> bool {
        each_state!(self, e => e.fits_binary_mode())
    }

    /// See [`Envelope::data_content_type`].
    pub fn data_content_type(&self) -> Option<&str> {
        each_state!(self, e => e.data_content_type())
    }

    /// See [`Envelope::data_schema`].
    pub fn data_schema(&self) -> Option<&str> {
        each_state!(self, e => e.data_schema())
    }

    /// See [`Envelope::subject`].
    pub fn subject(&self) -> Option<&str> {
        each_state!(self, e => e.subject())
    }

    /// See [`Envelope::extensions`].
    pub fn extensions(&self) -> &Extensions {
        each_state!(self, e => e.extensions())
    }

    /// See [`Envelope::extension`].
    pub fn extension(&self, name: &str) -> Option<&ExtensionValue> {
        each_state!(self, e => e.extension(name))
    }

    /// See [`Envelope::traceparent`].
    pub fn traceparent(&self) -> Option<&str> {
        each_state!(self, e => e.traceparent())
    }

    /// See [`Envelope::ordering_key`].
    pub fn ordering_key(&self) -> Option<&str> {
        each_state!(self, e => e.ordering_key())
    }

    /// See [`Envelope::tracestate`].
    pub fn tracestate(&self) -> Option<&str> {
        each_state!(self, e => e.tracestate())
    }

    /// See [`Envelope::attempt_count`].
    pub fn attempt_count(&self) -> u32 {
        each_state!(self, e => e.attempt_count())
    }

    /// See [`Envelope::retry_policy`].
    pub fn retry_policy(&self) -> &RetryPolicy {
        each_state!(self, e => e.retry_policy())
    }

    /// See [`Envelope::tags`].
    pub fn tags(&self) -> &BTreeMap<String, String> {
        each_state!(self, e => e.tags())
    }

    /// See [`Envelope::is_terminal`].
    pub fn is_terminal(&self) -> bool {
        self.status().is_terminal()
    }

    /// See [`Envelope::history`].
    pub fn history(&self) -> &[Transition] {
        each_state!(self, e => e.history())
    }

    /// See [`Envelope::last_transition`].
    pub fn last_transition(&self) -> Option<&Transition> {
        each_state!(self, e => e.last_transition())
    }

    /// See [`Envelope::to_audit_line`].
    pub fn to_audit_line(&self) -> String {
        each_state!(self, e => e.to_audit_line())
    }

    /// Applies `operation` if it is legal from the current state, recording `at`;
    /// otherwise hands the envelope back unchanged inside the error.
    ///
    /// This is the run-time counterpart of the typed transitions, and calls them.
    pub fn apply_at(
        self,
        operation: Operation,
        at: DateTime<Utc>,
    ) -> Result<AnyEnvelope<P>, IllegalTransition<P>> {
        use AnyEnvelope as A;
        use Operation as Op;
        Ok(match (self, operation) {
            (A::Pending(e), Op::Dispatch) => e.dispatch_at(at).into(),
            (A::Retrying(e), Op::Dispatch) => e.dispatch_at(at).into(),
            (A::Dispatched(e), Op::Acknowledge) => e.acknowledge_at(at).into(),
            (A::Dispatched(e), Op::Process) => e.process_at(at).into(),
            (A::Acknowledged(e), Op::Process) => e.process_at(at).into(),
            (A::Dispatched(e), Op::Fail(reason)) => e.fail_at(reason, at).into(),
            (A::Acknowledged(e), Op::Fail(reason)) => e.fail_at(reason, at).into(),
            (A::Dispatched(e), Op::FailPermanently(reason)) => {
                e.fail_permanently_at(reason, at).into()
            }
            (A::Acknowledged(e), Op::FailPermanently(reason)) => {
                e.fail_permanently_at(reason, at).into()
            }
            (A::Pending(e), Op::Skip(reason)) => e.skip_at(reason, at).into(),
            (A::Retrying(e), Op::Skip(reason)) => e.skip_at(reason, at).into(),
            (A::Failed(e), Op::Redrive(reason)) => e.redrive_at(reason, at).into(),
            (envelope, operation) => {
                return Err(IllegalTransition {
                    operation,
                    envelope: Box::new(envelope),
                });
            }
        })
    }
}

// The transitions of `Envelope` under the same names and arguments, hidden
// from the documentation: each is bounded by its transition's guard, which no
// type implements, so calling a transition on an `AnyEnvelope` is the guard's
// compile error (which says to match on the state or convert) rather than
// "no method named `dispatch` found". Each returns what the typed transition
// returns, so that the rest of the expression raises no second error.
// `tests/transition_table.rs` holds them to the table, one program each.
// Their arguments are unused: the methods are never called.
#[allow(unused_variables)]
impl<P> AnyEnvelope<P> {
    /// Does not compile: see [`DispatchNeedsATypedEnvelope`].
    #[doc(hidden)]
    pub fn dispatch(self) -> Envelope<Dispatched, P>
    where
        Self: DispatchNeedsATypedEnvelope,
    {
        self.unreachable()
    }

    /// Does not compile: see [`DispatchNeedsATypedEnvelope`].
    #[doc(hidden)]
    pub fn dispatch_at(self, at: DateTime<Utc>) -> Envelope<Dispatched, P>
    where
        Self: DispatchNeedsATypedEnvelope,
    {
        self.unreachable()
    }

    /// Does not compile: see [`DispatchNeedsATypedEnvelope`].
    #[doc(hidden)]
    pub fn dispatch_noting_at(self, note: String, at: DateTime<Utc>) -> Envelope<Dispatched, P>
    where
        Self: DispatchNeedsATypedEnvelope,
    {
        self.unreachable()
    }

    /// Does not compile: see [`AcknowledgeNeedsATypedEnvelope`].
    #[doc(hidden)]
    pub fn acknowledge(self) -> Envelope<Acknowledged, P>
    where
        Self: AcknowledgeNeedsATypedEnvelope,
    {
        self.unreachable()
    }

    /// Does not compile: see [`AcknowledgeNeedsATypedEnvelope`].
    #[doc(hidden)]
    pub fn acknowledge_at(self, at: DateTime<Utc>) -> Envelope<Acknowledged, P>
    where
        Self: AcknowledgeNeedsATypedEnvelope,
    {
        self.unreachable()
    }

    /// Does not compile: see [`ProcessNeedsATypedEnvelope`].
    #[doc(hidden)]
    pub fn process(self) -> Envelope<Processed, P>
    where
        Self: ProcessNeedsATypedEnvelope,
    {
        self.unreachable()
    }

    /// Does not compile: see [`ProcessNeedsATypedEnvelope`].
    #[doc(hidden)]
    pub fn process_at(self, at: DateTime<Utc>) -> Envelope<Processed, P>
    where
        Self: ProcessNeedsATypedEnvelope,
    {
        self.unreachable()
    }

    /// Does not compile: see [`FailNeedsATypedEnvelope`].
    #[doc(hidden)]
    pub fn fail(self, reason: impl Into<String>) -> FailOutcome<P>
    where
        Self: FailNeedsATypedEnvelope,
    {
        self.unreachable()
    }

    /// Does not compile: see [`FailNeedsATypedEnvelope`].
    #[doc(hidden)]
    pub fn fail_at(self, reason: impl Into<String>, at: DateTime<Utc>) -> FailOutcome<P>
    where
        Self: FailNeedsATypedEnvelope,
    {
        self.unreachable()
    }

    /// Does not compile: see [`FailPermanentlyNeedsATypedEnvelope`].
    #[doc(hidden)]
    pub fn fail_permanently(self, reason: impl Into<String>) -> Envelope<Failed, P>
    where
        Self: FailPermanentlyNeedsATypedEnvelope,
    {
        self.unreachable()
    }

    /// Does not compile: see [`FailPermanentlyNeedsATypedEnvelope`].
    #[doc(hidden)]
    pub fn fail_permanently_at(
        self,
        reason: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Envelope<Failed, P>
    where
        Self: FailPermanentlyNeedsATypedEnvelope,
    {
        self.unreachable()
    }

    /// Does not compile: see [`SkipNeedsATypedEnvelope`].
    #[doc(hidden)]
    pub fn skip(self, reason: impl Into<String>) -> Envelope<Skipped, P>
    where
        Self: SkipNeedsATypedEnvelope,
    {
        self.unreachable()
    }

    /// Does not compile: see [`SkipNeedsATypedEnvelope`].
    #[doc(hidden)]
    pub fn skip_at(self, reason: impl Into<String>, at: DateTime<Utc>) -> Envelope<Skipped, P>
    where
        Self: SkipNeedsATypedEnvelope,
    {
        self.unreachable()
    }

    /// Does not compile: see [`RedriveNeedsATypedEnvelope`].
    #[doc(hidden)]
    pub fn redrive(self, reason: impl Into<String>) -> Envelope<Pending, P>
    where
        Self: RedriveNeedsATypedEnvelope,
    {
        self.unreachable()
    }

    /// Does not compile: see [`RedriveNeedsATypedEnvelope`].
    #[doc(hidden)]
    pub fn redrive_at(self, reason: impl Into<String>, at: DateTime<Utc>) -> Envelope<Pending, P>
    where
        Self: RedriveNeedsATypedEnvelope,
    {
        self.unreachable()
    }
}

impl<S: State, P> From<Envelope<S, P>> for AnyEnvelope<P> {
    fn from(envelope: Envelope<S, P>) -> Self {
        AnyEnvelope::with_status(envelope, S::STATUS)
    }
}

impl<P> From<FailOutcome<P>> for AnyEnvelope<P> {
    fn from(outcome: FailOutcome<P>) -> Self {
        match outcome {
            FailOutcome::Retry(envelope) => AnyEnvelope::Retrying(envelope),
            FailOutcome::Exhausted(envelope) => AnyEnvelope::Failed(envelope),
        }
    }
}

impl<S: State, P> TryFrom<AnyEnvelope<P>> for Envelope<S, P> {
    type Error = WrongState<P>;

    fn try_from(any: AnyEnvelope<P>) -> Result<Self, Self::Error> {
        if any.status() == S::STATUS {
            Ok(each_state!(any, e => e.into_state()))
        } else {
            Err(WrongState {
                expected: S::STATUS,
                envelope: Box::new(any),
            })
        }
    }
}

/// A transition asked of an [`AnyEnvelope`] at run time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// See [`Envelope::dispatch`].
    Dispatch,
    /// See [`Envelope::acknowledge`].
    Acknowledge,
    /// See [`Envelope::process`].
    Process,
    /// See [`Envelope::fail`], with the reason.
    Fail(String),
    /// See [`Envelope::fail_permanently`], with the reason.
    FailPermanently(String),
    /// See [`Envelope::skip`], with the reason.
    Skip(String),
    /// See [`Envelope::redrive`], with the reason.
    Redrive(String),
}

impl Operation {
    /// The name of the transition, as the method that performs it.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Dispatch => "dispatch",
            Operation::Acknowledge => "acknowledge",
            Operation::Process => "process",
            Operation::Fail(_) => "fail",
            Operation::FailPermanently(_) => "fail_permanently",
            Operation::Skip(_) => "skip",
            Operation::Redrive(_) => "redrive",
        }
    }
}

/// An envelope was not in the state asked for; the envelope is inside, unchanged.
#[derive(Clone, PartialEq)]
pub struct WrongState<P = serde_json::Value> {
    expected: DeliveryStatus,
    envelope: Box<AnyEnvelope<P>>,
}

impl<P> WrongState<P> {
    /// The state that was asked for.
    pub fn expected(&self) -> DeliveryStatus {
        self.expected
    }

    /// The state the envelope is in.
    pub fn found(&self) -> DeliveryStatus {
        self.envelope.status()
    }

    /// The envelope, unchanged.
    pub fn into_envelope(self) -> AnyEnvelope<P> {
        *self.envelope
    }
}

impl<P> fmt::Display for WrongState<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected an envelope in state `{}`, found `{}` (event_id {:?})",
            self.expected,
            self.found(),
            self.envelope.event_id()
        )
    }
}

impl<P> fmt::Debug for WrongState<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrongState")
            .field("expected", &self.expected)
            .field("found", &self.found())
            .field("event_id", &self.envelope.event_id())
            .finish_non_exhaustive()
    }
}

impl<P> std::error::Error for WrongState<P> {}

/// An operation that is not legal from the envelope's state; the envelope is
/// inside, unchanged.
#[derive(Clone, PartialEq)]
pub struct IllegalTransition<P = serde_json::Value> {
    operation: Operation,
    envelope: Box<AnyEnvelope<P>>,
}

impl<P> IllegalTransition<P> {
    /// The operation that was refused.
    pub fn operation(&self) -> &Operation {
        &self.operation
    }

    /// The envelope, unchanged.
    pub fn into_envelope(self) -> AnyEnvelope<P> {
        *self.envelope
    }
}

impl<P> fmt::Display for IllegalTransition<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} an envelope in state `{}` (event_id {:?})",
            self.operation.name(),
            self.envelope.status(),
            self.envelope.event_id()
        )
    }
}

impl<P> fmt::Debug for IllegalTransition<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IllegalTransition")
            .field("operation", &self.operation)
            .field("status", &self.envelope.status())
            .field("event_id", &self.envelope.event_id())
            .finish_non_exhaustive()
    }
}

impl<P> std::error::Error for IllegalTransition<P> {}
