//! Rule: The new base needs system B's patch applied too.
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::plan().applied_a().new_base();
}
