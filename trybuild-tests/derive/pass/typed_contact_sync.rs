//! A typed sync job: plan, decide the review item, write each side's patch,
//! store the base; and the same record read from JSON.
#[path = "../contact.rs"]
mod contact;

use contact::{Contact, ContactField};
use integration_automation_patterns::Side;
use integration_automation_patterns::sync::{RecordPatch, Stamped, TypedBoundary};

fn main() {
    let mut plan = contact::plan();
    plan.keep(Side::A, ContactField::Segment).unwrap();
    let (mut crm, mut erp) = (contact::contact(), contact::contact());
    crm.segment = "strategic".into();
    plan.patch_a().apply_to(&mut crm);
    let plan = plan.applied_a();
    plan.patch_b().apply_to(&mut erp);
    let base = plan.applied_b().new_base();
    assert_eq!(erp.segment, "strategic");

    let boundary = TypedBoundary::<Contact>::new();
    let crm_json = Stamped::new(crm).to_record().unwrap();
    let erp_json = Stamped::new(erp).to_record().unwrap();
    let base_json = <Contact as integration_automation_patterns::sync::SyncRecord>::base_to_json(&base).unwrap();
    let again = boundary
        .reconcile_records("contact-42", &crm_json, &erp_json, &base_json, chrono::Utc::now())
        .unwrap();
    assert!(again.is_settled());
}
