//! One order event's whole path through the lifecycle, with its audit line at
//! every step: built, dispatched, failed twice with backoff, skipped in one
//! branch, exhausted and dead-lettered in another, redriven, and processed.
//!
//! Run with `cargo run --example lifecycle`.

use std::error::Error;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use integration_automation_patterns::state::Retrying;
use integration_automation_patterns::{AnyEnvelope, Envelope, FailOutcome, RetryPolicy};
use serde_json::json;

fn main() -> Result<(), Box<dyn Error>> {
    // A fixed clock, so the output is the same on every run.
    let start = Utc
        .with_ymd_and_hms(2026, 3, 1, 9, 30, 0)
        .single()
        .ok_or("bad start time")?;
    let at = |seconds: i64| start + chrono::TimeDelta::seconds(seconds);

    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Duration::from_secs(30))
        .max_backoff(Duration::from_secs(600))
        .build()?;
    let pending = Envelope::builder()
        .event_id("evt-20260301-0001")
        .event_type("commerce.order.placed")
        .source_system("webshop")
        .payload(json!({ "order_id": 1042, "total": "89.90", "currency": "EUR" }))
        .correlation_id("checkout-7f3a")
        .created_at(start)
        .retry_policy(policy)
        .tag("tenant", "acme")
        .build()?;
    show("built", &pending);

    // First attempt: the ERP times out.
    let dispatched = pending.dispatch_at(at(1));
    show("dispatched", &dispatched);
    let retrying = expect_retry(dispatched.fail_at("ERP timed out after 10 s", at(11)))?;
    show("failed once", &retrying);
    show_schedule(&retrying);

    // Second attempt: acknowledged, then processing fails again.
    let acknowledged = retrying.dispatch_at(at(41)).acknowledge_at(at(42));
    show("acknowledged", &acknowledged);
    let retrying = expect_retry(acknowledged.fail_at("ledger locked", at(45)))?;
    show("failed twice", &retrying);
    show_schedule(&retrying);

    // A branch where an operator decides the order is obsolete: skipped, terminal.
    let skipped = retrying
        .clone()
        .skip_at("order cancelled by customer", at(60));
    show("(branch) skipped", &skipped);
    println!("    skip reason: {}", skipped.skip_reason());

    // Third attempt fails too: the budget of 3 is spent, the event is a dead letter.
    let failed = match retrying
        .dispatch_at(at(105))
        .fail_at("ledger locked", at(110))
    {
        FailOutcome::Exhausted(failed) => failed,
        FailOutcome::Retry(retrying) => return Err(unexpected(retrying)),
    };
    show("exhausted", &failed);
    println!("    failure reason: {}", failed.failure_reason());

    // The lock is fixed; an operator redrives the dead letter with a fresh budget.
    let redriven = failed.redrive_at("ledger lock released, ticket OPS-311", at(3600));
    show("redriven", &redriven);
    let processed = redriven.dispatch_at(at(3601)).process_at(at(3602));
    show("processed", &processed);

    println!("\nhistory:");
    for step in processed.history() {
        println!(
            "  {}  {:>12} -> {:<12} attempt {}  {}",
            step.at().format("%H:%M:%S"),
            step.from(),
            step.to(),
            step.attempt(),
            step.reason().unwrap_or("")
        );
    }

    let stored = serde_json::to_string(&processed)?;
    let restored: AnyEnvelope = serde_json::from_str(&stored)?;
    println!(
        "\nstored as a CloudEvent of {} bytes; read back as `{}` with {} transitions",
        stored.len(),
        restored.status(),
        restored.history().len()
    );
    Ok(())
}

fn show<S: integration_automation_patterns::state::State>(step: &str, envelope: &Envelope<S>) {
    println!("{step:>18}: {}", envelope.to_audit_line());
}

/// The retrying envelope; an error if the budget is spent.
fn expect_retry(outcome: FailOutcome) -> Result<Envelope<Retrying>, Box<dyn Error>> {
    match outcome {
        FailOutcome::Retry(retrying) => Ok(retrying),
        FailOutcome::Exhausted(failed) => Err(unexpected(failed)),
    }
}

fn show_schedule(retrying: &Envelope<Retrying>) {
    println!(
        "    next attempt in {:?}, at {}",
        retrying.next_retry_wait(),
        retrying.next_attempt_at()
    );
}

fn unexpected(envelope: impl Into<AnyEnvelope>) -> Box<dyn Error> {
    let envelope = envelope.into();
    format!(
        "unexpected state `{}` for {}",
        envelope.status(),
        envelope.event_id()
    )
    .into()
}
