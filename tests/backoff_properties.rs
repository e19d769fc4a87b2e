//! The backoff over the whole range of policies and attempt numbers: it never
//! decreases (without jitter), never exceeds the cap, and never panics.

use std::time::Duration;

use integration_automation_patterns::RetryPolicy;
use integration_automation_patterns::retry::Jitter;
use proptest::prelude::*;

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0..u64::MAX, 0..1_000_000_000u32).prop_map(|(s, n)| Duration::new(s, n)),
        (0..100_000u64).prop_map(Duration::from_millis),
        Just(Duration::ZERO),
        Just(Duration::MAX),
    ]
}

fn policy(jitter: Jitter) -> impl Strategy<Value = RetryPolicy> {
    (1..u32::MAX, duration(), duration(), any::<bool>()).prop_map(
        move |(max_attempts, a, b, exponential)| {
            RetryPolicy::builder()
                .max_attempts(max_attempts)
                .backoff(a.min(b))
                .max_backoff(a.max(b))
                .exponential(exponential)
                .jitter(jitter)
                .build()
                .unwrap()
        },
    )
}

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal)]
}

proptest! {
    #[test]
    fn without_jitter_the_wait_never_decreases_and_stays_capped(
        policy in policy(Jitter::None),
        retry in any::<u32>(),
    ) {
        let wait = policy.wait_for_attempt(retry);
        prop_assert!(wait <= policy.max_backoff());
        prop_assert!(wait >= policy.backoff());
        if let Some(next) = retry.checked_add(1) {
            prop_assert!(policy.wait_for_attempt(next) >= wait);
        }
        if retry > 0 {
            prop_assert!(policy.wait_for_attempt(retry - 1) <= wait);
        }
    }

    #[test]
    fn with_jitter_the_wait_is_reproducible_and_within_bounds(
        policy in jitter().prop_flat_map(policy),
        event_id in "\\PC{0,16}",
        retry in any::<u32>(),
    ) {
        let wait = policy.jittered_wait(&event_id, retry);
        let plain = policy.wait_for_attempt(retry);
        prop_assert_eq!(wait, policy.jittered_wait(&event_id, retry));
        prop_assert!(wait <= plain && plain <= policy.max_backoff());
        match policy.jitter() {
            Jitter::None => prop_assert_eq!(wait, plain),
            Jitter::Equal => prop_assert!(wait >= plain / 2),
            Jitter::Full => {}
        }
    }
}
