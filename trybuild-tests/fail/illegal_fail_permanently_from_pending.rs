//! Rule: only a `Dispatched` or `Acknowledged` envelope can fail permanently.
//! (Generated from the transition table by tests/transition_table.rs.)
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::pending().fail_permanently("invalid payload");
}
