//! The retry policy: defaults, validation, the backoff formula and jitter.

use std::time::Duration;

use integration_automation_patterns::RetryPolicy;
use integration_automation_patterns::retry::{Jitter, RetryPolicyError};

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn defaults_are_the_reference_packages() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.max_attempts(), 3);
    assert_eq!(policy.backoff(), Duration::from_secs(30));
    assert!(policy.is_exponential());
    assert_eq!(policy.max_backoff(), Duration::from_secs(3600));
    assert_eq!(policy.jitter(), Jitter::None);
}

#[test]
fn waits_follow_the_reference_formula() {
    let policy = RetryPolicy::default();
    let waits: Vec<u64> = (0..9)
        .map(|n| policy.wait_for_attempt(n).as_secs())
        .collect();
    assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    let fixed = RetryPolicy::builder().exponential(false).build().unwrap();
    assert_eq!(fixed.wait_for_attempt(0), Duration::from_secs(30));
    assert_eq!(fixed.wait_for_attempt(20), Duration::from_secs(30));
}

#[test]
fn exhaustion_counts_the_first_attempt() {
    let policy = RetryPolicy::default();
    assert!(!policy.is_exhausted(0));
    assert!(!policy.is_exhausted(2));
    assert!(policy.is_exhausted(3));
    assert!(policy.is_exhausted(u32::MAX));
}

#[test]
fn huge_attempt_numbers_stay_at_the_cap() {
    let policy = RetryPolicy::builder()
        .backoff(Duration::MAX)
        .max_backoff(Duration::MAX)
        .jitter(Jitter::Equal)
        .build()
        .unwrap();
    for retry in [0, 1, 63, 64, 127, 128, 129, u32::MAX - 1, u32::MAX] {
        assert_eq!(policy.wait_for_attempt(retry), Duration::MAX);
        assert!(policy.jittered_wait("evt", retry) <= Duration::MAX);
    }
    let tiny = RetryPolicy::builder()
        .backoff(Duration::from_nanos(1))
        .build()
        .unwrap();
    assert_eq!(tiny.wait_for_attempt(10), Duration::from_nanos(1024));
    assert_eq!(tiny.wait_for_attempt(u32::MAX), Duration::from_secs(3600));
}

#[test]
fn the_builder_refuses_a_zero_budget_and_a_cap_below_the_backoff() {
    assert_eq!(
        RetryPolicy::builder().max_attempts(0).build(),
        Err(RetryPolicyError::ZeroMaxAttempts)
    );
    let error = RetryPolicy::builder()
        .backoff(MINUTE)
        .max_backoff(Duration::from_secs(59))
        .build()
        .unwrap_err();
    assert_eq!(
        error,
        RetryPolicyError::CapBelowBackoff {
            backoff: MINUTE,
            max_backoff: Duration::from_secs(59)
        }
    );
    assert_eq!(
        error.to_string(),
        "max_backoff (59s) must not be shorter than backoff (60s)"
    );
    assert!(
        RetryPolicy::builder()
            .backoff(Duration::ZERO)
            .build()
            .is_ok()
    );
}

#[test]
fn jitter_is_deterministic_and_spreads_events() {
    let policy = RetryPolicy::builder().jitter(Jitter::Full).build().unwrap();
    let first = policy.jittered_wait("evt-1", 2);
    assert_eq!(first, policy.jittered_wait("evt-1", 2));
    let waits: std::collections::BTreeSet<Duration> = (0..100)
        .map(|i| policy.jittered_wait(&format!("evt-{i}"), 2))
        .collect();
    assert!(waits.len() > 90, "only {} distinct waits", waits.len());
    assert!(waits.iter().all(|wait| *wait <= policy.wait_for_attempt(2)));
}

#[test]
fn equal_jitter_keeps_at_least_half_the_wait() {
    let policy = RetryPolicy::builder()
        .jitter(Jitter::Equal)
        .build()
        .unwrap();
    for i in 0..200 {
        let wait = policy.jittered_wait(&format!("evt-{i}"), 1);
        assert!(wait >= MINUTE / 2 && wait <= MINUTE, "{wait:?}");
    }
}

#[test]
fn no_jitter_is_the_plain_wait() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.jittered_wait("evt-1", 3), policy.wait_for_attempt(3));
}

#[test]
fn a_serialized_policy_reads_back_and_invalid_ones_are_refused() {
    let policy = RetryPolicy::builder()
        .max_attempts(5)
        .backoff(Duration::from_millis(1500))
        .jitter(Jitter::Full)
        .build()
        .unwrap();
    let json = serde_json::to_string(&policy).unwrap();
    assert_eq!(serde_json::from_str::<RetryPolicy>(&json).unwrap(), policy);

    let zero = json.replace("\"max_attempts\":5", "\"max_attempts\":0");
    let error = serde_json::from_str::<RetryPolicy>(&zero).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("max_attempts must be at least 1"),
        "{error}"
    );
}
