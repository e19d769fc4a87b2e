//! Rule: The new base needs system A's patch applied too.
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::plan().applied_b().new_base();
}
