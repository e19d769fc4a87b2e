//! Rule: a review item is decided before either patch is written.
#[path = "../contact.rs"]
mod contact;

use integration_automation_patterns::Side;

fn main() {
    let mut plan = contact::plan().applied_a();
    plan.keep(Side::A, contact::ContactField::Segment).unwrap();
}
