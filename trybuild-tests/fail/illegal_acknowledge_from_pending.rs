//! Rule: only a `Dispatched` envelope can be acknowledged.
//! (Generated from the transition table by tests/transition_table.rs.)
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::pending().acknowledge();
}
