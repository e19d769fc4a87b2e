//! Rule: only a `Pending` or `Retrying` envelope can be skipped.
//! (Generated from the transition table by tests/transition_table.rs.)
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::processed().skip("duplicate");
}
