//! One line of an envelope's history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::state::DeliveryStatus;

/// A transition an envelope went through: from which state to which, when,
/// with how many attempts counted after it, and why (for failures, skips and
/// redrives).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    from: DeliveryStatus,
    to: DeliveryStatus,
    at: DateTime<Utc>,
    attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl Transition {
    pub(crate) fn new(
        from: DeliveryStatus,
        to: DeliveryStatus,
        at: DateTime<Utc>,
        attempt: u32,
        reason: Option<String>,
    ) -> Self {
        Transition {
            from,
            to,
            at,
            attempt,
            reason,
        }
    }

    /// The state the envelope left.
    pub fn from(&self) -> DeliveryStatus {
        self.from
    }

    /// The state the envelope entered.
    pub fn to(&self) -> DeliveryStatus {
        self.to
    }

    /// When the transition happened.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// The envelope's attempt count after the transition.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Why: the failure, skip or redrive reason; `None` for other transitions.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}
