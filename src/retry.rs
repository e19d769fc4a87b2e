//! Bounded retry: how many attempts an event gets and how long it waits between them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the wait before a retry is spread out, so that many events failing at
/// once do not all retry at the same instant.
///
/// Jitter is deterministic: it is derived from the event id and the retry
/// number, so a run can be reproduced exactly while different events still
/// spread out. A jittered wait never exceeds the policy's cap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Jitter {
    /// The exact backoff. The default, as in the reference package.
    #[default]
    None,
    /// Anywhere between zero and the backoff.
    Full,
    /// Half the backoff, plus anywhere up to the other half.
    Equal,
}

/// Why a [`RetryPolicy`] could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RetryPolicyError {
    /// `max_attempts` was 0: an event must get at least its first attempt.
    #[error("max_attempts must be at least 1 (the first attempt counts), got 0")]
    ZeroMaxAttempts,
    /// The cap on the wait is shorter than the base wait.
    #[error("max_backoff ({max_backoff:?}) must not be shorter than backoff ({backoff:?})")]
    CapBelowBackoff {
        /// The base wait that was asked for.
        backoff: Duration,
        /// The cap that was asked for.
        max_backoff: Duration,
    },
}

/// How many delivery attempts an event gets and how long it waits between them.
///
/// The defaults are the reference package's: 3 attempts in all, a 30 s base
/// wait doubling on each retry, capped at one hour, no jitter.
///
/// ```
/// use std::time::Duration;
/// use integration_automation_patterns::RetryPolicy;
///
/// let policy = RetryPolicy::default();
/// assert_eq!(policy.wait_for_attempt(0), Duration::from_secs(30)); // first retry
/// assert_eq!(policy.wait_for_attempt(1), Duration::from_secs(60));
/// assert_eq!(policy.wait_for_attempt(40), Duration::from_secs(3600)); // capped
/// assert!(!policy.is_exhausted(2));
/// assert!(policy.is_exhausted(3));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RetryPolicyFields", into = "RetryPolicyFields")]
pub struct RetryPolicy {
    max_attempts: u32,
    backoff: Duration,
    exponential: bool,
    max_backoff: Duration,
    jitter: Jitter,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            backoff: Duration::from_secs(30),
            exponential: true,
            max_backoff: Duration::from_secs(3600),
            jitter: Jitter::None,
        }
    }
}

impl RetryPolicy {
    /// A builder that starts from the defaults.
    ///
    /// ```
    /// use std::time::Duration;
    /// use integration_automation_patterns::{RetryPolicy, retry::Jitter};
    ///
    /// let policy = RetryPolicy::builder()
    ///     .max_attempts(5)
    ///     .backoff(Duration::from_secs(1))
    ///     .max_backoff(Duration::from_secs(60))
    ///     .jitter(Jitter::Full)
    ///     .build()?;
    /// assert_eq!(policy.max_attempts(), 5);
    /// # Ok::<(), integration_automation_patterns::retry::RetryPolicyError>(())
    /// ```
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            policy: RetryPolicy::default(),
        }
    }

    /// Total number of delivery attempts allowed, the first one included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The base wait before a retry.
    pub fn backoff(&self) -> Duration {
        self.backoff
    }

    /// Whether the wait doubles with each retry (otherwise it stays at the base).
    pub fn is_exponential(&self) -> bool {
        self.exponential
    }

    /// The longest wait before a retry, jitter included.
    pub fn max_backoff(&self) -> Duration {
        self.max_backoff
    }

    /// How waits are spread out.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The wait before retry number `retry` (0 is the first retry), without jitter:
    /// `backoff * 2^retry` capped at `max_backoff` when exponential, else `backoff`.
    ///
    /// This is the reference package's formula. It never overflows: every
    /// `retry` up to `u32::MAX` gives a wait no longer than the cap.
    pub fn wait_for_attempt(&self, retry: u32) -> Duration {
        if !self.exponential {
            return self.backoff;
        }
        let doubled = 1u128
            .checked_shl(retry)
            .and_then(|factor| self.backoff.as_nanos().checked_mul(factor));
        match doubled {
            Some(nanos) if nanos < self.max_backoff.as_nanos() => duration_from_nanos(nanos),
            _ => self.max_backoff,
        }
    }

    /// The wait before retry number `retry` of the event `event_id`, with this
    /// policy's jitter applied.
    ///
    /// The same `(event_id, retry)` always gives the same wait; the result is
    /// never longer than [`wait_for_attempt`](Self::wait_for_attempt) and so
    /// never longer than the cap.
    pub fn jittered_wait(&self, event_id: &str, retry: u32) -> Duration {
        let wait = self.wait_for_attempt(retry);
        let nanos = wait.as_nanos();
        match self.jitter {
            Jitter::None => wait,
            Jitter::Full => duration_from_nanos(scale(nanos, event_id, retry)),
            Jitter::Equal => {
                let half = nanos / 2;
                duration_from_nanos(nanos - half + scale(half, event_id, retry))
            }
        }
    }

    /// Whether `attempts` delivery attempts use up the budget.
    pub fn is_exhausted(&self, attempts: u32) -> bool {
        attempts >= self.max_attempts
    }
}

