//! Rule: A partial base needs exactly one side applied; with both, the base is new_base().
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::plan().applied_a().applied_b().partial_base();
}
