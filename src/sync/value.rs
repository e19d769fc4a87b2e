//! Comparing field values by what they mean, so that a plan settles: two
//! representations of one value are no change, and a value that is not equal
//! to itself (a NaN) cannot cause an overwrite on every run.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Number, Value};

/// A field value a [`SyncBoundary`](super::SyncBoundary) can compare.
///
/// [`same_as`](Self::same_as) must be reflexive (every value is the same as
/// itself) and symmetric; it may be coarser than `==`. Implemented for JSON
/// values, text, numbers, booleans, times, and options and vectors of them;
/// implement it for a value type of your own.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a synced field's type: the sync cannot tell whether two of its values are the same",
    label = "a synced field of type `{Self}`",
    note = "implement `SyncValue` for `{Self}` (its `same_as` says when two values are the same), or leave the field out of the sync with `#[sync(exclude)]`"
)]
pub trait SyncValue: Clone {
    /// Whether `self` and `other` mean the same value.
    fn same_as(&self, other: &Self) -> bool;

    /// The value as text, for text comparisons ([`Compare::CaseInsensitive`],
    /// [`Compare::Trimmed`]); `None` if it is no text.
    fn as_text(&self) -> Option<&str> {
        None
    }

    /// The value as a number, for [`Compare::Tolerance`]; `None` if it is
    /// no number.
    fn as_number(&self) -> Option<f64> {
        None
    }
}

/// How a synced field's values are compared, which decides whether a
/// difference is a change. Set per field with
/// [`SyncBoundaryBuilder::compare`](super::SyncBoundaryBuilder::compare).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum Compare {
    /// By meaning, with [`SyncValue::same_as`] (the default): JSON numbers
    /// by value (`1` is `1.0`), a NaN the same as a NaN.
    #[default]
    Meaning,
    /// Text without regard to case (an email address); other values by meaning.
    CaseInsensitive,
    /// Text without its leading and trailing whitespace; other values by meaning.
    Trimmed,
    /// Text trimmed and without regard to case; other values by meaning.
    TrimmedCaseInsensitive,
    /// Numbers that differ by at most this much are the same (an amount
    /// rounded differently by each system); other values by meaning. The
    /// tolerance is finite and not negative.
    Tolerance(f64),
}

impl Compare {
    /// Whether `x` and `y` are the same value under this comparison.
    pub fn same<V: SyncValue>(self, x: &V, y: &V) -> bool {
        if x.same_as(y) {
            return true;
        }
        match self {
            Compare::Meaning => false,
            Compare::CaseInsensitive => texts(x, y, |x, y| x.to_lowercase() == y.to_lowercase()),
            Compare::Trimmed => texts(x, y, |x, y| x.trim() == y.trim()),
            Compare::TrimmedCaseInsensitive => texts(x, y, |x, y| {
                x.trim().to_lowercase() == y.trim().to_lowercase()
            }),
            Compare::Tolerance(tolerance) => match (x.as_number(), y.as_number()) {
                (Some(x), Some(y)) => (x - y).abs() <= tolerance,
                _ => false,
            },
        }
    }

    /// Whether two optional values (absent is `None`) are the same: absent
    /// is only the same as absent.
    pub(crate) fn same_present<V: SyncValue>(self, x: Option<&V>, y: Option<&V>) -> bool {
        match (x, y) {
            (None, None) => true,
            (Some(x), Some(y)) => self.same(x, y),
            _ => false,
        }
    }
}

fn texts<V: SyncValue>(x: &V, y: &V, same: impl Fn(&str, &str) -> bool) -> bool {
    match (x.as_text(), y.as_text()) {
        (Some(x), Some(y)) => same(x, y),
        _ => false,
    }
}

impl SyncValue for Value {
    /// JSON values by meaning: numbers by value whatever their
    /// representation (`1`, `1.0` and `1e0` are one number), arrays and
    /// objects member by member, the rest by equality.
    fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Number(x), Value::Number(y)) => same_number(x, y),
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| x.same_as(y))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .all(|(key, x)| y.get(key).is_some_and(|y| x.same_as(y)))
            }
            _ => self == other,
        }
    }

    fn as_text(&self) -> Option<&str> {
        self.as_str()
    }

    fn as_number(&self) -> Option<f64> {
        self.as_f64()
    }
}

