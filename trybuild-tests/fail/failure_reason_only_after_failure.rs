//! Rule: only a `Retrying` or `Failed` envelope has a failure reason.
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::pending().failure_reason();
}
