//! Rule: only a `Skipped` envelope has a skip reason.
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::processed().skip_reason();
}
