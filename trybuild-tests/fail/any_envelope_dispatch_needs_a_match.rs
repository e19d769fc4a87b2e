//! Rule: an `AnyEnvelope`'s state is known only at run time, so it cannot be dispatched
//! even when it holds a `Pending` envelope: match on its state, or convert it to
//! the typed envelope.
//! (Generated from the transition table by tests/transition_table.rs.)
#[path = "../support.rs"]
mod support;

use integration_automation_patterns::AnyEnvelope;

fn main() {
    let any = AnyEnvelope::from(support::pending());
    let _ = any.dispatch();
}
