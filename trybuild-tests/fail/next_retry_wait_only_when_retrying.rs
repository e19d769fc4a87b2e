//! Rule: only a `Retrying` envelope has a next retry wait.
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::dispatched().next_retry_wait();
}
