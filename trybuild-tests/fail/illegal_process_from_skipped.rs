//! Rule: only a `Dispatched` or `Acknowledged` envelope can be processed.
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::skipped().process();
}
