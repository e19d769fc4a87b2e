//! Rule: only a `Dispatched` or `Acknowledged` envelope can be processed.
//! (Generated from the transition table by tests/transition_table.rs.)
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::pending().process();
}
