//! Rule: only a `Failed` envelope (a dead letter) can be redriven.
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::acknowledged().redrive("fixed");
}
