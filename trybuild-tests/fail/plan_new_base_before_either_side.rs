//! Rule: The new base needs both patches applied.
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::plan().new_base();
}
