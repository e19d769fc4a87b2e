//! Rule: Each side's patch is applied once.
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::plan().applied_a().applied_a();
}
