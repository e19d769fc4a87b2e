//! The delivery states of an envelope and the rules for moving between them.
//!
//! Each state is a zero-sized marker type. An [`Envelope<S>`](crate::Envelope)
//! carries its state only in its type, so a transition that is not legal from
//! `S` is a method that does not exist for that envelope. The rules live in one
//! place, the transition table ([`DeliveryStatus::TRANSITIONS`]): each
//! transition, the states it may start from and the states it leads to. The
//! capability traits below (`CanDispatch`, `CanAcknowledge`, ...) are derived
//! from it, each implemented by exactly the states its transition may start
//! from, and so are [`DeliveryStatus::can_transition_to`] and this diagram
//! ([`DeliveryStatus::mermaid_diagram`], Mermaid source; a test holds it to the
//! table, and `cargo run --example state_diagram -- dot` prints Graphviz DOT):
//!
//! ```text
//! stateDiagram-v2
//!     [*] --> Pending
//!     Pending --> Dispatched: dispatch
//!     Retrying --> Dispatched: dispatch
//!     Dispatched --> Acknowledged: acknowledge
//!     Dispatched --> Processed: process
//!     Acknowledged --> Processed: process
//!     Dispatched --> Retrying: fail
//!     Dispatched --> Failed: fail, fail_permanently
//!     Acknowledged --> Retrying: fail
//!     Acknowledged --> Failed: fail, fail_permanently
//!     Pending --> Skipped: skip
//!     Retrying --> Skipped: skip
//!     Failed --> Pending: redrive
//!     Processed --> [*]
//!     Skipped --> [*]
//! ```
//!
//! Each marker's page lists what an envelope in that state can do: the
//! transitions that leave it, with their targets, and the accessors of its
//! own. The lists are declared with the states and checked against the table
//! when the crate compiles.
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

    /// Whether an envelope may move from `self` to `to` in one transition,
    /// by [`TRANSITIONS`](Self::TRANSITIONS): used to check the history of
    /// an envelope read from storage.
    pub const fn can_transition_to(self, to: DeliveryStatus) -> bool {
        let mut i = 0;
        while i < Self::TRANSITIONS.len() {
            let rule = &Self::TRANSITIONS[i];
            if rule.starts_from(self) && rule.leads_to(to) {
                return true;
            }
            i += 1;
        }
        false
    }

    /// The transitions that may start from `self`, in table order.
    pub fn allowed_transitions(self) -> impl Iterator<Item = &'static TransitionRule> {
        Self::TRANSITIONS
            .iter()
            .filter(move |rule| rule.starts_from(self))
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Declares the states: for each, its marker type, the transitions that
/// leave it with their targets, and the capability traits of its own
/// accessors with the methods they allow. Each marker's page lists them, so
/// a reader sees what an envelope in that state can do; a compile-time check
/// holds the transitions listed to the rows of [`DeliveryStatus::TRANSITIONS`]
/// that start from the state, and another that the state implements the
/// accessors' traits.
macro_rules! states {
    (@transitions $name:ident;) => {
        concat!("None: `", stringify!($name), "` is terminal.")
    };
    (@transitions $name:ident; $($transition:ident => $to:ident $(| $or:ident)*),+) => {
        concat!(
            "The `_at` form of each records the time it is given, the other the clock's.\n\n",
            $(
                "- [`", stringify!($transition), "`](crate::Envelope::", stringify!($transition),
                ") or [`", stringify!($transition), "_at`](crate::Envelope::",
                stringify!($transition), "_at) → [`", stringify!($to), "`]",
                $(" or [`", stringify!($or), "`]",)*
                "\n",
            )+
        )
    };
    (@accessors) => {
        concat!("Only those of every state (", states!(@common), ").")
    };
    (@accessors $($method:ident),+) => {
        concat!(
            "Those of every state (", states!(@common), "), and:\n\n",
            $("- [`", stringify!($method), "`](crate::Envelope::", stringify!($method), ")\n",)+
        )
    };
    (@common) => {
        concat!(
            "[`event_id`](crate::Envelope::event_id), ",
            "[`payload`](crate::Envelope::payload), ",
            "[`attempt_count`](crate::Envelope::attempt_count), ",
            "[`history`](crate::Envelope::history), ",
            "[`to_audit_line`](crate::Envelope::to_audit_line), ..."
        )
    };
    ($(
        $(#[$doc:meta])*
        $name:ident {
            $($transition:ident => $to:ident $(| $or:ident)*),* $(,)?
        } $(with $($accessor:ident($($method:ident),+)),+)?;
    )*) => {$(
        $(#[$doc])*
        ///
        /// # Transitions
        ///
        #[doc = states!(@transitions $name; $($transition => $to $(| $or)*),*)]
        ///
        /// # Accessors
        ///
        #[doc = states!(@accessors $($($($method),+),+)?)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub struct $name;
        impl sealed::Sealed for $name {}
        impl State for $name {
            const STATUS: DeliveryStatus = DeliveryStatus::$name;
        }
        const _: () = assert!(
            lists_its_rows(
                DeliveryStatus::$name,
                &[$((stringify!($transition), &[DeliveryStatus::$to $(, DeliveryStatus::$or)*])),*],
            ),
            concat!(
                "the transitions listed for `", stringify!($name),
                "` are not the rows of the transition table that start from it"
            ),
        );
        $(static_assertions::assert_impl_all!($name: $($accessor),+);)?
    )*};
}

// The states, with the transitions that leave each (checked against the
// transition table below) and the accessors of its own. The line above each
// says what the state means; the lists make the rest of its page.
states! {
    /// Created, not yet sent.
    Pending {
        dispatch => Dispatched,
        skip => Skipped,
    };
    /// Sent, one attempt counted; its outcome is not known yet.
    Dispatched {
        acknowledge => Acknowledged,
        process => Processed,
        fail => Retrying | Failed,
        fail_permanently => Failed,
    };
    /// Receipt confirmed downstream; not processed yet.
    Acknowledged {
        process => Processed,
        fail => Retrying | Failed,
        fail_permanently => Failed,
    };
    /// Done.
    Processed {};
    /// Failed with budget left; sent again once its wait is over.
    Retrying {
        dispatch => Dispatched,
        skip => Skipped,
    } with AwaitsRetry(next_retry_wait, next_attempt_at), HasFailed(failure_reason);
    /// Budget spent or failed permanently: a dead letter, which only an
    /// operator sends back.
    Failed {
        redrive => Pending,
    } with HasFailed(failure_reason);
    /// Intentionally not processed.
    Skipped {} with WasSkipped(skip_reason);
}

/// Whether `listed` (each a transition's name and targets) is exactly the
/// rows of [`DeliveryStatus::TRANSITIONS`] that start from `status`, in the
/// table's order: what each state's page lists is checked by this at compile
/// time.
const fn lists_its_rows(status: DeliveryStatus, listed: &[(&str, &[DeliveryStatus])]) -> bool {
    let mut row = 0;
    let mut found = 0;
    while row < DeliveryStatus::TRANSITIONS.len() {
        let rule = &DeliveryStatus::TRANSITIONS[row];
        if rule.starts_from(status) {
            if found == listed.len() {
                return false;
            }
            let (name, to) = listed[found];
            if !same_bytes(rule.name.as_bytes(), name.as_bytes()) || !same_states(rule.to, to) {
                return false;
            }
            found += 1;
        }
        row += 1;
    }
    found == listed.len()
}

const fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn same_states(a: &[DeliveryStatus], b: &[DeliveryStatus]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] as u8 != b[i] as u8 {
            return false;
        }
        i += 1;
    }
    true
}

