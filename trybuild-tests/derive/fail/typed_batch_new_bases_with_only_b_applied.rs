//! Rule: a typed batch's new bases need system A's patches applied too.
#[path = "../contact.rs"]
mod contact;

use integration_automation_patterns::sync::{Stamped, TypedBoundary, TypedSnapshot};

fn main() {
    let record = TypedSnapshot {
        record_id: "contact-42".to_owned(),
        a: Stamped::new(contact::contact()),
        b: Stamped::new(contact::contact()),
        base: contact::ContactBase::default(),
    };
    let batch = TypedBoundary::new().reconcile_batch_at([&record], chrono::Utc::now());
    let _ = batch.applied_b().new_bases();
}
