//! Rule: an `AnyEnvelope` has no transitions of its own, by value or by
//! reference, in the plain form or the `_at` form: its state is known only at
//! run time. The error is the transition's guard, as for a call by value, and
//! not a second one about moving out of the reference.
#[path = "../support.rs"]
mod support;

use integration_automation_patterns::AnyEnvelope;

fn main() {
    let any = AnyEnvelope::from(support::dispatched());
    let borrowed = &any;
    let _ = borrowed.acknowledge_at(chrono::Utc::now()).process();
}
