//! Rule: a typed plan's partial base is for one side applied, not two.
#[path = "../contact.rs"]
mod contact;

fn main() {
    let _ = contact::plan().applied_a().applied_b().partial_base();
}
