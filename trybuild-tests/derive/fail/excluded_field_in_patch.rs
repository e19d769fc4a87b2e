//! Rule: an excluded field is in no patch.
#[path = "../contact.rs"]
mod contact;

fn main() {
    let mut erp_patch = contact::plan().patch_b();
    erp_patch.internal_notes = Some("met at the fair".to_owned());
}
