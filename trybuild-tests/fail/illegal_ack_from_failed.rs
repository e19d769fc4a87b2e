//! Rule: only a `Dispatched` envelope can be acknowledged.
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::failed().acknowledge();
}
