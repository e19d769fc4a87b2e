//! Rule: only a `Failed` envelope can be redriven.
//! (Generated from the transition table by tests/transition_table.rs.)
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::retrying().redrive("fixed upstream");
}