/// One row of the transition table: a transition, the states it may start
/// from, and the states it may lead to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransitionRule {
    /// The transition, as the envelope's method is named (`"dispatch"`).
    pub name: &'static str,
    /// The states it may start from.
    pub from: &'static [DeliveryStatus],
    /// The states it may lead to: one, except for `fail`, which leads to
    /// `Retrying` while the retry budget lasts and to `Failed` once it is spent.
    pub to: &'static [DeliveryStatus],
}

impl TransitionRule {
    /// Whether the transition may start from `status`.
    pub const fn starts_from(&self, status: DeliveryStatus) -> bool {
        contains(self.from, status)
    }

    /// Whether the transition may lead to `status`.
    pub const fn leads_to(&self, status: DeliveryStatus) -> bool {
        contains(self.to, status)
    }
}

const fn contains(states: &[DeliveryStatus], status: DeliveryStatus) -> bool {
    let mut i = 0;
    while i < states.len() {
        if states[i] as u8 == status as u8 {
            return true;
        }
        i += 1;
    }
    false
}

/// Declares the transition table: for each transition, its capability trait
/// (implemented by exactly the states it may start from, with the message
/// rustc prints when it is called from another state), its source states and
/// its target states; then the guard of the same call on an
/// [`AnyEnvelope`](crate::AnyEnvelope), with its message and the match and
/// conversion it suggests. From this one declaration come the trait impls,
/// the guards, [`DeliveryStatus::TRANSITIONS`] and so
/// [`DeliveryStatus::can_transition_to`] and the diagrams.
macro_rules! transition_table {
    ($(
        $name:ident: $capability:ident [$($from:ident),+] => [$($to:ident),+],
            message = $message:literal,
            note = $note:literal,
            on_any = $guard:ident {
                message = $any_message:literal,
                match = $any_match:literal,
                convert = $any_convert:literal $(,)?
            };
    )+) => {
        $(
            #[doc = concat!(
                "States from which an envelope may `", stringify!($name), "`: ",
                $("`", stringify!($from), "` ",)+
                "(a row of [`DeliveryStatus::TRANSITIONS`])."
            )]
            #[diagnostic::on_unimplemented(
                message = $message,
                label = "this envelope is in state `{Self}`",
                note = $note
            )]
            pub trait $capability: State {}
            $(#[diagnostic::do_not_recommend] impl $capability for $from {})+
        )+

        /// Why a transition called on an [`AnyEnvelope`](crate::AnyEnvelope)
        /// does not compile.
        ///
        /// An `AnyEnvelope`'s state is known only at run time, so it has no
        /// transitions of its own. Calling one is a compile error of the
        /// transition's guard, a trait that no type implements, which says
        /// from which states the transition is legal and how to reach the
        /// typed envelope: match on the state, or convert with `TryFrom`.
        ///
        /// ```
        /// use integration_automation_patterns::{AnyEnvelope, Envelope};
        ///
        /// let any = AnyEnvelope::from(
        ///     Envelope::builder()
        ///         .event_id("evt-1")
        ///         .event_type("crm.contact.updated")
        ///         .source_system("crm")
        ///         .payload(serde_json::json!({}))
        ///         .build()?,
        /// );
        /// // `any.dispatch()` does not compile; this does:
        /// let dispatched = match any {
        ///     AnyEnvelope::Pending(e) => e.dispatch(),
        ///     AnyEnvelope::Retrying(e) => e.dispatch(),
        ///     other => return Err(format!("not ready to send: {}", other.status()).into()),
        /// };
        /// assert_eq!(dispatched.attempt_count(), 1);
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        pub mod guard {
            /// What every guard requires. No type implements a guard, so a
            /// method bounded by one is never called, and its body is a call
            /// of [`unreachable`](Self::unreachable).
            pub trait Unreachable: super::sealed::Sealed {
                /// Never called: no type implements this trait.
                fn unreachable<T>(self) -> T
                where
                    Self: Sized;
            }

            $(
                #[doc = concat!(
                    "The guard of `", stringify!($name), "` on an `AnyEnvelope`: ",
                    "implemented by no type, so that calling it is a compile error ",
                    "that says how to reach the typed envelope."
                )]
                #[diagnostic::on_unimplemented(
                    message = $any_message,
                    label = "this envelope's state is not in its type",
                    note = $note,
                    note = $any_match,
                    note = $any_convert,
                    note = "or leave the check to run time with `AnyEnvelope::apply_at` and an `Operation`, which hands the envelope back if the transition is illegal from its state"
                )]
                pub trait $guard: Unreachable {}
            )+
        }

        impl DeliveryStatus {
            /// The transition table, one row per transition, in the order of
            /// the lifecycle. The capability traits are derived from it, so
            /// it is exactly what the compiler allows.
            pub const TRANSITIONS: &'static [TransitionRule] = &[$(
                TransitionRule {
                    name: stringify!($name),
                    from: &[$(DeliveryStatus::$from),+],
                    to: &[$(DeliveryStatus::$to),+],
                },
            )+];
        }

        /// Each capability's name, the states that implement it, and the
        /// note its compile error prints, for the test that holds the notes
        /// to the table.
        #[cfg(test)]
        const NOTES: &[(&str, &[DeliveryStatus], &str)] = &[$(
            (stringify!($capability), &[$(DeliveryStatus::$from),+], $note),
        )+];

        /// Each transition, the states it may start from, and the message,
        /// match and conversion its guard prints, for the test that holds
        /// them to the table.
        #[cfg(test)]
        const GUARD_NOTES: &[(&str, &[DeliveryStatus], [&str; 3])] = &[$(
            (
                stringify!($name),
                &[$(DeliveryStatus::$from),+],
                [$any_message, $any_match, $any_convert],
            ),
        )+];
    };
}

