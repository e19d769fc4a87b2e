//! Rule: the CRM's patch has no field the CRM owns, so no value is written into one.
#[path = "../contact.rs"]
mod contact;

fn main() {
    let erp = contact::contact();
    let mut crm_patch = contact::plan().patch_a();
    crm_patch.email = Some(erp.email);
}