/// Two JSON numbers by value: integers exactly (so that large ones do not
/// round together), anything else as floating point.
fn same_number(x: &Number, y: &Number) -> bool {
    if let (Some(x), Some(y)) = (integer(x), integer(y)) {
        return x == y;
    }
    match (x.as_f64(), y.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

fn integer(number: &Number) -> Option<i128> {
    number
        .as_i64()
        .map(i128::from)
        .or_else(|| number.as_u64().map(i128::from))
}

macro_rules! float_values {
    ($($float:ty),*) => {$(
        impl SyncValue for $float {
            /// Equal, or both NaN: a NaN is the same as a NaN, so that it is
            /// never a change.
            fn same_as(&self, other: &Self) -> bool {
                self == other || (self.is_nan() && other.is_nan())
            }

            fn as_number(&self) -> Option<f64> {
                Some(f64::from(*self))
            }
        }
    )*};
}
float_values!(f32, f64);

macro_rules! integer_values {
    ($($integer:ty),*) => {$(
        impl SyncValue for $integer {
            fn same_as(&self, other: &Self) -> bool {
                self == other
            }

            fn as_number(&self) -> Option<f64> {
                // The nearest float: a tolerance is for amounts, not for
                // integers beyond 2^53.
                Some(*self as f64)
            }
        }
    )*};
}
integer_values!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);

macro_rules! equality_values {
    ($($value:ty),*) => {$(
        impl SyncValue for $value {
            fn same_as(&self, other: &Self) -> bool {
                self == other
            }
        }
    )*};
}
equality_values!(bool, char, DateTime<Utc>, NaiveDate);

impl SyncValue for String {
    fn same_as(&self, other: &Self) -> bool {
        self == other
    }

    fn as_text(&self) -> Option<&str> {
        Some(self)
    }
}

impl<T: SyncValue> SyncValue for Option<T> {
    fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (None, None) => true,
            (Some(x), Some(y)) => x.same_as(y),
            _ => false,
        }
    }

    fn as_text(&self) -> Option<&str> {
        self.as_ref().and_then(T::as_text)
    }

    fn as_number(&self) -> Option<f64> {
        self.as_ref().and_then(T::as_number)
    }
}

impl<T: SyncValue> SyncValue for Vec<T> {
    fn same_as(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(x, y)| x.same_as(y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_numbers_compare_by_value() {
        assert!(json!(1).same_as(&json!(1.0)));
        assert!(json!({ "n": [1, 2.5] }).same_as(&json!({ "n": [1.0, 2.5] })));
        assert!(!json!(1).same_as(&json!(1.5)));
        assert!(!json!(1).same_as(&json!("1")));
        // Integers beyond 2^53 stay apart, though they round to one float.
        assert!(!json!(9_007_199_254_740_993_u64).same_as(&json!(9_007_199_254_740_992_u64)));
        assert!(!json!({ "a": 1 }).same_as(&json!({ "b": 1 })));
    }

    #[test]
    fn a_nan_is_the_same_as_a_nan() {
        assert!(f64::NAN.same_as(&f64::NAN));
        assert!(0.0_f64.same_as(&-0.0));
        assert!(!f64::NAN.same_as(&1.0));
        assert!(Some(f32::NAN).same_as(&Some(f32::NAN)));
    }

    #[test]
    fn comparisons_loosen_only_what_they_name() {
        let (upper, lower, padded) = (
            json!("Ada@Example.com"),
            json!("ada@example.com"),
            json!(" ada@example.com "),
        );
        assert!(Compare::CaseInsensitive.same(&upper, &lower));
        assert!(!Compare::CaseInsensitive.same(&padded, &lower));
        assert!(Compare::Trimmed.same(&padded, &lower));
        assert!(!Compare::Trimmed.same(&upper, &lower));
        assert!(Compare::TrimmedCaseInsensitive.same(&padded, &upper));
        assert!(Compare::Tolerance(0.01).same(&json!(10.004), &json!(10)));
        assert!(!Compare::Tolerance(0.01).same(&json!(10.02), &json!(10)));
        assert!(!Compare::Tolerance(0.01).same(&json!("10"), &json!(10)));
        assert!(!Compare::Meaning.same(&upper, &lower));
        assert!(Compare::Meaning.same(&json!(2), &json!(2.0)));
    }
}
