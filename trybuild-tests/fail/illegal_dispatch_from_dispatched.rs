//! Rule: only a `Pending` or `Retrying` envelope can be dispatched.
//! (Generated from the transition table by tests/transition_table.rs.)
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::dispatched().dispatch();
}
