//! The delivery states of an envelope and the rules for moving between them.
//!
//! Each state is a zero-sized marker type. An [`Envelope<S>`](crate::Envelope)
//! carries its state only in its type, so a transition that is not legal from
//! `S` is a method that does not exist for that envelope. The rules live in one
//! place: the capability traits below (`CanDispatch`, `CanAcknowledge`, ...),
//! each implemented by exactly the states the transition may start from.
//!
//! ```text
//! Pending ──dispatch──▶ Dispatched ──acknowledge──▶ Acknowledged
//!    │                   │      │                    │      │
//!   skip           process    fail                 fail   process
//!    ▼                   ▼      ▼                    ▼      ▼
//! Skipped          Processed  FailOutcome ◀──────────┘   Processed
//!                               ├─ Retry ─────▶ Retrying ──dispatch──▶ Dispatched
//!                               │                  └──skip──▶ Skipped
//!                               └─ Exhausted ─▶ Failed ──redrive──▶ Pending
//! ```
//!
//! [`DeliveryStatus`] is the same set of states as a plain runtime value, for
//! storage, logs and collections that hold envelopes in different states.

use serde::{Deserialize, Serialize};

mod sealed {
    /// Keeps the set of states closed: no state can be added outside this crate.
    pub trait Sealed {}
}

/// A delivery state. Implemented by the seven marker types of this module only.
pub trait State: sealed::Sealed {
    /// The runtime value of this state.
    const STATUS: DeliveryStatus;
}

/// The lifecycle of one event as a runtime value.
///
/// The serialized form is the lowercase name (`"pending"`, `"dispatched"`, ...),
/// as in the audit line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Created, not yet dispatched.
    Pending,
    /// Sent to the broker or the downstream system.
    Dispatched,
    /// The downstream system confirmed receipt.
    Acknowledged,
    /// Business processing completed. Terminal.
    Processed,
    /// Failed at least once; waiting for its next attempt within the retry budget.
    Retrying,
    /// The retry budget is spent, or the failure was permanent: a dead letter.
    /// Terminal for automatic processing; an operator may redrive it.
    Failed,
    /// Intentionally not processed (a duplicate, say). Terminal.
    Skipped,
}

impl DeliveryStatus {
    /// All seven states, in lifecycle order.
    pub const ALL: [DeliveryStatus; 7] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Dispatched,
        DeliveryStatus::Acknowledged,
        DeliveryStatus::Processed,
        DeliveryStatus::Retrying,
        DeliveryStatus::Failed,
        DeliveryStatus::Skipped,
    ];

    /// The lowercase name used in audit lines and in the serialized form.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Dispatched => "dispatched",
            DeliveryStatus::Acknowledged => "acknowledged",
            DeliveryStatus::Processed => "processed",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Skipped => "skipped",
        }
    }

    /// Whether no further automatic processing happens in this state:
    /// `Processed`, `Failed` and `Skipped`, as in the reference package.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Processed | DeliveryStatus::Failed | DeliveryStatus::Skipped
        )
    }

    /// Whether an envelope may move from `self` to `to` in one transition.
    ///
    /// This is the runtime mirror of the capability traits, used to check the
    /// history of an envelope read from storage. The test suite checks that
    /// it agrees with the typed transitions.
    pub const fn can_transition_to(self, to: DeliveryStatus) -> bool {
        use DeliveryStatus::*;
        matches!(
            (self, to),
            (Pending | Retrying, Dispatched)
                | (Dispatched, Acknowledged)
                | (Dispatched | Acknowledged, Processed)
                | (Dispatched | Acknowledged, Retrying)
                | (Dispatched | Acknowledged, Failed)
                | (Pending | Retrying, Skipped)
                | (Failed, Pending)
        )
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

macro_rules! states {
    ($($(#[$doc:meta])* $name:ident => $status:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub struct $name;
        impl sealed::Sealed for $name {}
        impl State for $name {
            const STATUS: DeliveryStatus = DeliveryStatus::$status;
        }
    )*};
}

states! {
    /// Created, not yet sent. Next: `dispatch`, or `skip`.
    Pending => Pending;
    /// Sent, one attempt counted. Next: `acknowledge`, `process` or `fail`.
    Dispatched => Dispatched;
    /// Receipt confirmed downstream. Next: `process` or `fail`.
    Acknowledged => Acknowledged;
    /// Done. Terminal: no transition leaves it.
    Processed => Processed;
    /// Failed with budget left. Next: `dispatch` again once its wait is over, or `skip`.
    Retrying => Retrying;
    /// Budget spent or failed permanently: a dead letter. Next: only an operator's `redrive`.
    Failed => Failed;
    /// Intentionally not processed. Terminal: no transition leaves it.
    Skipped => Skipped;
}

// The capability traits: the transition rules, one trait per transition, each
// implemented by exactly the states the transition may start from. The
// attribute is what rustc prints when a transition is called from another state.

/// States from which an envelope may be dispatched: `Pending` and `Retrying`.
#[diagnostic::on_unimplemented(
    message = "an envelope in state `{Self}` cannot be dispatched",
    label = "this envelope is in state `{Self}`",
    note = "only a `Pending` or `Retrying` envelope can be dispatched"
)]
pub trait CanDispatch: State {}
impl CanDispatch for Pending {}
impl CanDispatch for Retrying {}

