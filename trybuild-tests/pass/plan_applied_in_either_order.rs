//! A plan's patches are applied in either order, each once, before its new
//! base; a partial base is taken with exactly one side applied.
#[path = "../support.rs"]
mod support;

fn main() {
    let a_first = support::plan().applied_a().applied_b().new_base();
    let b_first = support::plan().applied_b().applied_a().new_base();
    assert_eq!(a_first, b_first);
    assert_eq!(a_first["email"], "ada@new.example");

    // Only the CRM's write went through: the ERP still has the old email.
    let only_a = support::plan().applied_a().partial_base();
    assert_eq!(only_a["email"], "ada@old.example");
    let only_b = support::plan().applied_b().partial_base();
    assert_eq!(only_b["email"], "ada@new.example");

    let bases = support::batch().applied_b().applied_a().new_bases();
    assert_eq!(bases, [("contact-42".to_owned(), a_first)]);
}
