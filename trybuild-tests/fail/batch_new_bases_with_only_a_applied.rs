//! Rule: A batch's new bases need both sides' patches applied.
#[path = "../support.rs"]
mod support;

fn main() {
    let _ = support::batch().applied_a().new_bases();
}
