//! Rule: A partial base needs exactly one side applied.
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::plan().partial_base();
}