// The transition table. Each `Can…` trait is implemented by exactly the
// states its transition may start from; its message and note are what rustc
// prints when the transition is called from another state. The guard after
// `on_any` is what rustc prints when the transition is called on an
// `AnyEnvelope`, whose state it does not know: the message, and the match
// and the conversion that reach the typed envelopes the transition is legal on.
transition_table! {
    dispatch: CanDispatch [Pending, Retrying] => [Dispatched],
        message = "an envelope in state `{Self}` cannot be dispatched",
        note = "only a `Pending` or `Retrying` envelope can be dispatched",
        on_any = DispatchNeedsATypedEnvelope {
            message = "an `AnyEnvelope` cannot be dispatched: its state is known only at run time",
            match = "match on its state: `AnyEnvelope::Pending(e) => e.dispatch()`, `AnyEnvelope::Retrying(e) => e.dispatch()`, and an arm for the other states",
            convert = "or convert it, as in `Envelope::<Pending, _>::try_from(any)` (or `any.try_into()`), whose error hands the envelope back if it is in another state",
        };
    acknowledge: CanAcknowledge [Dispatched] => [Acknowledged],
        message = "an envelope in state `{Self}` cannot be acknowledged",
        note = "only a `Dispatched` envelope can be acknowledged",
        on_any = AcknowledgeNeedsATypedEnvelope {
            message = "an `AnyEnvelope` cannot be acknowledged: its state is known only at run time",
            match = "match on its state: `AnyEnvelope::Dispatched(e) => e.acknowledge()`, and an arm for the other states",
            convert = "or convert it, as in `Envelope::<Dispatched, _>::try_from(any)` (or `any.try_into()`), whose error hands the envelope back if it is in another state",
        };
    process: CanProcess [Dispatched, Acknowledged] => [Processed],
        message = "an envelope in state `{Self}` cannot be processed",
        note = "only a `Dispatched` or `Acknowledged` envelope can be processed",
        on_any = ProcessNeedsATypedEnvelope {
            message = "an `AnyEnvelope` cannot be processed: its state is known only at run time",
            match = "match on its state: `AnyEnvelope::Dispatched(e) => e.process()`, `AnyEnvelope::Acknowledged(e) => e.process()`, and an arm for the other states",
            convert = "or convert it, as in `Envelope::<Dispatched, _>::try_from(any)` (or `any.try_into()`), whose error hands the envelope back if it is in another state",
        };
    fail: CanFail [Dispatched, Acknowledged] => [Retrying, Failed],
        message = "an envelope in state `{Self}` cannot fail",
        note = "only a `Dispatched` or `Acknowledged` envelope can fail",
        on_any = FailNeedsATypedEnvelope {
            message = "an `AnyEnvelope` cannot fail: its state is known only at run time",
            match = "match on its state: `AnyEnvelope::Dispatched(e) => e.fail(reason)`, `AnyEnvelope::Acknowledged(e) => e.fail(reason)`, and an arm for the other states",
            convert = "or convert it, as in `Envelope::<Dispatched, _>::try_from(any)` (or `any.try_into()`), whose error hands the envelope back if it is in another state",
        };
    fail_permanently: CanFailPermanently [Dispatched, Acknowledged] => [Failed],
        message = "an envelope in state `{Self}` cannot fail permanently",
        note = "only a `Dispatched` or `Acknowledged` envelope can fail permanently",
        on_any = FailPermanentlyNeedsATypedEnvelope {
            message = "an `AnyEnvelope` cannot fail permanently: its state is known only at run time",
            match = "match on its state: `AnyEnvelope::Dispatched(e) => e.fail_permanently(reason)`, `AnyEnvelope::Acknowledged(e) => e.fail_permanently(reason)`, and an arm for the other states",
            convert = "or convert it, as in `Envelope::<Dispatched, _>::try_from(any)` (or `any.try_into()`), whose error hands the envelope back if it is in another state",
        };
    skip: CanSkip [Pending, Retrying] => [Skipped],
        message = "an envelope in state `{Self}` cannot be skipped",
        note = "only a `Pending` or `Retrying` envelope can be skipped",
        on_any = SkipNeedsATypedEnvelope {
            message = "an `AnyEnvelope` cannot be skipped: its state is known only at run time",
            match = "match on its state: `AnyEnvelope::Pending(e) => e.skip(reason)`, `AnyEnvelope::Retrying(e) => e.skip(reason)`, and an arm for the other states",
            convert = "or convert it, as in `Envelope::<Pending, _>::try_from(any)` (or `any.try_into()`), whose error hands the envelope back if it is in another state",
        };
    redrive: CanRedrive [Failed] => [Pending],
        message = "an envelope in state `{Self}` cannot be redriven",
        note = "only a `Failed` envelope (a dead letter) can be redriven",
        on_any = RedriveNeedsATypedEnvelope {
            message = "an `AnyEnvelope` cannot be redriven: its state is known only at run time",
            match = "match on its state: `AnyEnvelope::Failed(e) => e.redrive(reason)`, and an arm for the other states",
            convert = "or convert it, as in `Envelope::<Failed, _>::try_from(any)` (or `any.try_into()`), whose error hands the envelope back if it is in another state",
        };
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each compile error's note names exactly the states of its row.
    #[test]
    fn every_note_names_the_states_its_capability_is_implemented_for() {
        for (capability, from, note) in NOTES {
            let names: Vec<String> = from.iter().map(|state| format!("`{state:?}`")).collect();
            let expected = format!("only a {} envelope", names.join(" or "));
            assert!(
                note.starts_with(&expected),
                "{capability}: {note:?} does not start with {expected:?}"
            );
        }
    }

    /// Each guard's match and conversion name exactly the states of its row.
    #[test]
    fn every_guard_suggests_the_states_of_its_row() {
        for (name, from, [message, matching, convert]) in GUARD_NOTES {
            assert!(
                message.starts_with("an `AnyEnvelope` cannot "),
                "{name}: {message:?}"
            );
            for status in DeliveryStatus::ALL {
                let arm = format!("`AnyEnvelope::{status:?}(e) => e.{name}(");
                assert_eq!(
                    matching.contains(&arm),
                    from.contains(&status),
                    "{name}: {matching:?} and {arm:?}"
                );
            }
            let conversion = format!("`Envelope::<{:?}, _>::try_from(any)`", from[0]);
            assert!(convert.contains(&conversion), "{name}: {convert:?}");
        }
    }

    /// The check behind each state's list refuses a list that is not the
    /// table's: a row left out or added, a target changed, the order changed.
    #[test]
    fn a_state_lists_exactly_its_rows_of_the_table() {
        use DeliveryStatus::{Dispatched, Pending, Skipped};
        let listed: &[(&str, &[DeliveryStatus])] =
            &[("dispatch", &[Dispatched]), ("skip", &[Skipped])];
        assert!(lists_its_rows(Pending, listed));
        assert!(!lists_its_rows(Pending, &listed[..1]));
        assert!(!lists_its_rows(
            Pending,
            &[listed[0], listed[1], ("redrive", &[Pending])]
        ));
        assert!(!lists_its_rows(
            Pending,
            &[("dispatch", &[Dispatched]), ("skip", &[Pending])]
        ));
        assert!(!lists_its_rows(Pending, &[listed[1], listed[0]]));
        assert!(!lists_its_rows(Dispatched, listed));
        assert!(lists_its_rows(DeliveryStatus::Processed, &[]));
    }

    #[test]
    fn terminal_states_start_no_transition_and_every_other_state_does() {
        for status in DeliveryStatus::ALL {
            let leaves = status.allowed_transitions().next().is_some();
            let terminal_for_good =
                matches!(status, DeliveryStatus::Processed | DeliveryStatus::Skipped);
            assert_eq!(leaves, !terminal_for_good, "{status}");
        }
    }
}
