//! Rule: a review decision names a synced field of the record.
#[path = "../contact.rs"]
mod contact;

use integration_automation_patterns::Side;

fn main() {
    let mut plan = contact::plan();
    plan.keep(Side::A, contact::ContactField::Segmnt).unwrap();
}
