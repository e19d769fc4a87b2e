//! Rule: a typed plan's new base needs system B's patch applied too.
#[path = "../contact.rs"]
mod contact;

fn main() {
    let _ = contact::plan().applied_a().new_base();
}
