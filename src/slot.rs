//! The slots of the crate's typed builders.
//!
//! A required part of a builder is a type parameter that is [`Unset`] until its
//! setter is called and [`Given<T>`] afterwards. A setter exists only while its
//! slot is unset, and `build()` only once every required slot is set; both are
//! bounds on the methods, so a mistake is reported by name:
//!
//! ```text
//! error[E0277]: this builder is missing `source_system`
//! error[E0277]: `event_id` is already set on this builder
//! ```
//!
//! The builders consume `self` in every setter: each call returns a builder of a
//! new type. The markers naming the parts live beside each builder, in a
//! `field` module.

/// A required part that has not been given yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unset;

/// A required part that has been given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Given<T>(pub(crate) T);

/// A slot whose part `F` has been given; `build()` asks this of every required part.
#[diagnostic::on_unimplemented(
    message = "this builder is missing `{F}`",
    label = "`{F}` is required before this call",
    note = "call `.{F}(..)` before `.build()`"
)]
pub trait IsSet<F> {
    /// The value the slot holds.
    type Value;

    /// Takes the value out of the slot.
    fn into_value(self) -> Self::Value;
}

impl<F, T> IsSet<F> for Given<T> {
    type Value = T;

    fn into_value(self) -> T {
        self.0
    }
}

/// A slot whose part `F` has not been given yet; a setter asks this of its slot.
#[diagnostic::on_unimplemented(
    message = "`{F}` is already set on this builder",
    label = "`{F}` was set earlier in this chain",
    note = "each required part is set exactly once"
)]
pub trait IsUnset<F> {}

impl<F> IsUnset<F> for Unset {}