/// States from which an envelope may be acknowledged: `Dispatched`.
#[diagnostic::on_unimplemented(
    message = "an envelope in state `{Self}` cannot be acknowledged",
    label = "this envelope is in state `{Self}`",
    note = "only a `Dispatched` envelope can be acknowledged"
)]
pub trait CanAcknowledge: State {}
impl CanAcknowledge for Dispatched {}

/// States from which an envelope may be processed: `Dispatched` and `Acknowledged`.
#[diagnostic::on_unimplemented(
    message = "an envelope in state `{Self}` cannot be processed",
    label = "this envelope is in state `{Self}`",
    note = "only a `Dispatched` or `Acknowledged` envelope can be processed"
)]
pub trait CanProcess: State {}
impl CanProcess for Dispatched {}
impl CanProcess for Acknowledged {}

/// States from which a delivery attempt may fail: `Dispatched` and `Acknowledged`.
#[diagnostic::on_unimplemented(
    message = "an envelope in state `{Self}` cannot fail",
    label = "this envelope is in state `{Self}`",
    note = "only a `Dispatched` or `Acknowledged` envelope can fail"
)]
pub trait CanFail: State {}
impl CanFail for Dispatched {}
impl CanFail for Acknowledged {}

/// States from which an envelope may be skipped: `Pending` and `Retrying`.
#[diagnostic::on_unimplemented(
    message = "an envelope in state `{Self}` cannot be skipped",
    label = "this envelope is in state `{Self}`",
    note = "only a `Pending` or `Retrying` envelope can be skipped"
)]
pub trait CanSkip: State {}
impl CanSkip for Pending {}
impl CanSkip for Retrying {}

/// States from which an operator may redrive an envelope: `Failed`.
#[diagnostic::on_unimplemented(
    message = "an envelope in state `{Self}` cannot be redriven",
    label = "this envelope is in state `{Self}`",
    note = "only a `Failed` envelope (a dead letter) can be redriven"
)]
pub trait CanRedrive: State {}
impl CanRedrive for Failed {}

/// States that wait for a next attempt: `Retrying`.
#[diagnostic::on_unimplemented(
    message = "an envelope in state `{Self}` has no next retry",
    label = "this envelope is in state `{Self}`",
    note = "only a `Retrying` envelope has a next retry wait and a next attempt time"
)]
pub trait AwaitsRetry: State {}
impl AwaitsRetry for Retrying {}

/// States that carry the reason they were skipped: `Skipped`.
#[diagnostic::on_unimplemented(
    message = "an envelope in state `{Self}` has no skip reason",
    label = "this envelope is in state `{Self}`",
    note = "only a `Skipped` envelope has a skip reason"
)]
pub trait WasSkipped: State {}
impl WasSkipped for Skipped {}

/// States that carry the reason of their last failure: `Retrying` and `Failed`.
#[diagnostic::on_unimplemented(
    message = "an envelope in state `{Self}` has no failure reason",
    label = "this envelope is in state `{Self}`",
    note = "only a `Retrying` or `Failed` envelope has a failure reason"
)]
pub trait HasFailed: State {}
impl HasFailed for Retrying {}
impl HasFailed for Failed {}
