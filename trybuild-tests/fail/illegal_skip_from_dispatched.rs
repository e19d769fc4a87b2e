//! Rule: only a `Pending` or `Retrying` envelope can be skipped.
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::dispatched().skip("duplicate");
}
