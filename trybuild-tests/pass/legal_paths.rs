//! Every legal transition compiles, from every state it is legal from.
#[path = "../support.rs"]
mod support;

use integration_automation_patterns::FailOutcome;

fn main() {
    let _ = support::pending().dispatch();
    let _ = support::retrying().dispatch();
    let _ = support::dispatched().acknowledge();
    let _ = support::dispatched().process();
    let _ = support::acknowledged().process();
    let _: FailOutcome = support::dispatched().fail("timeout");
    let _: FailOutcome = support::acknowledged().fail("timeout");
    let _ = support::dispatched().fail_permanently("invalid");
    let _ = support::acknowledged().fail_permanently("invalid");
    let _ = support::pending().skip("duplicate");
    let _ = support::retrying().skip("obsolete");
    let _ = support::failed().redrive("fixed");

    let retrying = support::retrying();
    let _ = (retrying.next_retry_wait(), retrying.next_attempt_at(), retrying.failure_reason());
    let _ = support::failed().failure_reason().len();
    let _ = support::skipped().skip_reason().len();
}
