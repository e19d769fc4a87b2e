//! Rule: a patch's fields are the record's field names; a misspelling does not compile.
#[path = "../contact.rs"]
mod contact;

fn main() {
    let mut erp_patch = contact::plan().patch_b();
    erp_patch.emial = Some("ada@example.com".to_owned());
}
