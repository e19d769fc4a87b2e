//! Rule: only a `Pending` or `Retrying` envelope can be dispatched.
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::skipped().dispatch();
}
