//! Rule: an `AnyEnvelope` is not a typed envelope, by value or by reference:
//! match on its state, or convert it with `Envelope::<Dispatched, _>::try_from(any)`.
//! rustc reports this as a plain type mismatch (E0308), whose text a library
//! cannot change; this program pins what users see.
#[path = "../support.rs"]
mod support;

use integration_automation_patterns::state::Dispatched;
use integration_automation_patterns::{AnyEnvelope, Envelope};

fn inspect(_envelope: &Envelope<Dispatched>) {}

fn acknowledge(envelope: Envelope<Dispatched>) {
    let _ = envelope.acknowledge();
}

fn main() {
    let any = AnyEnvelope::from(support::dispatched());
    inspect(&any);
    acknowledge(any);
}
