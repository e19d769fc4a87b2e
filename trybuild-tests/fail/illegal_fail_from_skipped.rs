//! Rule: only a `Dispatched` or `Acknowledged` envelope can fail.
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::skipped().fail("timeout");
}
