//! Every transition the table allows, from each state it may start from.
//! (Generated from the transition table by tests/transition_table.rs.)
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::pending().dispatch();
    let _ = support::retrying().dispatch();
    let _ = support::dispatched().acknowledge();
    let _ = support::dispatched().process();
    let _ = support::acknowledged().process();
    let _ = support::dispatched().fail("timeout");
    let _ = support::acknowledged().fail("timeout");
    let _ = support::dispatched().fail_permanently("invalid payload");
    let _ = support::acknowledged().fail_permanently("invalid payload");
    let _ = support::pending().skip("duplicate");
    let _ = support::retrying().skip("duplicate");
    let _ = support::failed().redrive("fixed upstream");
}