/// Builds a [`RetryPolicy`], starting from the defaults; see [`RetryPolicy::builder`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RetryPolicyBuilder {
    policy: RetryPolicy,
}

impl RetryPolicyBuilder {
    /// Total number of delivery attempts allowed, the first one included (default 3).
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.policy.max_attempts = max_attempts;
        self
    }

    /// The base wait before a retry (default 30 s).
    pub fn backoff(mut self, backoff: Duration) -> Self {
        self.policy.backoff = backoff;
        self
    }

    /// Whether the wait doubles with each retry (default true).
    pub fn exponential(mut self, exponential: bool) -> Self {
        self.policy.exponential = exponential;
        self
    }

    /// The longest wait before a retry (default one hour).
    pub fn max_backoff(mut self, max_backoff: Duration) -> Self {
        self.policy.max_backoff = max_backoff;
        self
    }

    /// How waits are spread out (default [`Jitter::None`]).
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.policy.jitter = jitter;
        self
    }

    /// The policy, or the first rule it breaks.
    pub fn build(self) -> Result<RetryPolicy, RetryPolicyError> {
        let policy = self.policy;
        if policy.max_attempts == 0 {
            return Err(RetryPolicyError::ZeroMaxAttempts);
        }
        if policy.max_backoff < policy.backoff {
            return Err(RetryPolicyError::CapBelowBackoff {
                backoff: policy.backoff,
                max_backoff: policy.max_backoff,
            });
        }
        Ok(policy)
    }
}

/// The serialized form of a policy; reading it back applies the builder's rules.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryPolicyFields {
    max_attempts: u32,
    backoff: Duration,
    exponential: bool,
    max_backoff: Duration,
    #[serde(default)]
    jitter: Jitter,
}

impl From<RetryPolicy> for RetryPolicyFields {
    fn from(policy: RetryPolicy) -> Self {
        RetryPolicyFields {
            max_attempts: policy.max_attempts,
            backoff: policy.backoff,
            exponential: policy.exponential,
            max_backoff: policy.max_backoff,
            jitter: policy.jitter,
        }
    }
}

impl TryFrom<RetryPolicyFields> for RetryPolicy {
    type Error = RetryPolicyError;

    fn try_from(fields: RetryPolicyFields) -> Result<Self, Self::Error> {
        RetryPolicy::builder()
            .max_attempts(fields.max_attempts)
            .backoff(fields.backoff)
            .exponential(fields.exponential)
            .max_backoff(fields.max_backoff)
            .jitter(fields.jitter)
            .build()
    }
}

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// A duration of `nanos` nanoseconds, saturating at `Duration::MAX`.
fn duration_from_nanos(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below one billion, so it fits in a u32.
    let subsec = (nanos % NANOS_PER_SEC) as u32;
    Duration::new(secs, subsec)
}

/// `nanos` scaled by a fraction in `[0, 1)` drawn from `(event_id, retry)`.
fn scale(nanos: u128, event_id: &str, retry: u32) -> u128 {
    const FRACTION_BITS: u32 = 32;
    let fraction = jitter_hash(event_id, retry) >> (64 - FRACTION_BITS);
    // nanos < 2^94 for any Duration, fraction < 2^32: the product fits in a u128.
    (nanos * u128::from(fraction)) >> FRACTION_BITS
}

/// A stable 64-bit hash of `(event_id, retry)`: FNV-1a over the bytes, then the
/// SplitMix64 finalizer so that neighbouring retries land far apart.
fn jitter_hash(event_id: &str, retry: u32) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = FNV_OFFSET;
    for byte in event_id.bytes().chain(retry.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}
