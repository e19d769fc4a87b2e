//! Rule: only a `Dispatched` or `Acknowledged` envelope can fail, permanently or not.
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::retrying().fail_permanently("invalid payload");
}
