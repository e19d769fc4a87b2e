//! Rule: a patch's value has the field's type.
#[path = "../contact.rs"]
mod contact;

fn main() {
    let mut crm_patch = contact::plan().patch_a();
    crm_patch.credit_limit = Some("5000".to_owned());
}
